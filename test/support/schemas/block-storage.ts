// JSON schemas of the Block Storage API v3 responses Stratus serves, at microversion 3.0,
// written from the API reference (docs.openstack.org/api-ref/block-storage/v3): volumes
// (summary and detail), volume types, limits and the version document. Fields the reference
// marks optional are not required; admin-only fields appear only for admins.
import type { AnySchema } from 'ajv';

const nullableString = { type: ['string', 'null'] };
const link = {
  type: 'object',
  required: ['href', 'rel'],
  properties: { href: { type: 'string' }, rel: { type: 'string' } },
};
const links = { type: 'array', items: link };

const attachment = {
  type: 'object',
  required: ['server_id', 'attachment_id', 'volume_id', 'id', 'device'],
  properties: {
    server_id: { type: 'string' },
    attachment_id: { type: 'string' },
    attached_at: nullableString,
    host_name: nullableString,
    volume_id: { type: 'string' },
    device: nullableString,
    id: { type: 'string' },
  },
  additionalProperties: false,
};

export const volumeDetail: AnySchema = {
  type: 'object',
  required: [
    'id',
    'name',
    'description',
    'status',
    'size',
    'availability_zone',
    'created_at',
    'updated_at',
    'volume_type',
    'snapshot_id',
    'source_volid',
    'metadata',
    'links',
    'user_id',
    'bootable',
    'encrypted',
    'replication_status',
    'consistencygroup_id',
    'multiattach',
    'attachments',
  ],
  properties: {
    id: { type: 'string' },
    name: nullableString,
    description: nullableString,
    status: {
      enum: [
        'creating',
        'available',
        'reserved',
        'attaching',
        'detaching',
        'in-use',
        'maintenance',
        'deleting',
        'awaiting-transfer',
        'error',
        'error_deleting',
        'backing-up',
        'restoring-backup',
        'error_backing-up',
        'error_restoring',
        'error_extending',
        'downloading',
        'uploading',
        'retyping',
        'extending',
      ],
    },
    size: { type: 'integer', minimum: 1 },
    availability_zone: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: nullableString,
    volume_type: nullableString,
    snapshot_id: nullableString,
    source_volid: nullableString,
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    links,
    user_id: { type: 'string' },
    bootable: { enum: ['true', 'false'] },
    volume_image_metadata: { type: 'object', additionalProperties: { type: 'string' } },
    encrypted: { type: 'boolean' },
    replication_status: nullableString,
    consistencygroup_id: nullableString,
    multiattach: { type: 'boolean' },
    attachments: { type: 'array', items: attachment },
    migration_status: nullableString,
    'os-vol-tenant-attr:tenant_id': { type: 'string' },
    'os-vol-host-attr:host': nullableString,
    'os-vol-mig-status-attr:migstat': nullableString,
    'os-vol-mig-status-attr:name_id': nullableString,
  },
  additionalProperties: false,
};

export const volumeResponse: AnySchema = {
  type: 'object',
  required: ['volume'],
  properties: { volume: volumeDetail },
  additionalProperties: false,
};

export const volumeDetailList: AnySchema = {
  type: 'object',
  required: ['volumes'],
  properties: { volumes: { type: 'array', items: volumeDetail }, volumes_links: links },
  additionalProperties: false,
};

export const volumeSummaryList: AnySchema = {
  type: 'object',
  required: ['volumes'],
  properties: {
    volumes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'name', 'links'],
        properties: { id: { type: 'string' }, name: nullableString, links },
        additionalProperties: false,
      },
    },
    volumes_links: links,
  },
  additionalProperties: false,
};

const volumeType = {
  type: 'object',
  required: ['id', 'name', 'is_public', 'extra_specs'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: nullableString,
    is_public: { type: 'boolean' },
    'os-volume-type-access:is_public': { type: 'boolean' },
    extra_specs: { type: 'object', additionalProperties: { type: 'string' } },
    qos_specs_id: nullableString,
  },
  additionalProperties: false,
};

export const volumeTypeList: AnySchema = {
  type: 'object',
  required: ['volume_types'],
  properties: { volume_types: { type: 'array', items: volumeType } },
  additionalProperties: false,
};

export const volumeTypeResponse: AnySchema = {
  type: 'object',
  required: ['volume_type'],
  properties: { volume_type: volumeType },
  additionalProperties: false,
};

const count = { type: 'integer' };
export const limitsResponse: AnySchema = {
  type: 'object',
  required: ['limits'],
  properties: {
    limits: {
      type: 'object',
      required: ['rate', 'absolute'],
      properties: {
        rate: { type: 'array' },
        absolute: {
          type: 'object',
          required: [
            'maxTotalVolumes',
            'maxTotalVolumeGigabytes',
            'maxTotalSnapshots',
            'maxTotalBackups',
            'maxTotalBackupGigabytes',
            'totalVolumesUsed',
            'totalGigabytesUsed',
            'totalSnapshotsUsed',
            'totalBackupsUsed',
            'totalBackupGigabytesUsed',
          ],
          additionalProperties: count,
        },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

export const versionsResponse: AnySchema = {
  type: 'object',
  required: ['versions'],
  properties: {
    versions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'status', 'version', 'min_version', 'updated', 'links'],
        properties: {
          id: { type: 'string' },
          status: { enum: ['CURRENT', 'SUPPORTED', 'DEPRECATED'] },
          version: { type: 'string' },
          min_version: { type: 'string' },
          updated: { type: 'string' },
          links,
          'media-types': { type: 'array' },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

/** A fault: one key naming it, with the status code and a message. */
export const faultResponse: AnySchema = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: {
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'integer' }, message: { type: 'string' } },
    additionalProperties: false,
  },
};

/** A snapshot at 3.0 (list, detail and show alike); the extended attributes for admins. */
export const snapshotDetail: AnySchema = {
  type: 'object',
  required: [
    'id',
    'name',
    'description',
    'status',
    'size',
    'volume_id',
    'created_at',
    'updated_at',
    'metadata',
  ],
  properties: {
    id: { type: 'string' },
    name: nullableString,
    description: nullableString,
    status: {
      enum: [
        'creating',
        'available',
        'backing-up',
        'deleting',
        'error',
        'deleted',
        'unmanaging',
        'restoring',
        'error_deleting',
      ],
    },
    size: { type: 'integer' },
    volume_id: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: nullableString,
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    'os-extended-snapshot-attributes:project_id': { type: 'string' },
    'os-extended-snapshot-attributes:progress': { type: 'string' },
  },
  additionalProperties: false,
};

export const snapshotResponse: AnySchema = {
  type: 'object',
  required: ['snapshot'],
  properties: { snapshot: snapshotDetail },
  additionalProperties: false,
};

export const snapshotList: AnySchema = {
  type: 'object',
  required: ['snapshots'],
  properties: { snapshots: { type: 'array', items: snapshotDetail }, snapshots_links: links },
  additionalProperties: false,
};
