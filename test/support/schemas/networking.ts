// JSON schemas of the Networking API v2.0 responses Stratus serves, written from the API
// reference (docs.openstack.org/api-ref/network/v2): networks, subnets, ports, routers,
// security groups and rules, floating IPs, quotas, network IP availabilities, extensions, the
// version documents and the NeutronError fault. Admin-only attributes (provider:*, binding:*)
// are not required.
import type { AnySchema } from 'ajv';

const str = { type: 'string' };
const nullableString = { type: ['string', 'null'] };
const bool = { type: 'boolean' };
const int = { type: 'integer' };
const nullableInt = { type: ['integer', 'null'] };
const strings = { type: 'array', items: str };
const time = { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$' };
const link = {
  type: 'object',
  required: ['href', 'rel'],
  properties: { href: str, rel: str },
};
const standard = {
  id: str,
  tenant_id: str,
  project_id: str,
  description: str,
  created_at: time,
  updated_at: time,
  revision_number: int,
  tags: strings,
};
const standardRequired = ['id', 'tenant_id', 'project_id', 'created_at', 'updated_at'];

function object(required: string[], properties: Record<string, unknown>): AnySchema {
  return { type: 'object', required, properties };
}
function one(name: string, item: AnySchema): AnySchema {
  return { type: 'object', required: [name], properties: { [name]: item } };
}
function many(name: string, item: AnySchema): AnySchema {
  return {
    type: 'object',
    required: [name],
    properties: {
      [name]: { type: 'array', items: item },
      [`${name}_links`]: { type: 'array', items: link },
    },
  };
}

export const network = object(
  [
    ...standardRequired,
    'name',
    'admin_state_up',
    'status',
    'subnets',
    'shared',
    'router:external',
    'mtu',
    'port_security_enabled',
    'availability_zones',
  ],
  {
    ...standard,
    name: str,
    admin_state_up: bool,
    status: { enum: ['ACTIVE', 'DOWN', 'BUILD', 'ERROR'] },
    subnets: strings,
    shared: bool,
    'router:external': bool,
    mtu: int,
    port_security_enabled: bool,
    availability_zone_hints: strings,
    availability_zones: strings,
    'provider:network_type': str,
    'provider:physical_network': nullableString,
    'provider:segmentation_id': nullableInt,
    is_default: bool,
    l2_adjacency: bool,
  },
);

const pool = object(['start', 'end'], { start: str, end: str });
const route = object(['destination', 'nexthop'], { destination: str, nexthop: str });

export const subnet = object(
  [
    ...standardRequired,
    'name',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'allocation_pools',
    'dns_nameservers',
    'host_routes',
    'enable_dhcp',
  ],
  {
    ...standard,
    name: str,
    network_id: str,
    ip_version: { enum: [4, 6] },
    cidr: str,
    gateway_ip: nullableString,
    allocation_pools: { type: 'array', items: pool },
    dns_nameservers: strings,
    host_routes: { type: 'array', items: route },
    enable_dhcp: bool,
    ipv6_ra_mode: nullableString,
    ipv6_address_mode: nullableString,
    subnetpool_id: nullableString,
  },
);

export const port = object(
  [
    ...standardRequired,
    'name',
    'network_id',
    'mac_address',
    'admin_state_up',
    'status',
    'device_owner',
    'device_id',
    'fixed_ips',
    'security_groups',
    'port_security_enabled',
    'allowed_address_pairs',
  ],
  {
    ...standard,
    name: str,
    network_id: str,
    mac_address: { type: 'string', pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' },
    admin_state_up: bool,
    status: { enum: ['ACTIVE', 'DOWN', 'BUILD', 'ERROR'] },
    device_owner: str,
    device_id: str,
    fixed_ips: {
      type: 'array',
      items: object(['subnet_id', 'ip_address'], { subnet_id: str, ip_address: str }),
    },
    security_groups: strings,
    port_security_enabled: bool,
    allowed_address_pairs: {
      type: 'array',
      items: object(['ip_address', 'mac_address'], { ip_address: str, mac_address: str }),
    },
    'binding:host_id': str,
    'binding:vnic_type': str,
    'binding:vif_type': str,
  },
);

export const router = object(
  [...standardRequired, 'name', 'admin_state_up', 'status', 'external_gateway_info', 'routes'],
  {
    ...standard,
    name: str,
    admin_state_up: bool,
    status: str,
    external_gateway_info: {
      oneOf: [
        { type: 'null' },
        object(['network_id', 'enable_snat', 'external_fixed_ips'], {
          network_id: str,
          enable_snat: bool,
          external_fixed_ips: { type: 'array' },
        }),
      ],
    },
    routes: { type: 'array', items: route },
  },
);

export const securityGroupRule = object(
  [
    ...standardRequired,
    'security_group_id',
    'direction',
    'ethertype',
    'protocol',
    'port_range_min',
    'port_range_max',
    'remote_ip_prefix',
    'remote_group_id',
  ],
  {
    ...standard,
    security_group_id: str,
    direction: { enum: ['ingress', 'egress'] },
    ethertype: { enum: ['IPv4', 'IPv6'] },
    protocol: nullableString,
    port_range_min: nullableInt,
    port_range_max: nullableInt,
    remote_ip_prefix: nullableString,
    remote_group_id: nullableString,
  },
);

export const securityGroup = object(
  [...standardRequired, 'name', 'security_group_rules', 'stateful'],
  {
    ...standard,
    name: str,
    stateful: bool,
    security_group_rules: { type: 'array', items: securityGroupRule },
  },
);

export const floatingIp = object(
  [
    ...standardRequired,
    'floating_ip_address',
    'floating_network_id',
    'router_id',
    'port_id',
    'fixed_ip_address',
    'status',
  ],
  {
    ...standard,
    floating_ip_address: str,
    floating_network_id: str,
    router_id: nullableString,
    port_id: nullableString,
    fixed_ip_address: nullableString,
    status: { enum: ['ACTIVE', 'DOWN', 'ERROR'] },
    port_forwardings: { type: 'array' },
  },
);

export const networkResponse = one('network', network);
export const networkList = many('networks', network);
export const subnetResponse = one('subnet', subnet);
export const subnetList = many('subnets', subnet);
export const portResponse = one('port', port);
export const portList = many('ports', port);
export const routerResponse = one('router', router);
export const routerList = many('routers', router);
export const securityGroupResponse = one('security_group', securityGroup);
export const securityGroupList = many('security_groups', securityGroup);
export const securityGroupRuleResponse = one('security_group_rule', securityGroupRule);
export const floatingIpResponse = one('floatingip', floatingIp);
export const floatingIpList = many('floatingips', floatingIp);

export const routerInterfaceResponse = object(
  ['id', 'tenant_id', 'project_id', 'subnet_id', 'subnet_ids', 'port_id', 'network_id'],
  {
    id: str,
    tenant_id: str,
    project_id: str,
    subnet_id: str,
    subnet_ids: strings,
    port_id: str,
    network_id: str,
  },
);

const quotaNumbers = {
  network: int,
  subnet: int,
  port: int,
  router: int,
  floatingip: int,
  security_group: int,
  security_group_rule: int,
};
export const quotaResponse = one('quota', object(Object.keys(quotaNumbers), quotaNumbers));
const detail = object(['limit', 'used', 'reserved'], { limit: int, used: int, reserved: int });
export const quotaDetailResponse = one(
  'quota',
  object(
    Object.keys(quotaNumbers),
    Object.fromEntries(Object.keys(quotaNumbers).map((k) => [k, detail])),
  ),
);

export const ipAvailabilityList = many(
  'network_ip_availabilities',
  object(
    [
      'network_id',
      'network_name',
      'tenant_id',
      'project_id',
      'total_ips',
      'used_ips',
      'subnet_ip_availability',
    ],
    {
      network_id: str,
      network_name: str,
      tenant_id: str,
      project_id: str,
      total_ips: int,
      used_ips: int,
      subnet_ip_availability: {
        type: 'array',
        items: object(['subnet_id', 'subnet_name', 'cidr', 'ip_version', 'total_ips', 'used_ips'], {
          subnet_id: str,
          subnet_name: str,
          cidr: str,
          ip_version: int,
          total_ips: int,
          used_ips: int,
        }),
      },
    },
  ),
);

export const extensionList = many(
  'extensions',
  object(['alias', 'name', 'description', 'updated', 'links'], {
    alias: str,
    name: str,
    description: str,
    updated: str,
    links: { type: 'array' },
  }),
);

export const versionsResponse = object(['versions'], {
  versions: {
    type: 'array',
    minItems: 1,
    items: object(['id', 'status', 'links'], {
      id: str,
      status: str,
      links: { type: 'array', items: link },
    }),
  },
});

export const faultResponse: AnySchema = {
  type: 'object',
  required: ['NeutronError'],
  additionalProperties: false,
  properties: {
    NeutronError: object(['type', 'message', 'detail'], { type: str, message: str, detail: str }),
  },
};
