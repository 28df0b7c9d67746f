// Public surface of the database module.
export {
  openDatabase,
  migrate,
  now,
  type Database,
  type DialectName,
  type OpenOptions,
} from './database.js';
export * from './schema.js';
export { isUniqueViolation, isForeignKeyViolation } from './constraint.js';
export { ProjectRepo } from './repos/projects.js';
export { UserRepo } from './repos/users.js';
export { RoleAssignmentRepo } from './repos/role-assignments.js';
export { Ec2CredentialRepo } from './repos/ec2-credentials.js';
export { ServiceRepo } from './repos/services.js';
export { EndpointRepo } from './repos/endpoints.js';
