// Public surface of the database module.
export {
  openDatabase,
  migrate,
  redactUrl,
  now,
  type Database,
  type DialectName,
  type OpenOptions,
} from './database.js';
export * from './schema.js';
export {
  backupSqlite,
  checkStratusDatabase,
  restoreSqlite,
  sqliteFile,
  POSTGRES_BACKUP_HELP,
} from './backup.js';
export { isUniqueViolation } from './constraint.js';
export { ProjectRepo } from './repos/projects.js';
export { UserRepo } from './repos/users.js';
export { RoleAssignmentRepo, type AssignmentFilter } from './repos/role-assignments.js';
export { DomainRepo } from './repos/domains.js';
export { GroupRepo } from './repos/groups.js';
export { RoleRepo } from './repos/roles.js';
export { ApplicationCredentialRepo } from './repos/application-credentials.js';
export { CredentialRepo } from './repos/credentials.js';
export { Ec2CredentialRepo } from './repos/ec2-credentials.js';
export { UserSecurityRepo } from './repos/user-security.js';
export { IdMappingRepo } from './repos/id-mappings.js';
export { GenerationRepo, type GenerationName } from './repos/generations.js';
export { ServiceRepo, type ServiceOwner } from './repos/services.js';
export { EndpointRepo } from './repos/endpoints.js';
export { TokenRepo } from './repos/tokens.js';
export { WebSessionRepo } from './repos/web-sessions.js';
export { ConsoleGrantRepo } from './repos/console-grants.js';
export { idStartsWith } from './prefix.js';
export { FlavorRepo, type NewFlavor } from './repos/flavors.js';
export { AggregateRepo, ZONE_KEY, type Aggregate } from './repos/aggregates.js';
export { QuotaRepo, DEFAULT_QUOTA_CLASS } from './repos/quotas.js';
export {
  InstanceRepo,
  LIVE_VM_STATES,
  type InstanceListFilter,
  type Usage,
} from './repos/instances.js';
export {
  instanceKey,
  type InstanceKey,
  type InstancePageQuery,
  type InstanceTextColumn,
  type StateMatch,
  type TextMatch,
} from './repos/instance-pages.js';
export { ImageRepo, type ImageListFilter } from './repos/images.js';
export { ImageMemberRepo } from './repos/image-members.js';
export { SecurityGroupRepo, DEFAULT_GROUP } from './repos/security-groups.js';
export { KeypairRepo } from './repos/keypairs.js';
export {
  LaunchTemplateRepo,
  type LaunchTemplateFilter,
  type VersionFilter,
} from './repos/launch-templates.js';
export { TagRepo, type TagListFilter } from './repos/tags.js';
export { VolumeRepo, type VolumeListFilter } from './repos/volumes.js';
export { VolumeTypeRepo } from './repos/volume-types.js';
export { SnapshotRepo, type SnapshotListFilter } from './repos/snapshots.js';
export {
  ServerMetadataRepo,
  type MetadataChange,
  type MetadataChangeResult,
} from './repos/server-metadata.js';
export {
  ServerDetailsRepo,
  NO_SERVER_DETAILS,
  type ServerDetails,
} from './repos/server-details.js';
export { NetworkRepo } from './repos/networks.js';
export { ProjectNetworkRepo, type ProjectScope } from './repos/project-networks.js';
export { VpcRepo } from './repos/vpcs.js';
export { VpcRouteTableRepo } from './repos/vpc-route-tables.js';
export { VpcInterfaceRepo } from './repos/vpc-interfaces.js';
export { OverlayHostRepo } from './repos/overlay-hosts.js';
export {
  FloatingIpRepo,
  type FloatingIpFilter,
  type FloatingIpMappingRow,
} from './repos/floating-ips.js';
export { FixedIpLeaseRepo } from './repos/fixed-ip-leases.js';
export { ComputeNodeRepo } from './repos/compute-nodes.js';
export {
  CapacityClaimRepo,
  type ClaimOutcome,
  type ClaimRequest,
  type GroupClaimRequest,
  type Resources,
} from './repos/capacity-claims.js';
export {
  ServerGroupRepo,
  formatGroupRules,
  groupPlacement,
  parseGroupRules,
  type GroupPlacement,
  type ServerGroupFilter,
  type ServerGroupRules,
} from './repos/server-groups.js';
