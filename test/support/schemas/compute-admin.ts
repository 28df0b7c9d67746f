// JSON schemas of the Compute API's admin resources, from the published API reference
// (Compute API v2.1: flavors, flavor extra specs, flavor access, os-hypervisors, os-services,
// os-availability-zone, os-aggregates, os-quota-sets, os-quota-class-sets, limits,
// os-simple-tenant-usage). Each function takes the microversion's minor number where the
// reference lists fields that appear or go with it.
import type { AnySchema } from 'ajv';

const link = {
  type: 'object',
  required: ['rel', 'href'],
  properties: { rel: { type: 'string' }, href: { type: 'string' } },
};
const links = { type: 'array', items: link };
const int = { type: 'integer' };
const str = { type: 'string' };
const nullableStr = { type: ['string', 'null'] };
const uuid = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
};

function object(props: Record<string, unknown>, required = Object.keys(props)): AnySchema {
  return { type: 'object', required, properties: props, additionalProperties: false };
}

/** A flavor of GET /flavors (id, name, links; description from 2.55). */
export function flavorSummary(minor: number): AnySchema {
  return object({
    id: str,
    name: str,
    links,
    ...(minor >= 55 ? { description: nullableStr } : {}),
  });
}

/** A flavor of the detail listing, show, create and update. */
export function flavor(minor: number): AnySchema {
  return object({
    id: str,
    name: str,
    links,
    ram: int,
    vcpus: int,
    disk: int,
    'OS-FLV-EXT-DATA:ephemeral': int,
    'OS-FLV-DISABLED:disabled': { type: 'boolean' },
    // An empty string for no swap through 2.74; an integer from 2.75.
    swap: minor >= 75 ? int : { anyOf: [int, { const: '' }] },
    rxtx_factor: { type: 'number' },
    'os-flavor-access:is_public': { type: 'boolean' },
    ...(minor >= 55 ? { description: nullableStr } : {}),
    ...(minor >= 61
      ? { extra_specs: { type: 'object', additionalProperties: { type: 'string' } } }
      : {}),
  });
}

export function flavorList(minor: number, detail: boolean): AnySchema {
  return object(
    {
      flavors: { type: 'array', items: detail ? flavor(minor) : flavorSummary(minor) },
      flavors_links: links,
    },
    ['flavors'],
  );
}

export const extraSpecs: AnySchema = object({
  extra_specs: { type: 'object', additionalProperties: { type: 'string' } },
});

export const flavorAccess: AnySchema = object({
  flavor_access: {
    type: 'array',
    items: object({ flavor_id: str, tenant_id: str }),
  },
});

/** A service of os-services: integer ids before 2.53, UUIDs from it; forced_down from 2.11. */
export function service(minor: number): AnySchema {
  return object({
    id: minor >= 53 ? uuid : int,
    binary: str,
    host: str,
    zone: str,
    status: { enum: ['enabled', 'disabled'] },
    state: { enum: ['up', 'down'] },
    updated_at: nullableStr,
    disabled_reason: nullableStr,
    ...(minor >= 11 ? { forced_down: { type: 'boolean' } } : {}),
  });
}

export function serviceList(minor: number): AnySchema {
  return object({ services: { type: 'array', items: service(minor) } });
}

const hypervisorServer = object({ uuid: str, name: str });

/** A hypervisor of the list (summary) or of detail and show, in the microversion's shape. */
export function hypervisor(minor: number, detail: boolean, withServers = false): AnySchema {
  const base: Record<string, unknown> = {
    id: minor >= 53 ? str : int,
    hypervisor_hostname: str,
    state: { enum: ['up', 'down'] },
    status: { enum: ['enabled', 'disabled'] },
  };
  const servers = withServers ? { servers: { type: 'array', items: hypervisorServer } } : {};
  if (!detail) return object({ ...base, ...servers }, Object.keys(base));
  const common = {
    hypervisor_type: str,
    hypervisor_version: int,
    host_ip: nullableStr,
    service: object({
      host: str,
      id: minor >= 53 ? nullableStr : { type: ['integer', 'null'] },
      disabled_reason: nullableStr,
    }),
  };
  if (minor >= 88) {
    const props = { ...base, ...common, uptime: nullableStr, ...servers };
    return object(props, Object.keys({ ...base, ...common, uptime: null }));
  }
  const figures = {
    vcpus: int,
    memory_mb: int,
    local_gb: int,
    vcpus_used: int,
    memory_mb_used: int,
    local_gb_used: int,
    free_ram_mb: int,
    free_disk_gb: int,
    current_workload: int,
    running_vms: int,
    disk_available_least: { type: ['integer', 'null'] },
    cpu_info: minor >= 28 ? { type: 'object' } : str,
  };
  const props = { ...base, ...common, ...figures, ...servers };
  return object(props, Object.keys({ ...base, ...common, ...figures }));
}

export function hypervisorList(minor: number, detail: boolean, withServers = false): AnySchema {
  return object(
    {
      hypervisors: { type: 'array', items: hypervisor(minor, detail, withServers) },
      ...(minor >= 33 ? { hypervisors_links: links } : {}),
    },
    ['hypervisors'],
  );
}

export const hypervisorStatistics: AnySchema = object({
  hypervisor_statistics: object({
    count: int,
    vcpus: int,
    memory_mb: int,
    local_gb: int,
    vcpus_used: int,
    memory_mb_used: int,
    local_gb_used: int,
    free_ram_mb: int,
    free_disk_gb: int,
    current_workload: int,
    running_vms: int,
    disk_available_least: int,
  }),
});

const zoneState = object({ available: { type: 'boolean' } });
export const availabilityZones: AnySchema = object({
  availabilityZoneInfo: {
    type: 'array',
    items: object({ zoneName: str, zoneState, hosts: { type: 'null' } }),
  },
});
export const availabilityZonesDetail: AnySchema = object({
  availabilityZoneInfo: {
    type: 'array',
    items: object({
      zoneName: str,
      zoneState,
      hosts: {
        type: ['object', 'null'],
        additionalProperties: {
          type: 'object',
          additionalProperties: object({
            available: { type: 'boolean' },
            active: { type: 'boolean' },
            updated_at: nullableStr,
          }),
        },
      },
    }),
  },
});

/** An aggregate; create answers it without hosts and metadata. uuid from 2.41. */
export function aggregate(minor: number, full = true): AnySchema {
  return object({
    availability_zone: nullableStr,
    created_at: str,
    deleted: { type: 'boolean' },
    deleted_at: { type: 'null' },
    ...(full
      ? {
          hosts: { type: 'array', items: str },
          metadata: { type: 'object', additionalProperties: str },
        }
      : {}),
    id: int,
    name: str,
    updated_at: nullableStr,
    ...(minor >= 41 ? { uuid: uuid } : {}),
  });
}

/** The quota names of a quota set at a microversion (2.36 drops network ones, 2.57 files). */
export function quotaKeys(minor: number): string[] {
  return [
    'cores',
    'instances',
    'key_pairs',
    'metadata_items',
    'ram',
    'server_groups',
    'server_group_members',
    ...(minor < 36 ? ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'] : []),
    ...(minor < 57
      ? ['injected_file_content_bytes', 'injected_file_path_bytes', 'injected_files']
      : []),
  ];
}

/** The quota names of a class set: before 2.50 the network ones and no server groups. */
export function quotaClassKeys(minor: number): string[] {
  return [
    'cores',
    'instances',
    'key_pairs',
    'metadata_items',
    'ram',
    ...(minor >= 50
      ? ['server_groups', 'server_group_members']
      : ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups']),
    ...(minor < 57
      ? ['injected_file_content_bytes', 'injected_file_path_bytes', 'injected_files']
      : []),
  ];
}

/** A quota set (show, defaults: with `id`; update: without), or its detail. */
export function quotaSet(minor: number, opts: { id: boolean; detail?: boolean }): AnySchema {
  const value = opts.detail ? object({ in_use: int, limit: int, reserved: int }) : int;
  return object({
    quota_set: object({
      ...(opts.id ? { id: str } : {}),
      ...Object.fromEntries(quotaKeys(minor).map((k) => [k, value])),
    }),
  });
}

export function quotaClassSet(minor: number, withId: boolean): AnySchema {
  return object({
    quota_class_set: object({
      ...(withId ? { id: str } : {}),
      ...Object.fromEntries(quotaClassKeys(minor).map((k) => [k, int])),
    }),
  });
}

/** GET /limits: `rate` and `absolute`, whose network fields go at 2.36, personality at 2.57. */
export function limits(minor: number): AnySchema {
  const absolute = [
    'maxServerMeta',
    'maxImageMeta',
    'maxTotalKeypairs',
    'maxTotalInstances',
    'maxTotalCores',
    'maxTotalRAMSize',
    'maxServerGroups',
    'maxServerGroupMembers',
    'totalInstancesUsed',
    'totalCoresUsed',
    'totalRAMUsed',
    'totalServerGroupsUsed',
    ...(minor < 57 ? ['maxPersonality', 'maxPersonalitySize'] : []),
    ...(minor < 36
      ? [
          'maxSecurityGroups',
          'maxSecurityGroupRules',
          'maxTotalFloatingIps',
          'totalFloatingIpsUsed',
          'totalSecurityGroupsUsed',
        ]
      : []),
  ];
  return object({
    limits: object({
      rate: { type: 'array' },
      absolute: object(Object.fromEntries(absolute.map((k) => [k, int]))),
    }),
  });
}

const serverUsage = object({
  instance_id: str,
  name: str,
  hours: { type: 'number' },
  memory_mb: int,
  local_gb: int,
  vcpus: int,
  tenant_id: str,
  flavor: str,
  started_at: str,
  ended_at: nullableStr,
  state: str,
  uptime: int,
});

/** One project's usage; server_usages only when detailed. */
export function tenantUsage(detailed: boolean): AnySchema {
  const props = {
    tenant_id: str,
    total_hours: { type: 'number' },
    total_vcpus_usage: { type: 'number' },
    total_memory_mb_usage: { type: 'number' },
    total_local_gb_usage: { type: 'number' },
    start: str,
    stop: str,
    ...(detailed ? { server_usages: { type: 'array', items: serverUsage } } : {}),
  };
  return object(props);
}

export function tenantUsageList(minor: number, detailed: boolean): AnySchema {
  return object(
    {
      tenant_usages: { type: 'array', items: tenantUsage(detailed) },
      ...(minor >= 40 ? { tenant_usages_links: links } : {}),
    },
    ['tenant_usages'],
  );
}
