// Public surface of identity.
export { IdentityService, ROLES, checkRole, type Ec2Principal } from './identity-service.js';
export { hashPassword, verifyPassword, generatePassword } from './password.js';
export { renderRcFile, type RcFileValues } from './rc-file.js';
export { ensureAdmin, type AdminIdentity } from './bootstrap.js';
export { TokenService, type TokenCredential, type TokenInfo, type ProjectScope } from './tokens.js';
export { Catalog, type CatalogEntry } from './catalog.js';
