// JSON schemas of the Compute API's server responses, written from the API reference's
// response tables (Servers: create, list, list detail, show, update; server tags; extensions;
// versions) with the microversion each field appeared in. `minor` is the microversion's minor
// number (2.<minor>). Fields the reference marks optional (policy-dependent extended
// attributes, host_status, fault) are not required; where the reference's list is complete
// for the microversion, nothing else is allowed.
import type { AnySchema } from 'ajv';

type Props = Record<string, AnySchema>;

const str: AnySchema = { type: 'string' };
const strOrNull: AnySchema = { type: ['string', 'null'] };
const int: AnySchema = { type: 'integer' };
const link: AnySchema = {
  type: 'object',
  required: ['rel', 'href'],
  properties: { rel: str, href: str, type: str },
  additionalProperties: false,
};
const links: AnySchema = { type: 'array', items: link };
const uuid: AnySchema = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
};
const isoTime: AnySchema = {
  type: 'string',
  pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d',
};

function object(properties: Props, required: string[], closed = true): AnySchema {
  return {
    type: 'object',
    required,
    properties,
    ...(closed ? { additionalProperties: false } : {}),
  };
}

/** `addresses`: network name to its addresses (with type and MAC unless `plain`). */
function addresses(plain: boolean): AnySchema {
  const base: Props = { addr: str, version: { enum: [4, 6] } };
  const extended: Props = {
    ...base,
    'OS-EXT-IPS:type': { enum: ['fixed', 'floating'] },
    'OS-EXT-IPS-MAC:mac_addr': str,
  };
  return {
    type: 'object',
    additionalProperties: {
      type: 'array',
      items: plain ? object(base, ['addr', 'version']) : object(extended, Object.keys(extended)),
    },
  };
}

/** The flavor of a server: a link before 2.47, embedded from 2.47. */
function flavor(minor: number): AnySchema {
  if (minor < 47) return object({ id: str, links }, ['id', 'links']);
  return object(
    {
      vcpus: int,
      ram: int,
      disk: int,
      ephemeral: int,
      swap: int,
      original_name: str,
      extra_specs: { type: 'object', additionalProperties: str },
    },
    ['vcpus', 'ram', 'disk', 'ephemeral', 'swap', 'original_name'],
  );
}

export interface ServerSchemaOptions {
  /** The caller is an admin (the OS-EXT-SRV-ATTR fields are shown). */
  admin?: boolean;
  /** The answer of an update before 2.75 (the core fields only). */
  core?: boolean;
  /** `server_groups` is in the answer (show and update from 2.71). */
  serverGroups?: boolean;
}

/** One server as show, the detailed listing and update answer it at 2.<minor>. */
export function serverSchema(minor: number, o: ServerSchemaOptions = {}): AnySchema {
  const core = o.core === true;
  const props: Props = {
    id: uuid,
    name: str,
    links,
    status: {
      enum: [
        'ACTIVE',
        'BUILD',
        'DELETED',
        'ERROR',
        'HARD_REBOOT',
        'MIGRATING',
        'PASSWORD',
        'PAUSED',
        'REBOOT',
        'REBUILD',
        'RESCUE',
        'RESIZE',
        'REVERT_RESIZE',
        'SHELVED',
        'SHELVED_OFFLOADED',
        'SHUTOFF',
        'SOFT_DELETED',
        'SUSPENDED',
        'UNKNOWN',
        'VERIFY_RESIZE',
      ],
    },
    tenant_id: str,
    user_id: str,
    metadata: { type: 'object', additionalProperties: str },
    hostId: str,
    image: {
      oneOf: [{ type: 'string', maxLength: 0 }, object({ id: str, links }, ['id', 'links'])],
    },
    flavor: flavor(minor),
    created: isoTime,
    updated: isoTime,
    addresses: addresses(core),
    accessIPv4: str,
    accessIPv6: str,
    'OS-DCF:diskConfig': { enum: ['AUTO', 'MANUAL'] },
    progress: int,
    fault: object({ code: int, message: str, created: isoTime, details: str }, [
      'code',
      'message',
      'created',
    ]),
  };
  const required = [
    'id',
    'name',
    'links',
    'status',
    'tenant_id',
    'user_id',
    'metadata',
    'hostId',
    'image',
    'flavor',
    'created',
    'updated',
    'addresses',
    'accessIPv4',
    'accessIPv6',
    'OS-DCF:diskConfig',
    'progress',
  ];
  if (!core) {
    Object.assign(props, {
      'OS-EXT-AZ:availability_zone': str,
      config_drive: str,
      key_name: strOrNull,
      'OS-SRV-USG:launched_at': strOrNull,
      'OS-SRV-USG:terminated_at': strOrNull,
      security_groups: { type: 'array', items: object({ name: str }, ['name']) },
      'OS-EXT-STS:task_state': strOrNull,
      'OS-EXT-STS:vm_state': str,
      'OS-EXT-STS:power_state': int,
      'os-extended-volumes:volumes_attached': {
        type: 'array',
        items: object(
          { id: str, ...(minor >= 3 ? { delete_on_termination: { type: 'boolean' } } : {}) },
          ['id'],
        ),
      },
      'OS-EXT-SRV-ATTR:host': strOrNull,
      'OS-EXT-SRV-ATTR:hypervisor_hostname': strOrNull,
      'OS-EXT-SRV-ATTR:instance_name': str,
    });
    required.push(
      'OS-EXT-AZ:availability_zone',
      'config_drive',
      'key_name',
      'OS-SRV-USG:launched_at',
      'OS-SRV-USG:terminated_at',
      'OS-EXT-STS:task_state',
      'OS-EXT-STS:vm_state',
      'OS-EXT-STS:power_state',
      'os-extended-volumes:volumes_attached',
    );
    if (minor >= 3) {
      Object.assign(props, {
        'OS-EXT-SRV-ATTR:reservation_id': str,
        'OS-EXT-SRV-ATTR:launch_index': int,
        'OS-EXT-SRV-ATTR:kernel_id': str,
        'OS-EXT-SRV-ATTR:ramdisk_id': str,
        'OS-EXT-SRV-ATTR:hostname': str,
        'OS-EXT-SRV-ATTR:root_device_name': strOrNull,
        'OS-EXT-SRV-ATTR:user_data': strOrNull,
      });
    }
    if (o.admin) {
      required.push(
        'OS-EXT-SRV-ATTR:host',
        'OS-EXT-SRV-ATTR:hypervisor_hostname',
        'OS-EXT-SRV-ATTR:instance_name',
        ...(minor >= 3
          ? [
              'OS-EXT-SRV-ATTR:reservation_id',
              'OS-EXT-SRV-ATTR:launch_index',
              'OS-EXT-SRV-ATTR:kernel_id',
              'OS-EXT-SRV-ATTR:ramdisk_id',
              'OS-EXT-SRV-ATTR:hostname',
              'OS-EXT-SRV-ATTR:root_device_name',
              'OS-EXT-SRV-ATTR:user_data',
            ]
          : []),
      );
    }
    if (minor >= 90 && !o.admin) required.push('OS-EXT-SRV-ATTR:hostname');
    if (minor >= 16) props.host_status = { enum: ['UP', 'DOWN', 'MAINTENANCE', 'UNKNOWN', ''] };
  }
  if (minor >= 9) {
    props.locked = { type: 'boolean' };
    required.push('locked');
  }
  if (minor >= 19) {
    props.description = strOrNull;
    required.push('description');
  }
  if (minor >= 26) {
    props.tags = { type: 'array', items: str };
    required.push('tags');
  }
  if (minor >= 63) {
    props.trusted_image_certificates = { type: ['array', 'null'], items: str };
    required.push('trusted_image_certificates');
  }
  if (minor >= 71 && o.serverGroups) {
    props.server_groups = { type: 'array', items: str };
    required.push('server_groups');
  }
  if (minor >= 73) {
    props.locked_reason = strOrNull;
    required.push('locked_reason');
  }
  return object(props, required);
}

/** `GET /servers/{id}` (and `PUT`): `{"server": ...}`. */
export const serverBodySchema = (minor: number, o: ServerSchemaOptions = {}): AnySchema =>
  object({ server: serverSchema(minor, o) }, ['server']);

const serversLinks: AnySchema = { type: 'array', items: link };

/** `GET /servers/detail`. */
export const serverDetailListSchema = (minor: number, o: ServerSchemaOptions = {}): AnySchema =>
  object(
    { servers: { type: 'array', items: serverSchema(minor, o) }, servers_links: serversLinks },
    ['servers'],
  );

/** `GET /servers`: id, name and links of each. */
export const serverListSchema: AnySchema = object(
  {
    servers: {
      type: 'array',
      items: object({ id: uuid, name: str, links }, ['id', 'name', 'links']),
    },
    servers_links: serversLinks,
  },
  ['servers'],
);

/** `POST /servers`: the new server's id, links, disk config, groups and password. */
export const createServerSchema: AnySchema = object(
  {
    server: object(
      {
        id: uuid,
        links,
        'OS-DCF:diskConfig': { enum: ['AUTO', 'MANUAL'] },
        security_groups: { type: 'array', items: object({ name: str }, ['name']) },
        adminPass: str,
      },
      ['id', 'links', 'OS-DCF:diskConfig'],
    ),
  },
  ['server'],
);

/** `POST /servers` with `return_reservation_id`. */
export const reservationSchema: AnySchema = object(
  { reservation_id: { type: 'string', minLength: 1 } },
  ['reservation_id'],
);

/** `GET`/`PUT /servers/{id}/tags`. */
export const tagsSchema: AnySchema = object(
  { tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 60 } } },
  ['tags'],
);

/** `GET`/`POST`/`PUT /servers/{id}/metadata`. */
export const metadataSchema: AnySchema = object(
  { metadata: { type: 'object', additionalProperties: str } },
  ['metadata'],
);

/** `GET`/`PUT /servers/{id}/metadata/{key}`. */
export const metadataItemSchema: AnySchema = object(
  { meta: { type: 'object', additionalProperties: str, minProperties: 1, maxProperties: 1 } },
  ['meta'],
);

const extension = object(
  { alias: str, name: str, description: str, namespace: str, updated: isoTime, links },
  ['alias', 'name', 'description', 'namespace', 'updated', 'links'],
);

/** `GET /extensions` and `GET /extensions/{alias}`. */
export const extensionListSchema: AnySchema = object(
  { extensions: { type: 'array', items: extension } },
  ['extensions'],
);
export const extensionSchema: AnySchema = object({ extension }, ['extension']);

const versionEntry = (document: boolean): AnySchema =>
  object(
    {
      id: str,
      status: { enum: ['CURRENT', 'SUPPORTED', 'DEPRECATED'] },
      version: str,
      min_version: str,
      updated: isoTime,
      links,
      ...(document
        ? {
            'media-types': {
              type: 'array',
              items: object({ base: str, type: str }, ['base', 'type']),
            },
          }
        : {}),
    },
    ['id', 'status', 'version', 'min_version', 'updated', 'links'],
  );

/** `GET /` (every major version) and `GET /v2.1/` (one). */
export const versionListSchema: AnySchema = object(
  { versions: { type: 'array', items: versionEntry(false) } },
  ['versions'],
);
export const versionSchema: AnySchema = object({ version: versionEntry(true) }, ['version']);

/** A Compute fault: `{"<name>": {"code", "message"}}`. */
export const faultSchema = (name: string): AnySchema =>
  object({ [name]: object({ code: int, message: str, details: str }, ['code', 'message']) }, [
    name,
  ]);
