// What the API edges need: the domain services, built once by main (src/main.ts) and handed to
// the api service, which passes them on to each edge. An edge parses a request, authorizes it,
// calls one of these and renders the result; it never reaches the database itself.
import type {
  ConsoleGrants,
  InstanceLifecycle,
  InstanceImages,
  FlavorService,
  InstanceOperations,
  LaunchTemplateService,
  ServerGroupService,
  UsageReport,
  VolumeAttachOperations,
  InterfaceAttachOperations,
} from '../compute/index.js';
import type { Catalog, IdentityService, TokenService, WebSessions } from '../identity/index.js';
import type { ImageService } from '../image/index.js';
import type { KeypairService } from '../keypairs/index.js';
import type {
  AddressReader,
  NetworkClient,
  ProjectNetworkService,
  SecurityGroupReader,
  VpcService,
} from '../network/index.js';
import type { QuotaAdmin, QuotaReader } from '../quota/index.js';
import type { HostAdmin, HostInventory } from '../scheduler/index.js';
import type { ServiceHealth } from '../service/index.js';
import type { TagService } from '../tags/index.js';
import type { SnapshotOperations, VolumeImages, VolumeOperations } from '../volume/index.js';

export interface ApiServices {
  /** Users, projects, roles and EC2 credentials. */
  identity: IdentityService;
  /** The OpenStack APIs' tokens, one service for all of them. */
  tokens: TokenService;
  /** Where the cloud's APIs listen, as tokens carry it. */
  catalog: Catalog;
  /** Instances: launch, list, power, terminate, console; flavors. */
  instances: InstanceOperations;
  /** Pause, suspend, rescue, rebuild, resize and lock of one instance; its action records. */
  lifecycle: InstanceLifecycle;
  /** Machine images made from instances (CreateImage, createImage). */
  instanceImages: InstanceImages;
  keypairs: KeypairService;
  /** EC2 launch templates and their versions. */
  launchTemplates: LaunchTemplateService;
  /** Server groups (EC2 placement groups): create, list, delete. */
  serverGroups: ServerGroupService;
  /** Images with tenancy applied. */
  images: ImageService;
  /** Every change to addresses and security groups: the network service, over the bus. */
  network: NetworkClient;
  /** Security groups and rules, read here. */
  securityGroups: SecurityGroupReader;
  /** Floating and fixed addresses, read here. */
  addresses: AddressReader;
  tags: TagService;
  /** Projects' limits and usage. */
  quota: QuotaReader;
  /** The services' heartbeats and the database, for the status endpoint. */
  health: ServiceHealth;
  /** The compute hosts and the availability zones they make up. */
  hosts: HostInventory;
  /** Flavors: the caller's, and an admin's create, delete, extra specs and access. */
  flavors: FlavorService;
  /** An admin's services and host aggregates. */
  hostAdmin: HostAdmin;
  /** An admin's quota changes: defaults, a project's limits, reset. */
  quotaAdmin: QuotaAdmin;
  /** What projects used in a period (instance hours and sizes). */
  usage: UsageReport;
  /** Volumes: create, list, extend, delete; the volume service keeps their files. */
  volumes: VolumeOperations;
  /** Attaching volumes to instances and detaching them (the instance's host does the work). */
  volumeAttachments: VolumeAttachOperations;
  /** Volume snapshots: create, copy, list, share, delete; kept by the volume's host. */
  snapshots: SnapshotOperations;
  /** A volume's data as a new image (os-volume_upload_image). */
  volumeImages: VolumeImages;
  /** Project networks, subnets, ports and routers, and the flat network in their terms. */
  projectNetworks: ProjectNetworkService;
  /** EC2 VPCs, subnets, internet gateways and route tables over the project networks. */
  vpcs: VpcService;
  /** Attaching ports to instances and detaching them (a running one's host plugs them). */
  interfaceAttachments: InterfaceAttachOperations;
  /** The dashboard's sign-in sessions, shared by every api process. */
  webSessions: WebSessions;
  /** One-time serial console URLs, shared by every api process. */
  consoleGrants: ConsoleGrants;
}
