// JSON schemas of the Image API v2's responses, written from the published API reference
// (Image API v2: Show image, List images, Image members, Import info, Stores info): every
// field the reference lists, with its type, `required` for those it always shows, and custom
// properties (anything else on an image) as strings, which the reference allows.
const nullable = (type: string) => ({ type: [type, 'null'] });
const time = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(Z|[+-]\\d{2}:\\d{2})$',
};

/** Show image (GET /v2/images/{id}), and each image of a listing, create and update. */
export const imageSchema = {
  type: 'object',
  required: [
    'id',
    'name',
    'status',
    'visibility',
    'protected',
    'os_hidden',
    'checksum',
    'os_hash_algo',
    'os_hash_value',
    'owner',
    'size',
    'virtual_size',
    'container_format',
    'disk_format',
    'created_at',
    'updated_at',
    'tags',
    'min_disk',
    'min_ram',
    'self',
    'file',
    'schema',
  ],
  properties: {
    id: {
      type: 'string',
      pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
    },
    name: nullable('string'),
    status: {
      enum: [
        'queued',
        'saving',
        'uploading',
        'importing',
        'active',
        'deactivated',
        'killed',
        'deleted',
        'pending_delete',
      ],
    },
    visibility: { enum: ['public', 'private', 'shared', 'community'] },
    protected: { type: 'boolean' },
    os_hidden: { type: 'boolean' },
    checksum: { type: ['string', 'null'], maxLength: 32 },
    os_hash_algo: nullable('string'),
    os_hash_value: nullable('string'),
    owner: nullable('string'),
    size: nullable('integer'),
    virtual_size: nullable('integer'),
    container_format: nullable('string'),
    disk_format: nullable('string'),
    created_at: time,
    updated_at: time,
    tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    min_disk: { type: 'integer', minimum: 0 },
    min_ram: { type: 'integer', minimum: 0 },
    self: { type: 'string' },
    file: { type: 'string' },
    schema: { const: '/v2/schemas/image' },
    direct_url: { type: 'string' },
    locations: { type: 'array' },
    stores: { type: 'string' },
  },
  additionalProperties: { type: 'string' },
} as const;

/** List images (GET /v2/images). */
export const imageListSchema = {
  type: 'object',
  required: ['images', 'first', 'schema'],
  properties: {
    images: { type: 'array', items: imageSchema },
    first: { type: 'string' },
    next: { type: 'string' },
    schema: { const: '/v2/schemas/images' },
  },
  additionalProperties: false,
} as const;

/** An image member (create, show, update). */
export const memberSchema = {
  type: 'object',
  required: ['image_id', 'member_id', 'status', 'created_at', 'updated_at', 'schema'],
  properties: {
    image_id: { type: 'string' },
    member_id: { type: 'string' },
    status: { enum: ['pending', 'accepted', 'rejected'] },
    created_at: time,
    updated_at: time,
    schema: { const: '/v2/schemas/member' },
  },
  additionalProperties: false,
} as const;

export const memberListSchema = {
  type: 'object',
  required: ['members', 'schema'],
  properties: {
    members: { type: 'array', items: memberSchema },
    schema: { const: '/v2/schemas/members' },
  },
  additionalProperties: false,
} as const;

/** Import method discovery (GET /v2/info/import). */
export const importInfoSchema = {
  type: 'object',
  required: ['import-methods'],
  properties: {
    'import-methods': {
      type: 'object',
      required: ['description', 'type', 'value'],
      properties: {
        description: { type: 'string' },
        type: { const: 'array' },
        value: { type: 'array', items: { type: 'string' } },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

/** Store discovery (GET /v2/info/stores). */
export const storesInfoSchema = {
  type: 'object',
  required: ['stores'],
  properties: {
    stores: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'description'],
        properties: {
          id: { type: 'string' },
          description: { type: 'string' },
          default: { type: 'boolean' },
          read_only: { type: 'boolean' },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

/** An Image API error: `{"error": {"code", "title", "message"}}`. */
export const imageErrorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'title', 'message'],
      properties: {
        code: { type: 'integer', minimum: 400, maximum: 499 },
        title: { type: 'string' },
        message: { type: 'string', minLength: 1 },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;
