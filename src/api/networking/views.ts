// The Networking API's JSON for each resource, from the domain's objects: networks, subnets,
// ports, routers, security groups and rules, floating IPs, and the version documents.
import type { FloatingIpRow, SecurityGroupRow, SecurityGroupRuleRow } from '../../db/index.js';
import type {
  IpAvailability,
  ProjectNetwork,
  ProjectPort,
  ProjectRouter,
  ProjectSubnet,
} from '../../network/index.js';

type Json = Record<string, unknown>;

/** Neutron's timestamps: seconds, UTC, no fraction. */
export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stamps(createdAt: number, updatedAt: number): Json {
  return {
    created_at: timestamp(createdAt),
    updated_at: timestamp(updatedAt),
    revision_number: 0,
  };
}

export function versionView(base: string): Json {
  return {
    id: 'v2.0',
    status: 'CURRENT',
    links: [{ rel: 'self', href: `${base}/v2.0/` }],
  };
}

export function networkView(n: ProjectNetwork, options: { admin: boolean; zone: string }): Json {
  return {
    id: n.id,
    name: n.name,
    tenant_id: n.projectId,
    project_id: n.projectId,
    description: n.description,
    admin_state_up: n.adminStateUp,
    status: 'ACTIVE',
    subnets: n.subnetIds,
    shared: n.shared,
    'router:external': n.external,
    mtu: n.mtu,
    port_security_enabled: true,
    availability_zone_hints: [],
    availability_zones: [options.zone],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    is_default: false,
    l2_adjacency: true,
    qos_policy_id: null,
    tags: [],
    ...(options.admin
      ? {
          'provider:network_type': n.networkType,
          'provider:physical_network': n.physicalNetwork,
          'provider:segmentation_id': n.segmentationId,
        }
      : {}),
    ...stamps(n.createdAt, n.updatedAt),
  };
}

/** The attributes a network listing may filter or sort on. */
export const NETWORK_ATTRIBUTES = [
  ...Object.keys(
    networkView(
      {
        id: '',
        projectId: '',
        name: '',
        description: '',
        adminStateUp: true,
        shared: false,
        external: false,
        mtu: 0,
        networkType: 'vxlan',
        segmentationId: null,
        physicalNetwork: null,
        subnetIds: [],
        origin: 'project',
        createdAt: 0,
        updatedAt: 0,
      },
      { admin: true, zone: '' },
    ),
  ),
];

export function subnetView(s: ProjectSubnet): Json {
  return {
    id: s.id,
    name: s.name,
    tenant_id: s.projectId,
    project_id: s.projectId,
    network_id: s.networkId,
    description: s.description,
    ip_version: 4,
    cidr: s.cidr,
    gateway_ip: s.gateway,
    allocation_pools: s.allocationPools.map((p) => ({ start: p.start, end: p.end })),
    dns_nameservers: s.dnsNameservers,
    host_routes: s.hostRoutes.map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
    enable_dhcp: s.enableDhcp,
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    subnetpool_id: null,
    segment_id: null,
    service_types: [],
    tags: [],
    ...stamps(s.createdAt, s.updatedAt),
  };
}

export const SUBNET_ATTRIBUTES = Object.keys(
  subnetView({
    id: '',
    networkId: '',
    projectId: '',
    name: '',
    description: '',
    cidr: '',
    gateway: null,
    enableDhcp: true,
    allocationPools: [],
    dnsNameservers: [],
    hostRoutes: [],
    createdAt: 0,
    updatedAt: 0,
  }),
);

export function portView(p: ProjectPort, options: { admin: boolean }): Json {
  return {
    id: p.id,
    name: p.name,
    tenant_id: p.projectId,
    project_id: p.projectId,
    network_id: p.networkId,
    description: p.description,
    mac_address: p.macAddress,
    admin_state_up: p.adminStateUp,
    status: p.status,
    device_owner: p.deviceOwner,
    device_id: p.deviceId,
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    security_groups: p.securityGroups,
    port_security_enabled: p.portSecurityEnabled,
    allowed_address_pairs: p.allowedAddressPairs.map((a) => ({
      ip_address: a.ipAddress,
      mac_address: a.macAddress,
    })),
    extra_dhcp_opts: [],
    propagate_uplink_status: false,
    ip_allocation: 'immediate',
    'binding:vnic_type': 'normal',
    ...(options.admin
      ? {
          'binding:host_id': p.bindingHost ?? '',
          'binding:vif_type': p.bindingHost ? 'tap' : 'unbound',
          'binding:vif_details': {},
          'binding:profile': {},
        }
      : {}),
    tags: [],
    ...stamps(p.createdAt, p.updatedAt),
  };
}

export const PORT_ATTRIBUTES = Object.keys(
  portView(
    {
      id: '',
      networkId: '',
      projectId: '',
      name: '',
      description: '',
      macAddress: '',
      adminStateUp: true,
      deviceOwner: '',
      deviceId: '',
      portSecurityEnabled: true,
      securityGroups: [],
      allowedAddressPairs: [],
      bindingHost: null,
      deleteOnTermination: false,
      fixedIps: [],
      status: 'DOWN',
      createdAt: 0,
      updatedAt: 0,
    },
    { admin: true },
  ),
);

export function routerView(r: ProjectRouter, options: { admin: boolean; zone: string }): Json {
  return {
    id: r.id,
    name: r.name,
    tenant_id: r.projectId,
    project_id: r.projectId,
    description: r.description,
    admin_state_up: r.adminStateUp,
    status: 'ACTIVE',
    external_gateway_info: r.externalGateway
      ? {
          network_id: r.externalGateway.networkId,
          enable_snat: r.externalGateway.enableSnat,
          external_fixed_ips: [],
        }
      : null,
    routes: [],
    availability_zone_hints: [],
    availability_zones: [options.zone],
    flavor_id: null,
    tags: [],
    ...(options.admin ? { distributed: false, ha: false } : {}),
    ...stamps(r.createdAt, r.updatedAt),
  };
}

export const ROUTER_ATTRIBUTES = Object.keys(
  routerView(
    {
      id: '',
      projectId: '',
      name: '',
      description: '',
      adminStateUp: true,
      externalGateway: null,
      interfaces: [],
      createdAt: 0,
      updatedAt: 0,
    },
    { admin: true, zone: '' },
  ),
);

export function ruleView(
  r: SecurityGroupRuleRow,
  projectId: string,
  defaultGroupIds: ReadonlySet<string>,
): Json {
  const all = r.protocol === '-1';
  const icmp = r.protocol === 'icmp';
  const minOf = (n: number | null) => (all || n === null || (icmp && n < 0) ? null : n);
  return {
    id: r.id,
    security_group_id: r.groupId,
    tenant_id: projectId,
    project_id: projectId,
    direction: r.direction,
    ethertype: 'IPv4',
    protocol: all ? null : r.protocol,
    port_range_min: minOf(r.fromPort),
    port_range_max: minOf(r.toPort),
    remote_ip_prefix: r.sourceGroupId ? null : r.cidr,
    normalized_cidr: r.sourceGroupId ? null : r.cidr,
    remote_group_id: r.sourceGroupId,
    remote_address_group_id: null,
    description: r.description ?? '',
    belongs_to_default_sg: defaultGroupIds.has(r.groupId),
    ...stamps(r.createdAt, r.createdAt),
  };
}

export const RULE_ATTRIBUTES = Object.keys(
  ruleView(
    {
      id: '',
      groupId: '',
      direction: 'egress',
      protocol: '-1',
      fromPort: null,
      toPort: null,
      cidr: null,
      sourceGroupId: null,
      description: null,
      createdAt: 0,
    },
    '',
    new Set(),
  ),
);

export function securityGroupView(g: SecurityGroupRow, rules: Json[]): Json {
  return {
    id: g.id,
    name: g.name,
    tenant_id: g.projectId,
    project_id: g.projectId,
    description: g.description,
    security_group_rules: rules,
    stateful: true,
    shared: false,
    tags: [],
    ...stamps(g.createdAt, g.createdAt),
  };
}

export const SECURITY_GROUP_ATTRIBUTES = Object.keys(
  securityGroupView(
    { id: '', name: '', projectId: '', description: '', vpcId: null, createdAt: 0 },
    [],
  ),
);

export function floatingIpView(
  f: FloatingIpRow,
  options: { networkId: string; portId: string | null; routerId: string | null },
): Json {
  const at = f.allocatedAt ?? 0;
  return {
    id: f.allocationId,
    tenant_id: f.projectId,
    project_id: f.projectId,
    floating_ip_address: f.address,
    floating_network_id: options.networkId,
    router_id: options.routerId,
    port_id: options.portId,
    fixed_ip_address: options.portId ? f.fixedAddress : null,
    status: options.portId ? 'ACTIVE' : 'DOWN',
    description: '',
    port_details: null,
    port_forwardings: [],
    dns_domain: '',
    dns_name: '',
    qos_policy_id: null,
    tags: [],
    ...stamps(at, f.associatedAt ?? at),
  };
}

export const FLOATING_IP_ATTRIBUTES = Object.keys(
  floatingIpView(
    {
      id: '',
      address: '',
      pool: '',
      seq: 0,
      projectId: null,
      instanceId: null,
      associationId: null,
      allocatedAt: null,
      associatedAt: null,
      allocationId: null,
      domain: null,
      fixedAddress: null,
    },
    { networkId: '', portId: null, routerId: null },
  ),
);

export function ipAvailabilityView(a: IpAvailability): Json {
  const total = a.subnets.reduce((s, x) => s + x.total, 0);
  const used = a.subnets.reduce((s, x) => s + x.used, 0);
  return {
    network_id: a.network.id,
    network_name: a.network.name,
    tenant_id: a.network.projectId,
    project_id: a.network.projectId,
    total_ips: total,
    used_ips: used,
    subnet_ip_availability: a.subnets.map((s) => ({
      subnet_id: s.subnet.id,
      subnet_name: s.subnet.name,
      cidr: s.subnet.cidr,
      ip_version: 4,
      total_ips: s.total,
      used_ips: s.used,
    })),
  };
}

export const IP_AVAILABILITY_ATTRIBUTES = [
  'network_id',
  'network_name',
  'tenant_id',
  'project_id',
  'ip_version',
  'total_ips',
  'used_ips',
];

/** The extensions this API implements, as `GET /v2.0/extensions` lists them. */
export const EXTENSIONS: readonly { alias: string; name: string; description: string }[] = [
  {
    alias: 'external-net',
    name: 'Neutron external network',
    description: 'router:external on networks.',
  },
  { alias: 'provider', name: 'Provider Network', description: 'provider:* attributes for admins.' },
  { alias: 'net-mtu', name: 'Network MTU', description: 'The MTU of each network.' },
  {
    alias: 'router',
    name: 'Neutron L3 Router',
    description: 'Routers, external gateways, interfaces and floating IPs.',
  },
  {
    alias: 'ext-gw-mode',
    name: 'Neutron L3 Configurable external gateway mode',
    description: 'enable_snat on a router gateway.',
  },
  {
    alias: 'security-group',
    name: 'security-group',
    description: 'Security groups and their rules.',
  },
  { alias: 'port-security', name: 'Port Security', description: 'port_security_enabled on ports.' },
  {
    alias: 'allowed-address-pairs',
    name: 'Allowed Address Pairs',
    description: 'Addresses a port may also send from.',
  },
  { alias: 'binding', name: 'Port Binding', description: 'The host a port is bound to.' },
  { alias: 'quotas', name: 'Quota management support', description: 'Per-project quotas.' },
  {
    alias: 'network-ip-availability',
    name: 'Network IP Availability',
    description: 'Addresses used and free per network and subnet.',
  },
  {
    alias: 'project-id',
    name: 'project_id field enabled',
    description: 'project_id beside tenant_id.',
  },
  {
    alias: 'standard-attr-description',
    name: 'standard-attr-description',
    description: 'description on every resource.',
  },
  {
    alias: 'standard-attr-timestamp',
    name: 'Resource timestamps',
    description: 'created_at and updated_at.',
  },
  { alias: 'sorting', name: 'Sorting support', description: 'sort_key and sort_dir on listings.' },
  { alias: 'pagination', name: 'Pagination support', description: 'limit and marker on listings.' },
  {
    alias: 'filter-validation',
    name: 'Filter parameters validation',
    description: 'Unknown filters are refused.',
  },
  { alias: 'fields', name: 'Fields selection', description: 'fields= on listings and shows.' },
];

export function extensionView(e: (typeof EXTENSIONS)[number]): Json {
  return {
    alias: e.alias,
    name: e.name,
    description: e.description,
    updated: '2013-01-01T00:00:00-00:00',
    links: [],
  };
}
