// Public surface of identity.
export {
  IdentityService,
  ROLES,
  checkRole,
  type DeleteOptions,
  type Ec2Principal,
  type UserReference,
} from './identity-service.js';
export { IdentityDirectory, type AssignmentQuery, type AssignmentView } from './directory.js';
export {
  ApplicationCredentialService,
  type ApplicationCredentialReference,
} from './application-credentials.js';
export { CredentialService, ec2CredentialId, type CredentialRecord } from './credential-service.js';
export type { ResourceCounts } from './project-resources.js';
export { hashPassword, verifyPassword, generatePassword } from './password.js';
export { renderRcFile, type RcFileValues } from './rc-file.js';
export { ensureAdmin, type AdminIdentity } from './bootstrap.js';
export {
  TokenService,
  type DomainScope,
  type ProjectScope,
  type SystemScope,
  type TokenCredential,
  type TokenInfo,
  type TokenScope,
} from './tokens.js';
export { Catalog, type CatalogEntry } from './catalog.js';
export { SecurityCompliance, type LoginOutcome } from './compliance.js';
export { NO_COMPLIANCE, type SecurityComplianceOptions } from './security-compliance-options.js';
export { parseGroupRoles, type GroupRole, type LdapConfig } from './ldap/ldap-config.js';
export { LdapDirectory, type DirectoryUser, type DirectoryGroup } from './ldap/ldap-directory.js';
export { LdapIdentity, publicGroupId, publicUserId, shadowName } from './ldap/ldap-identity.js';
export { checkLdap, type LdapCheckStep } from './ldap/ldap-check.js';
export { WebSessions, csrfMatches, type WebSession } from './web-sessions.js';
