// Table types of the database, as the code sees them (camelCase; columns are snake_case).
// Times are integers: milliseconds since the epoch, so every database compares them as numbers.
import type { Generated, Kysely, Selectable } from 'kysely';

export interface ProjectsTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  createdAt: number;
  /** The domain the project belongs to (migration 0020); also its parent: the tree is flat. */
  domainId: string;
}

/** Identity domains (migration 0020): `default` always exists. */
export interface DomainsTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  createdAt: number;
}

export interface ProjectTagsTable {
  projectId: string;
  tag: string;
}

export interface GroupsTable {
  id: string;
  domainId: string;
  name: string;
  description: string;
  createdAt: number;
}

export interface GroupMembersTable {
  groupId: string;
  userId: string;
}

export interface RolesTable {
  id: string;
  name: string;
  description: string;
  createdAt: number;
}

/** `prior` implies `implied`: holding admin means holding member, and member reader. */
export interface ImpliedRolesTable {
  priorRoleId: string;
  impliedRoleId: string;
}

export type AssignmentActorType = 'user' | 'group';
/** `system` (migration 0023) has the one target id `all`: the whole cloud. */
export type AssignmentTargetType = 'project' | 'domain' | 'system';

/** A role held by a user or a group on a project or a domain (migration 0020). */
export interface AssignmentsTable {
  actorType: AssignmentActorType;
  actorId: string;
  targetType: AssignmentTargetType;
  targetId: string;
  roleId: string;
  createdAt: number;
}

/** A secret a user made for a tool: it logs in to one project with a subset of its roles. */
export interface ApplicationCredentialsTable {
  id: string;
  name: string;
  description: string;
  userId: string;
  projectId: string;
  /** scrypt hash, as for passwords. */
  secretHash: string;
  /** Role ids, comma-separated. */
  roleIds: string;
  unrestricted: number;
  expiresAt: number | null;
  createdAt: number;
}

/** Identity credentials of types other than EC2 (`/v3/credentials`); EC2 keys have their table. */
export interface CredentialsTable {
  id: string;
  userId: string;
  projectId: string | null;
  type: string;
  blob: string;
  createdAt: number;
}

/** Change counters bumped by triggers (migration 0012): `identity` for who keys speak for. */
export interface GenerationsTable {
  name: string;
  value: number;
}

export interface UsersTable {
  id: string;
  name: string;
  /** scrypt hash `scrypt$N$r$p$salt$hash`, or null for users that cannot log in with a password. */
  passwordHash: string | null;
  enabled: number;
  createdAt: number;
  domainId: string;
  defaultProjectId: string | null;
  description: string;
  email: string | null;
}

/** A user's role on a project, as the `assignments` table holds it (with the role's name). */
export interface RoleAssignmentRow {
  userId: string;
  projectId: string;
  role: string;
  createdAt: number;
}

/** A SQL user's login security state (migration 0021); no row reads as all defaults. */
export interface UserSecurityTable {
  userId: string;
  /** Failed password logins since the last success (or the end of a lockout). */
  failedAuthCount: number;
  /** When the last failed login was; the lockout runs from it. */
  failedAuthAt: number | null;
  /** When the current password was set; null before any was. */
  passwordSetAt: number | null;
}

/** The hashes of a user's passwords, the current one included, newest last. */
export interface PasswordHistoryTable {
  userId: string;
  passwordHash: string;
  createdAt: number;
}

/** A user kept in a directory (LDAP): its id there, and the local id everything else uses. */
export interface IdMappingsTable {
  publicId: string;
  /** The directory's domain name (config `identity.ldap.domain`). */
  domain: string;
  /** The user's id in the directory (its id attribute). */
  localId: string;
  /** The user's name in the directory, as last seen. */
  name: string;
}

export interface Ec2CredentialsTable {
  accessKey: string;
  secretKey: string;
  userId: string;
  projectId: string;
  createdAt: number;
}

export interface ServicesTable {
  id: string;
  host: string;
  binary: string;
  topic: string;
  disabled: number;
  disabledReason: string | null;
  reportCount: number;
  heartbeatAt: number;
  createdAt: number;
  /** The machine (its host name) whose process last registered the service; null before. */
  machine: string | null;
  /** That process's id on `machine`. */
  pid: number | null;
  /** A random id that process drew when it started: tells a restart from the same process. */
  bootId: string | null;
  /** An operator said the service is down (fenced) whatever its heartbeat says (0025). */
  forcedDown: Generated<number>;
}

/** Where each API listens, as the API service last registered it (the Identity catalog). */
export interface EndpointsTable {
  /** 'ec2', 'compute', 'identity', 'image', ... */
  serviceType: string;
  interface: 'public' | 'internal' | 'admin';
  region: string;
  url: string;
  updatedAt: number;
}

export interface TokensTable {
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  idHash: string;
  userId: string;
  /** The project the token is scoped to; null for an unscoped token. */
  projectId: string | null;
  /** The authentication methods, comma-separated: 'password', 'password,token'. */
  methods: string;
  auditId: string;
  issuedAt: number;
  expiresAt: number;
  /** The application credential the token was issued for; null otherwise (migration 0020). */
  applicationCredentialId: string | null;
  /** The domain a domain-scoped token is for; null otherwise (migration 0023). */
  domainId: string | null;
  /** 1 for a system-scoped token (migration 0023). */
  systemScope: number;
}

export interface FlavorsTable {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  isPublic: number;
  createdAt: number;
  /** What an admin wrote about the flavor (Compute API 2.55); null when nothing (0025). */
  description: string | null;
  /** Ephemeral disk, GiB (0025). */
  ephemeralGb: Generated<number>;
  /** Swap, MiB (0025). */
  swapMb: Generated<number>;
  /** The network bandwidth factor (0025). */
  rxtxFactor: Generated<number>;
}

/** A flavor's extra specs: free-form key/value pairs an admin sets (0025). */
export interface FlavorExtraSpecsTable {
  flavorId: string;
  key: string;
  value: string;
}

/** The projects that may use a private flavor (0025). */
export interface FlavorAccessTable {
  flavorId: string;
  projectId: string;
}

/** A host aggregate: compute hosts grouped under metadata (0025). */
export interface AggregatesTable {
  /** The Compute API's integer id. */
  id: number;
  uuid: string;
  name: string;
  createdAt: number;
  updatedAt: number | null;
}

export interface AggregateHostsTable {
  aggregateId: number;
  host: string;
}

/** An aggregate's metadata; the key `availability_zone` puts its hosts in that zone. */
export interface AggregateMetadataTable {
  aggregateId: number;
  key: string;
  value: string;
}

/** The limits of a quota class; the class `default` holds the default quotas (0025). */
export interface QuotaClassesTable {
  className: string;
  resource: string;
  hardLimit: number;
}

export type ImageKind = 'machine' | 'kernel' | 'ramdisk';
/**
 * Where an image stands: `queued` (no data yet), `saving` (data arriving), `uploading` (data
 * staged for an import), `importing` (staged data being checked and stored), `active`,
 * `deactivated` (kept, but neither launched nor downloaded by non-admins), `killed` (its data
 * could not be stored), `deleted`.
 */
export type ImageStatus =
  'queued' | 'saving' | 'uploading' | 'importing' | 'active' | 'deactivated' | 'killed' | 'deleted';

export interface ImagesTable {
  id: string;
  name: string;
  description: string;
  kind: ImageKind;
  /** Null for images that belong to the cloud (imported by an operator). */
  ownerProjectId: string | null;
  isPublic: number;
  status: ImageStatus;
  diskFormat: string | null;
  sizeBytes: number | null;
  checksum: string | null;
  /** Where the image store keeps the bits. */
  location: string | null;
  architecture: string;
  kernelId: string | null;
  ramdiskId: string | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
  /** From this time (ms) on the image counts as deprecated; null: never. */
  deprecateAt: number | null;
  /** The ClientToken of the CopyImage that made it, so a retried copy finds it. */
  clientToken: string | null;
  /** 1: any project may launch it and find it by id; listed to others only when asked for. */
  community: number;
  /** 1: it cannot be deleted until this is cleared. */
  protected: number;
  /** 1: left out of listings unless they ask for hidden images. */
  hidden: number;
  /** The smallest root disk (GiB) and memory (MiB) a flavor must have to launch it. */
  minDisk: number;
  minRam: number;
  /** The size of the disk the guest sees, in bytes, once the data is in. */
  virtualSize: number | null;
  /** Lower-case hex MD5 and SHA-512 of the data (null for data stored before they were kept). */
  md5: string | null;
  sha512: string | null;
  /** Custom properties: a JSON object of string values. */
  properties: string;
  /** The image's tags: a JSON array of strings. */
  tags: string;
}

/**
 * Where a share of an image with a project stands: EC2 launch permissions are accepted at
 * once, Image API members start pending. The project may use the image once accepted.
 */
export type ImageMemberStatus = 'pending' | 'accepted' | 'rejected';

export interface ImageMembersTable {
  imageId: string;
  projectId: string;
  status: ImageMemberStatus;
  createdAt: number;
  updatedAt: number;
}

export interface KeypairsTable {
  id: string;
  projectId: string;
  userId: string;
  name: string;
  keyType: 'rsa' | 'ed25519';
  fingerprint: string;
  publicKey: string;
  createdAt: number;
}

export interface SecurityGroupsTable {
  id: string;
  projectId: string;
  name: string;
  description: string;
  /** The network of the VPC it belongs to; null: the default VPC (the flat network). */
  vpcId: string | null;
  createdAt: number;
}

export interface SecurityGroupRulesTable {
  id: string;
  groupId: string;
  direction: 'ingress' | 'egress';
  /** 'tcp', 'udp', 'icmp' or '-1' for all. */
  protocol: string;
  fromPort: number | null;
  toPort: number | null;
  cidr: string | null;
  sourceGroupId: string | null;
  /** What the user says the rule is for (EC2's per-range and per-group Description), or null. */
  description: string | null;
  createdAt: number;
}

/**
 * What the VM is meant to be (Nova's vm_state). `paused`: its vCPUs are stopped, memory kept;
 * `suspended`: its state is saved to disk and the VM is gone until resumed; `rescued`: it runs
 * a rescue image with its own disk attached second; `resized`: it runs with a new flavor that
 * waits to be confirmed or reverted (migration 0027).
 */
export type VmState =
  | 'building'
  | 'active'
  | 'stopped'
  | 'paused'
  | 'suspended'
  | 'rescued'
  | 'resized'
  | 'deleted'
  | 'error';
/** What is being done to it right now, if anything (Nova's task_state, Nova's names). */
export type TaskState =
  | 'scheduling'
  | 'spawning'
  | 'rebooting'
  | 'powering-off'
  | 'powering-on'
  | 'deleting'
  | 'rebuilding'
  | 'resize_prep'
  | 'resize_reverting'
  | 'resize_confirming'
  | 'pausing'
  | 'unpausing'
  | 'suspending'
  | 'resuming'
  | 'rescuing'
  | 'unrescuing'
  | 'image_snapshot'
  | 'image_pending_upload'
  | 'image_uploading';

/** Who locked an instance: its owner (or a member of its project) or an admin. */
export type LockedBy = 'owner' | 'admin';

/** What a resize waiting to be confirmed keeps of the instance before it (JSON in `resizeSource`). */
export interface ResizeSource {
  flavorId: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** 'active' or 'stopped': what a confirm or a revert returns it to. */
  vmState: 'active' | 'stopped';
}

/**
 * Why an instance is in its state, as the domain knows it; each API edge words it itself.
 * `build_failed`: the host could not build it (stateMessage says why); `user_stopped`: a user
 * stopped it; `guest_shutdown`: the guest powered itself off.
 */
export const STATE_REASONS = ['build_failed', 'user_stopped', 'guest_shutdown'] as const;
export type StateReason = (typeof STATE_REASONS)[number];

export interface InstancesTable {
  id: string;
  reservationId: string;
  projectId: string;
  userId: string;
  imageId: string;
  kernelId: string | null;
  ramdiskId: string | null;
  flavorId: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  keyName: string | null;
  keyData: string | null;
  /** Base64, as the API received it. */
  userData: string | null;
  host: string | null;
  availabilityZone: string;
  vmState: VmState;
  taskState: TaskState | null;
  powerState: string;
  launchIndex: number;
  clientToken: string | null;
  privateIp: string | null;
  macAddress: string | null;
  /** Why the instance is in its state, when something went wrong or a user stopped it. */
  stateReason: StateReason | null;
  /** What went wrong, in words, with `build_failed`. */
  stateMessage: string | null;
  createdAt: number;
  updatedAt: number;
  launchedAt: number | null;
  terminatedAt: number | null;
  /** When the guest first asked the metadata service for anything; null until it does. */
  metadataFetchedAt: number | null;
  /**
   * 1 when the cloud sees the guest on the network (a real guest on the host's data plane:
   * its DHCP lease and metadata requests are recorded), so its reachability can be judged.
   */
  networkObserved: number;
  /** 1: TerminateInstances refuses it (EC2's termination protection). */
  disableApiTermination: number;
  /** 1: StopInstances refuses it (EC2's stop protection). */
  disableApiStop: number;
  /** What a shutdown from inside the guest does: the instance is stopped, or terminated. */
  shutdownBehavior: ShutdownBehavior;
  /** EC2's source/destination check flag, as set (1 unless a client cleared it). */
  sourceDestCheck: number;
  /** The base64 password data the guest posted to the metadata service; null until it does. */
  passwordData: string | null;
  /** When the guest posted it. */
  passwordDataAt: number | null;
  /** The addresses a user recorded for reaching the server (the Compute API's accessIPv4/v6). */
  accessIpv4: string | null;
  accessIpv6: string | null;
  /** IMDSv2: 'required' refuses metadata requests without a session token. */
  metadataHttpTokens: MetadataHttpTokens;
  /** 'disabled': the metadata service refuses the instance's guest (403). */
  metadataHttpEndpoint: MetadataSwitch;
  /** The IP TTL of the metadata service's replies to the guest (1..64; EC2's hop limit). */
  metadataHopLimit: number;
  /** 'enabled': the instance's tags are in its metadata (`tags/instance/`). */
  metadataTags: MetadataSwitch;
  /** Who locked it (the Compute API's lock), or null when it is not locked (migration 0027). */
  lockedBy: LockedBy | null;
  /** Why it was locked, as the locker said, or null. */
  lockedReason: string | null;
  /** A resize waiting to be confirmed: the instance before it (JSON ResizeSource), or null. */
  resizeSource: string | null;
}

export const METADATA_HTTP_TOKENS = ['optional', 'required'] as const;
export type MetadataHttpTokens = (typeof METADATA_HTTP_TOKENS)[number];
export const METADATA_SWITCH = ['enabled', 'disabled'] as const;
export type MetadataSwitch = (typeof METADATA_SWITCH)[number];

/** A key IMDSv2 session tokens are signed with (HMAC), shared by every metadata server. */
export interface MetadataTokenKeysTable {
  id: string;
  /** Hex. */
  secret: string;
  createdAt: number;
}

/** A dashboard sign-in session (migration 0045). */
export interface WebSessionsTable {
  /** SHA-256 (hex) of the session id the cookie carries; the id itself is never stored. */
  idHash: string;
  /** The Identity token, sealed (AES-256-GCM) under a key derived from the session id. */
  sealedToken: string;
  /** What the page's changing requests carry in X-CSRF-Token. */
  csrf: string;
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  /** The token's role names, JSON. */
  roles: string;
  createdAt: number;
  /** When the token (and so the session) stops working, ms since the epoch. */
  expiresAt: number;
}

/** The key dashboard cookies are signed with, shared by every api process. */
export interface WebSessionKeysTable {
  id: string;
  /** Hex. */
  secret: string;
  createdAt: number;
}

/** A one-time serial console URL's grant (migration 0045). */
export interface ConsoleGrantsTable {
  /** SHA-256 (hex) of the URL's token. */
  tokenHash: string;
  instanceId: string;
  /** The user the URL was made for. */
  userId: string | null;
  projectId: string | null;
  expiresAt: number;
}

/** A server's metadata item (the Compute API's server metadata). */
export interface ServerMetadataTable {
  instanceId: string;
  key: string;
  value: string;
}

/**
 * What the Compute API keeps of a server beyond its instance row (at most one row each):
 * description (2.19), the hostname given at create or update (2.90; null: made from the name),
 * and the admin password, which the guest reads from the metadata service.
 */
export interface ServerDetailsTable {
  instanceId: string;
  description: string | null;
  hostname: string | null;
  adminPass: string | null;
}

/** A server's tag (the Compute API's, 2.26: a plain string, apart from EC2's key/value tags). */
export interface ServerTagsTable {
  instanceId: string;
  tag: string;
}

export const SHUTDOWN_BEHAVIORS = ['stop', 'terminate'] as const;
export type ShutdownBehavior = (typeof SHUTDOWN_BEHAVIORS)[number];

export interface InstanceSecurityGroupsTable {
  instanceId: string;
  groupId: string;
}

export interface TagsTable {
  resourceId: string;
  resourceType: string;
  projectId: string;
  key: string;
  value: string;
}

export interface InstanceActionsTable {
  id: string;
  instanceId: string;
  action: string;
  requestId: string;
  userId: string | null;
  projectId: string | null;
  startedAt: number;
  finishedAt: number | null;
  result: 'success' | 'error' | null;
  message: string | null;
}

export interface NetworksTable {
  id: string;
  name: string;
  cidr: string;
  gateway: string;
  dhcpStart: string;
  dhcpEnd: string;
  dns: string;
  createdAt: number;
}

export interface FixedIpsTable {
  networkId: string;
  address: string;
  /** Order of the address in the range, so allocation takes the lowest free one. */
  seq: number;
  instanceId: string | null;
  macAddress: string | null;
  allocatedAt: number | null;
  releasedAt: number | null;
  leasedAt: number | null;
  /** When the DHCP lease ends (or ended, after dnsmasq's `del`), as dnsmasq last reported it. */
  leaseExpiresAt: number | null;
  /** Not handed out again before this time (the old lease may still be live). */
  reusableAt: number;
}

export interface FloatingIpsTable {
  id: string;
  address: string;
  pool: string;
  seq: number;
  projectId: string | null;
  instanceId: string | null;
  associationId: string | null;
  allocatedAt: number | null;
  associatedAt: number | null;
  /** A new id for every allocation to a project; null while the address is in the pool. */
  allocationId: string | null;
  /** 'standard' or 'vpc' while allocated. */
  domain: FloatingIpDomain | null;
  /** The fixed address the floating one maps onto while associated. */
  fixedAddress: string | null;
}

export type FloatingIpDomain = 'standard' | 'vpc';

export interface QuotasTable {
  projectId: string;
  resource: string;
  hardLimit: number;
}

export interface ComputeNodesTable {
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** The availability zone the host serves ('' until it reports one). */
  availabilityZone: string;
  /** The guest architecture the host runs (an image architecture: 'x86_64', 'arm64'). */
  architecture: string;
  updatedAt: number;
}

/**
 * What a placed instance holds on its host, taken by the scheduler and given back when the
 * instance is retired or its build fails. A host's usage is the sum of its claims.
 */
export interface CapacityClaimsTable {
  instanceId: string;
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  createdAt: number;
}

/** An EC2 launch template: a project's named set of numbered versions of launch parameters. */
export interface LaunchTemplatesTable {
  id: string;
  projectId: string;
  /** Unique in its project. */
  name: string;
  /** The version a launch uses when it names none. */
  defaultVersion: number;
  /** The highest version the template has now. */
  latestVersion: number;
  /** The highest version number ever given (numbers are not given twice). */
  lastVersion: number;
  /** The user who created it. */
  createdBy: string;
  /** The creating request's idempotency token, if it had one. */
  clientToken: string | null;
  createdAt: number;
}

/** One version of a launch template: what a launch from it gets, unless the launch overrides it. */
export interface LaunchTemplateVersionsTable {
  templateId: string;
  version: number;
  description: string | null;
  /** The launch parameters, JSON (the compute domain's `LaunchData`). */
  data: string;
  createdBy: string;
  clientToken: string | null;
  createdAt: number;
}

/** The placement policy of a server group (the Compute API's words; EC2's cluster and spread). */
export const SERVER_GROUP_POLICIES = [
  'affinity',
  'anti-affinity',
  'soft-affinity',
  'soft-anti-affinity',
] as const;
export type ServerGroupPolicy = (typeof SERVER_GROUP_POLICIES)[number];

/**
 * A group of instances placed by one policy: all on one host (affinity), each on its own host
 * (anti-affinity, at most `max_server_per_host` per host), or as far as possible so (soft-*).
 */
export interface ServerGroupsTable {
  id: string;
  projectId: string;
  userId: string;
  name: string;
  policy: ServerGroupPolicy;
  /** JSON object of the policy's rules: `{"max_server_per_host": N}` or `{}`. */
  rules: string;
  createdAt: number;
}

/** An instance's membership of a server group (at most one group per instance). */
export interface ServerGroupMembersTable {
  instanceId: string;
  groupId: string;
}

/** Where a volume is in its life; EC2's and the Block Storage API's words are the same. */
export const VOLUME_STATUSES = [
  'creating',
  'available',
  'attaching',
  'in-use',
  'detaching',
  'extending',
  /** Its data is being copied into an image (the Block Storage API's os-volume_upload_image). */
  'uploading',
  'deleting',
  'error',
  'error_deleting',
  'error_extending',
] as const;
export type VolumeStatus = (typeof VOLUME_STATUSES)[number];

/** A volume type an administrator added (the built-in ones are not rows). */
export interface VolumeTypesTable {
  id: string;
  name: string;
  description: string;
  /** 1: every project may see and use it; 0: administrators only. */
  isPublic: number;
  /** A JSON object of strings. */
  extraSpecs: string;
  createdAt: number;
}

/** A block device that outlives instances, kept as a file by a volume service host. */
export interface VolumesTable {
  id: string;
  projectId: string;
  userId: string;
  sizeGb: number;
  availabilityZone: string;
  status: VolumeStatus;
  /** The volume service host keeping the volume's file; null until one takes it. */
  host: string | null;
  volumeType: string;
  name: string | null;
  description: string | null;
  /** The instance the volume is attached to, and under which device name. */
  instanceId: string | null;
  device: string | null;
  attachedAt: number | null;
  /** What went wrong, when the status is an error. */
  statusReason: string | null;
  /** The snapshot the volume was made from; null for an empty one. */
  snapshotId: string | null;
  /** 1: the volume goes when its instance is terminated (made by a launch that said so). */
  deleteOnTermination: number;
  /**
   * The image whose data the volume holds (made from it, or from a snapshot of a volume that
   * was): the volume is bootable, with that image's kernel and ramdisk. Null for a data volume.
   */
  imageId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Where a snapshot is in its life, in the Block Storage API's words (EC2 maps them). */
export const SNAPSHOT_STATUSES = [
  'creating',
  'available',
  'deleting',
  'error',
  'error_deleting',
] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/** A point-in-time copy of a volume, kept as a file by the volume's volume service host. */
export interface SnapshotsTable {
  id: string;
  projectId: string;
  userId: string;
  /** The volume the data came from (a copy names its source's volume). */
  volumeId: string;
  /** The volume's size when the snapshot was taken, in GiB. */
  volumeSizeGb: number;
  status: SnapshotStatus;
  /** Percent done, 0-100. */
  progress: number;
  /** The volume service host keeping the snapshot's file. */
  host: string | null;
  name: string | null;
  description: string | null;
  /** For a copy, the snapshot it copies. */
  sourceSnapshotId: string | null;
  /** 1: every project may make volumes from it. */
  isPublic: number;
  statusReason: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A project besides the owner that may make volumes from a snapshot. */
export interface SnapshotSharesTable {
  snapshotId: string;
  projectId: string;
}

/** A network a project made (migration 0033); the flat network is not one of these. */
export interface ProjectNetworksTable {
  id: string;
  projectId: string;
  name: string;
  description: string;
  /** 0 or 1, as every flag of these tables. */
  adminStateUp: number;
  shared: number;
  /** 1: routers may take their external gateway, and floating addresses come, from it. */
  external: number;
  mtu: number;
  /** The VXLAN VNI of the network's segment, unique across the cloud. */
  segmentationId: number;
  createdAt: number;
  updatedAt: number;
}

export interface ProjectSubnetsTable {
  id: string;
  networkId: string;
  projectId: string;
  name: string;
  description: string;
  cidr: string;
  /** Null: the subnet has no gateway. */
  gateway: string | null;
  enableDhcp: number;
  /** JSON: `[{"start", "end"}]`, inclusive, inside the CIDR. */
  allocationPools: string;
  /** JSON: addresses, in order. */
  dnsNameservers: string;
  /** JSON: `[{"destination", "nexthop"}]`. */
  hostRoutes: string;
  createdAt: number;
  updatedAt: number;
}

export interface ProjectPortsTable {
  id: string;
  networkId: string;
  projectId: string;
  name: string;
  description: string;
  macAddress: string;
  adminStateUp: number;
  /** `compute:<zone>`, `network:router_interface`, `network:dhcp`, ... or ''. */
  deviceOwner: string;
  deviceId: string;
  portSecurityEnabled: number;
  /** JSON: security group ids. */
  securityGroups: string;
  /** JSON: `[{"ip_address", "mac_address"}]`. */
  allowedAddressPairs: string;
  /** The compute host the port is bound to, once one is. */
  bindingHost: string | null;
  /** 1: a launch made it for its instance, and it is deleted with it; 0: only unbound. */
  deleteOnTermination: number;
  createdAt: number;
  updatedAt: number;
}

/** A subnet address held by a port, or resting after one let it go (`portId` null). */
export interface ProjectPortIpsTable {
  subnetId: string;
  address: string;
  networkId: string;
  portId: string | null;
  /** A resting address is not handed out again before this time (ms). */
  reusableAt: number;
}

export interface ProjectRoutersTable {
  id: string;
  projectId: string;
  name: string;
  description: string;
  adminStateUp: number;
  /** The external network of the router's gateway, if it has one. */
  externalNetworkId: string | null;
  enableSnat: number;
  createdAt: number;
  updatedAt: number;
}

/** A subnet joined to a router through a port of the router; one router per subnet. */
export interface ProjectRouterInterfacesTable {
  subnetId: string;
  routerId: string;
  portId: string;
}

/** What EC2 knows of a project network that is a VPC (migration 0037). */
export interface VpcsTable {
  networkId: string;
  projectId: string;
  /** The VPC's IPv4 block, /16 to /28. */
  cidr: string;
  /** The router that is the VPC's main route table. */
  routerId: string;
  isDefault: number;
  enableDnsSupport: number;
  enableDnsHostnames: number;
  createdAt: number;
}

/** A project's claim on its default VPC; `networkId` is null while it is being made. */
export interface DefaultVpcsTable {
  projectId: string;
  networkId: string | null;
  claimedAt: number;
}

/** A VPC subnet's zone and launch attributes. */
export interface VpcSubnetsTable {
  subnetId: string;
  networkId: string;
  availabilityZone: string;
  /** 1: instances launched into it get a public address. */
  mapPublicIp: number;
  defaultForAz: number;
}

/** An internet gateway, attached to the VPC of `networkId` (unique) or to none. */
export interface InternetGatewaysTable {
  id: string;
  projectId: string;
  networkId: string | null;
  createdAt: number;
}

/** A route of a route table (a router) to an internet gateway. */
export interface VpcRoutesTable {
  routerId: string;
  destination: string;
  gatewayId: string;
  createdAt: number;
}

/** A host carrying the overlay, as its network agent last registered it (migration 0048). */
export interface OverlayHostsTable {
  host: string;
  /** Its underlay address, without the prefix. */
  underlayIp: string;
  /** 1: it serves DHCP and metadata and carries the routers. */
  networkHost: number;
  /** The network host's address on the public segment, `A.B.C.D/N`. */
  publicAddress: string | null;
  /** Its agent's boot id: a new one means a restarted agent, sent everything again. */
  bootId: string;
  lastSeen: number;
}

/** A route table CreateRouteTable made (migration 0040); its routes are in vpc_routes. */
export interface VpcRouteTablesTable {
  id: string;
  networkId: string;
  projectId: string;
  createdAt: number;
}

/**
 * A route table's association: with a subnet (`subnetId`, unique), or as its VPC's main table
 * (`mainOf` is the VPC's network id, unique). Without a main row the VPC's router is main.
 */
export interface VpcRouteTableAssociationsTable {
  id: string;
  routeTableId: string;
  networkId: string;
  subnetId: string | null;
  mainOf: string | null;
  createdAt: number;
}

/** What EC2 says of a VPC interface beyond its port: its attachment and checks. */
export interface VpcInterfaceAttributesTable {
  portId: string;
  deviceIndex: number;
  deleteOnTermination: number;
  sourceDestCheck: number;
  /** Set while attached by AttachNetworkInterface (the launch's own are implied). */
  attachmentId: string | null;
  attachedAt: number | null;
}

/** A public address given to an instance's interface at launch, released with the instance. */
export interface VpcLaunchAddressesTable {
  allocationId: string;
  instanceId: string;
  portId: string;
}

/** The interface and private address an Elastic IP's association is bound to. */
export interface VpcAddressBindingsTable {
  associationId: string;
  portId: string;
  privateIp: string;
}

export interface Schema {
  flavors: FlavorsTable;
  flavorExtraSpecs: FlavorExtraSpecsTable;
  flavorAccess: FlavorAccessTable;
  aggregates: AggregatesTable;
  aggregateHosts: AggregateHostsTable;
  aggregateMetadata: AggregateMetadataTable;
  quotaClasses: QuotaClassesTable;
  images: ImagesTable;
  imageMembers: ImageMembersTable;
  keypairs: KeypairsTable;
  securityGroups: SecurityGroupsTable;
  securityGroupRules: SecurityGroupRulesTable;
  instances: InstancesTable;
  instanceSecurityGroups: InstanceSecurityGroupsTable;
  tags: TagsTable;
  serverMetadata: ServerMetadataTable;
  serverDetails: ServerDetailsTable;
  serverTags: ServerTagsTable;
  instanceActions: InstanceActionsTable;
  networks: NetworksTable;
  fixedIps: FixedIpsTable;
  floatingIps: FloatingIpsTable;
  quotas: QuotasTable;
  computeNodes: ComputeNodesTable;
  capacityClaims: CapacityClaimsTable;
  serverGroups: ServerGroupsTable;
  serverGroupMembers: ServerGroupMembersTable;
  projects: ProjectsTable;
  users: UsersTable;
  domains: DomainsTable;
  projectTags: ProjectTagsTable;
  groups: GroupsTable;
  groupMembers: GroupMembersTable;
  roles: RolesTable;
  impliedRoles: ImpliedRolesTable;
  assignments: AssignmentsTable;
  applicationCredentials: ApplicationCredentialsTable;
  credentials: CredentialsTable;
  ec2Credentials: Ec2CredentialsTable;
  userSecurity: UserSecurityTable;
  passwordHistory: PasswordHistoryTable;
  idMappings: IdMappingsTable;
  services: ServicesTable;
  endpoints: EndpointsTable;
  tokens: TokensTable;
  generations: GenerationsTable;
  launchTemplates: LaunchTemplatesTable;
  launchTemplateVersions: LaunchTemplateVersionsTable;
  metadataTokenKeys: MetadataTokenKeysTable;
  webSessions: WebSessionsTable;
  webSessionKeys: WebSessionKeysTable;
  consoleGrants: ConsoleGrantsTable;
  volumes: VolumesTable;
  volumeTypes: VolumeTypesTable;
  snapshots: SnapshotsTable;
  snapshotShares: SnapshotSharesTable;
  projectNetworks: ProjectNetworksTable;
  projectSubnets: ProjectSubnetsTable;
  projectPorts: ProjectPortsTable;
  projectPortIps: ProjectPortIpsTable;
  projectRouters: ProjectRoutersTable;
  projectRouterInterfaces: ProjectRouterInterfacesTable;
  vpcs: VpcsTable;
  defaultVpcs: DefaultVpcsTable;
  vpcSubnets: VpcSubnetsTable;
  internetGateways: InternetGatewaysTable;
  vpcRoutes: VpcRoutesTable;
  vpcRouteTables: VpcRouteTablesTable;
  vpcRouteTableAssociations: VpcRouteTableAssociationsTable;
  vpcInterfaceAttributes: VpcInterfaceAttributesTable;
  vpcLaunchAddresses: VpcLaunchAddressesTable;
  vpcAddressBindings: VpcAddressBindingsTable;
  overlayHosts: OverlayHostsTable;
}

export type Db = Kysely<Schema>;
export type ProjectRow = Selectable<ProjectsTable>;
export type ProjectNetworkRow = Selectable<ProjectNetworksTable>;
export type ProjectSubnetRow = Selectable<ProjectSubnetsTable>;
export type ProjectPortRow = Selectable<ProjectPortsTable>;
export type ProjectPortIpRow = Selectable<ProjectPortIpsTable>;
export type ProjectRouterRow = Selectable<ProjectRoutersTable>;
export type ProjectRouterInterfaceRow = Selectable<ProjectRouterInterfacesTable>;
export type VpcRow = Selectable<VpcsTable>;
export type VpcSubnetRow = Selectable<VpcSubnetsTable>;
export type InternetGatewayRow = Selectable<InternetGatewaysTable>;
export type VpcRouteRow = Selectable<VpcRoutesTable>;
export type VpcRouteTableRow = Selectable<VpcRouteTablesTable>;
export type VpcRouteTableAssociationRow = Selectable<VpcRouteTableAssociationsTable>;
export type VpcInterfaceAttributesRow = Selectable<VpcInterfaceAttributesTable>;
export type VpcLaunchAddressRow = Selectable<VpcLaunchAddressesTable>;
export type VpcAddressBindingRow = Selectable<VpcAddressBindingsTable>;
export type OverlayHostRow = Selectable<OverlayHostsTable>;
export type UserRow = Selectable<UsersTable>;
export type DomainRow = Selectable<DomainsTable>;
export type GroupRow = Selectable<GroupsTable>;
export type RoleRow = Selectable<RolesTable>;
export type AssignmentRow = Selectable<AssignmentsTable>;
export type ApplicationCredentialRow = Selectable<ApplicationCredentialsTable>;
export type CredentialRow = Selectable<CredentialsTable>;
export type Ec2CredentialRow = Selectable<Ec2CredentialsTable>;
export type UserSecurityRow = Selectable<UserSecurityTable>;
export type IdMappingRow = Selectable<IdMappingsTable>;
export type ServiceRow = Selectable<ServicesTable>;
export type EndpointRow = Selectable<EndpointsTable>;
export type TokenRow = Selectable<TokensTable>;
export type WebSessionRow = Selectable<WebSessionsTable>;
export type ConsoleGrantRow = Selectable<ConsoleGrantsTable>;
export type FlavorRow = Selectable<FlavorsTable>;
export type AggregateRow = Selectable<AggregatesTable>;
export type ImageRow = Selectable<ImagesTable>;
export type ImageMemberRow = Selectable<ImageMembersTable>;
export type KeypairRow = Selectable<KeypairsTable>;
export type SecurityGroupRow = Selectable<SecurityGroupsTable>;
export type SecurityGroupRuleRow = Selectable<SecurityGroupRulesTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type ServerMetadataRow = Selectable<ServerMetadataTable>;
export type ServerDetailsRow = Selectable<ServerDetailsTable>;
export type ServerTagRow = Selectable<ServerTagsTable>;
export type TagRow = Selectable<TagsTable>;
export type InstanceActionRow = Selectable<InstanceActionsTable>;
export type NetworkRow = Selectable<NetworksTable>;
export type FixedIpRow = Selectable<FixedIpsTable>;
export type FloatingIpRow = Selectable<FloatingIpsTable>;
export type ComputeNodeRow = Selectable<ComputeNodesTable>;
export type CapacityClaimRow = Selectable<CapacityClaimsTable>;
export type LaunchTemplateRow = Selectable<LaunchTemplatesTable>;
export type LaunchTemplateVersionRow = Selectable<LaunchTemplateVersionsTable>;
export type ServerGroupRow = Selectable<ServerGroupsTable>;
export type VolumeRow = Selectable<VolumesTable>;
export type VolumeTypeRow = Selectable<VolumeTypesTable>;
export type SnapshotRow = Selectable<SnapshotsTable>;
export type { Generated };
