// The JSON schemas the Image API publishes at /v2/schemas/*: what an image and a member are,
// which of their properties the server sets (readOnly), and, through `additionalProperties`,
// that any other property of an image is a custom one with a string value. Clients read them
// to validate what they send and to tell core properties from custom ones.
import { CONTAINER_FORMATS, DISK_FORMATS } from './formats.js';
import { VISIBILITIES } from './properties.js';

const UUID_PATTERN =
  '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

const readOnly = (schema: Record<string, unknown>, description: string) => ({
  ...schema,
  readOnly: true,
  description,
});

/** GET /v2/schemas/image. */
export function imageSchema() {
  return {
    name: 'image',
    properties: {
      id: { type: 'string', pattern: UUID_PATTERN, description: 'An identifier for the image' },
      name: {
        type: ['null', 'string'],
        maxLength: 255,
        description: 'Descriptive name for the image',
      },
      status: readOnly(
        {
          type: 'string',
          enum: [
            'queued',
            'saving',
            'active',
            'killed',
            'deleted',
            'uploading',
            'importing',
            'pending_delete',
            'deactivated',
          ],
        },
        'Status of the image',
      ),
      visibility: {
        type: 'string',
        enum: [...VISIBILITIES],
        description: 'Scope of image accessibility',
      },
      protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
      os_hidden: {
        type: 'boolean',
        description: 'If true, image will not appear in default image list response.',
      },
      checksum: readOnly(
        { type: ['null', 'string'], maxLength: 32 },
        'md5 hash of image contents.',
      ),
      os_hash_algo: readOnly(
        { type: ['null', 'string'], maxLength: 64 },
        'Algorithm to calculate the os_hash_value',
      ),
      os_hash_value: readOnly(
        { type: ['null', 'string'], maxLength: 128 },
        'Hexdigest of the image contents using the algorithm specified by the os_hash_algo',
      ),
      owner: {
        type: ['null', 'string'],
        maxLength: 255,
        description: 'Owner of the image',
      },
      size: readOnly({ type: ['null', 'integer'] }, 'Size of image file in bytes'),
      virtual_size: readOnly({ type: ['null', 'integer'] }, 'Virtual size of image in bytes'),
      container_format: {
        type: ['null', 'string'],
        enum: [null, ...CONTAINER_FORMATS],
        description: 'Format of the container',
      },
      disk_format: {
        type: ['null', 'string'],
        enum: [null, ...DISK_FORMATS],
        description: 'Format of the disk',
      },
      created_at: readOnly({ type: 'string' }, 'Date and time of image registration'),
      updated_at: readOnly({ type: 'string' }, 'Date and time of the last image modification'),
      tags: {
        type: 'array',
        items: { type: 'string', maxLength: 255 },
        description: 'List of strings related to the image',
      },
      min_ram: {
        type: 'integer',
        description: 'Amount of ram (in MB) required to boot image.',
      },
      min_disk: {
        type: 'integer',
        description: 'Amount of disk space (in GB) required to boot image.',
      },
      self: readOnly({ type: 'string' }, 'An image self url'),
      file: readOnly({ type: 'string' }, 'An image file url'),
      stores: readOnly({ type: 'string' }, 'Store in which image data resides.'),
      schema: readOnly({ type: 'string' }, 'An image schema url'),
      architecture: {
        type: 'string',
        description: 'Operating system architecture as specified in the image metadata',
      },
      description: { type: 'string', description: 'A description of the image' },
      kernel_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description:
          'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
      },
      ramdisk_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description:
          'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
      },
    },
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** GET /v2/schemas/images. */
export function imagesSchema() {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** GET /v2/schemas/member. */
export function memberSchema() {
  return {
    name: 'member',
    properties: {
      created_at: { type: 'string', description: 'Date and time of image member creation' },
      image_id: {
        type: 'string',
        pattern: UUID_PATTERN,
        description: 'An identifier for the image',
      },
      member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
      schema: { type: 'string', readOnly: true },
      status: {
        type: 'string',
        enum: ['pending', 'accepted', 'rejected'],
        description: 'The status of this image member',
      },
      updated_at: {
        type: 'string',
        description: 'Date and time of last modification of image member',
      },
    },
  };
}

/** GET /v2/schemas/members. */
export function membersSchema() {
  return {
    name: 'members',
    properties: {
      members: { type: 'array', items: memberSchema() },
      schema: { type: 'string' },
    },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}
