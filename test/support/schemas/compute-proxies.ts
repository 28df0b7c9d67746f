// JSON schemas of the Compute API's networking-era proxies and its image proxy, written from
// the Compute API reference (os-security-groups, os-security-group-rules, os-floating-ips,
// os-floating-ip-pools, images): every field the reference lists, required where it marks it
// required, and no others where its list is complete.
const uuid = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
};
const ipv4 = { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' };
const cidr = { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' };
const dateTime = { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$' };

export const securityGroupRule = {
  type: 'object',
  properties: {
    id: uuid,
    parent_group_id: uuid,
    ip_protocol: { type: ['string', 'null'] },
    from_port: { type: ['integer', 'null'], minimum: -1 },
    to_port: { type: ['integer', 'null'], minimum: -1 },
    ip_range: {
      type: 'object',
      properties: { cidr },
      additionalProperties: false,
    },
    group: {
      type: 'object',
      properties: { name: { type: 'string' }, tenant_id: { type: 'string' } },
      additionalProperties: false,
    },
  },
  required: ['id', 'parent_group_id', 'ip_protocol', 'from_port', 'to_port', 'ip_range', 'group'],
  additionalProperties: false,
} as const;

export const securityGroup = {
  type: 'object',
  properties: {
    id: uuid,
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    tenant_id: { type: 'string' },
    rules: { type: 'array', items: securityGroupRule },
  },
  required: ['id', 'name', 'description', 'tenant_id', 'rules'],
  additionalProperties: false,
} as const;

/** List Security Groups, and List Security Groups By Server. */
export const securityGroupList = {
  type: 'object',
  properties: { security_groups: { type: 'array', items: securityGroup } },
  required: ['security_groups'],
  additionalProperties: false,
} as const;

/** Show, Create and Update Security Group. */
export const securityGroupShow = {
  type: 'object',
  properties: { security_group: securityGroup },
  required: ['security_group'],
  additionalProperties: false,
} as const;

/** Create Security Group Rule. */
export const securityGroupRuleCreate = {
  type: 'object',
  properties: { security_group_rule: securityGroupRule },
  required: ['security_group_rule'],
  additionalProperties: false,
} as const;

export const floatingIp = {
  type: 'object',
  properties: {
    id: uuid,
    ip: ipv4,
    pool: { type: 'string' },
    fixed_ip: { anyOf: [ipv4, { type: 'null' }] },
    instance_id: { anyOf: [uuid, { type: 'null' }] },
  },
  required: ['id', 'ip', 'pool', 'fixed_ip', 'instance_id'],
  additionalProperties: false,
} as const;

/** List Floating Ip Addresses. */
export const floatingIpList = {
  type: 'object',
  properties: { floating_ips: { type: 'array', items: floatingIp } },
  required: ['floating_ips'],
  additionalProperties: false,
} as const;

/** Create (Allocate) and Show Floating Ip Address. */
export const floatingIpShow = {
  type: 'object',
  properties: { floating_ip: floatingIp },
  required: ['floating_ip'],
  additionalProperties: false,
} as const;

/** List Floating Ip Pools. */
export const floatingIpPoolList = {
  type: 'object',
  properties: {
    floating_ip_pools: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' } },
        required: ['name'],
        additionalProperties: false,
      },
    },
  },
  required: ['floating_ip_pools'],
  additionalProperties: false,
} as const;

const link = (rel: string, extra: Record<string, unknown> = {}, required: string[] = []) => ({
  type: 'object',
  properties: { rel: { const: rel }, href: { type: 'string', pattern: '^https?://' }, ...extra },
  required: ['rel', 'href', ...required],
  additionalProperties: false,
});

/** An image's links: self, bookmark, and the image in the Image API. */
const imageLinks = {
  type: 'array',
  items: [
    link('self'),
    link('bookmark'),
    link('alternate', { type: { const: 'application/vnd.openstack.image' } }, ['type']),
  ],
  minItems: 3,
  maxItems: 3,
} as const;

const collectionLinks = {
  type: 'array',
  items: link('next'),
} as const;

export const imageSummary = {
  type: 'object',
  properties: { id: uuid, name: { type: ['string', 'null'] }, links: imageLinks },
  required: ['id', 'name', 'links'],
  additionalProperties: false,
} as const;

export const imageDetail = {
  type: 'object',
  properties: {
    id: uuid,
    name: { type: ['string', 'null'] },
    links: imageLinks,
    minDisk: { type: 'integer', minimum: 0 },
    minRam: { type: 'integer', minimum: 0 },
    metadata: {
      type: 'object',
      patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': {} },
      additionalProperties: false,
    },
    created: dateTime,
    updated: { anyOf: [dateTime, { type: 'null' }] },
    status: { enum: ['ACTIVE', 'SAVING', 'DELETED', 'ERROR', 'UNKNOWN'] },
    progress: { enum: [0, 25, 50, 100] },
    server: { type: 'object' },
    'OS-EXT-IMG-SIZE:size': { type: 'integer' },
    'OS-DCF:diskConfig': { enum: ['AUTO', 'MANUAL'] },
  },
  required: [
    'id',
    'name',
    'links',
    'minDisk',
    'minRam',
    'metadata',
    'created',
    'updated',
    'status',
    'progress',
    'OS-EXT-IMG-SIZE:size',
  ],
  additionalProperties: false,
} as const;

/** List Images. */
export const imageList = {
  type: 'object',
  properties: {
    images: { type: 'array', items: imageSummary },
    images_links: collectionLinks,
  },
  required: ['images'],
  additionalProperties: false,
} as const;

/** List Images With Details. */
export const imageDetailList = {
  type: 'object',
  properties: {
    images: { type: 'array', items: imageDetail },
    images_links: collectionLinks,
  },
  required: ['images'],
  additionalProperties: false,
} as const;

/** Show Image Details. */
export const imageShow = {
  type: 'object',
  properties: { image: imageDetail },
  required: ['image'],
  additionalProperties: false,
} as const;

/** List Image Metadata. */
export const imageMetadataList = {
  type: 'object',
  properties: { metadata: { type: 'object', additionalProperties: { type: 'string' } } },
  required: ['metadata'],
  additionalProperties: false,
} as const;

/** Show Image Metadata Item: exactly one item. */
export const imageMetadataItem = {
  type: 'object',
  properties: {
    meta: {
      type: 'object',
      additionalProperties: { type: 'string' },
      minProperties: 1,
      maxProperties: 1,
    },
  },
  required: ['meta'],
  additionalProperties: false,
} as const;

/** A Compute fault: `{"<name>": {"code", "message"}}`. */
export const computeFault = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: {
    type: 'object',
    properties: { code: { type: 'integer' }, message: { type: 'string' } },
    required: ['code', 'message'],
    additionalProperties: false,
  },
} as const;
