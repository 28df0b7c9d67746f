// JSON schemas of the Compute API's server action responses, from the Compute API reference:
// rescue and rebuild answers, os-instance-actions (list and show, per microversion) and
// os-server-password. Each function takes the microversion's minor number (2.X).
const UUID = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const dateTime = { type: 'string', minLength: 1 } as const;
const nullableString = { type: ['string', 'null'] } as const;

/** An action as `GET /servers/{id}/os-instance-actions` lists it. */
function action(minor: number) {
  const properties: Record<string, unknown> = {
    action: { type: 'string' },
    instance_uuid: { type: 'string', pattern: UUID },
    message: nullableString,
    project_id: { type: 'string' },
    request_id: { type: 'string' },
    start_time: dateTime,
    user_id: nullableString,
  };
  if (minor >= 58) properties.updated_at = { type: ['string', 'null'] };
  return {
    type: 'object',
    required: Object.keys(properties),
    properties,
    additionalProperties: false,
  };
}

/** `GET /servers/{id}/os-instance-actions`: the actions, and a next link when paged (2.58+). */
export function instanceActionsList(minor: number) {
  return {
    type: 'object',
    required: ['instanceActions'],
    properties: {
      instanceActions: { type: 'array', items: action(minor) },
      ...(minor >= 58
        ? {
            links: {
              type: 'array',
              items: {
                type: 'object',
                required: ['href', 'rel'],
                properties: { href: { type: 'string' }, rel: { type: 'string' } },
              },
            },
          }
        : {}),
    },
    additionalProperties: false,
  };
}

/**
 * An event of an action: `traceback` for admins only; `host` (admins) and `hostId` from 2.62;
 * `details` from 2.84.
 */
function event(minor: number, admin: boolean) {
  const properties: Record<string, unknown> = {
    event: { type: 'string' },
    start_time: dateTime,
    finish_time: { type: ['string', 'null'] },
    result: { type: ['string', 'null'] },
  };
  if (admin) properties.traceback = nullableString;
  if (admin && minor >= 62) properties.host = { type: 'string' };
  if (minor >= 62) properties.hostId = { type: 'string' };
  if (minor >= 84) properties.details = nullableString;
  return {
    type: 'object',
    required: Object.keys(properties),
    properties,
    additionalProperties: false,
  };
}

/**
 * `GET /servers/{id}/os-instance-actions/{request_id}`: the action with its events, which
 * non-admins see from 2.51 on only.
 */
export function instanceActionShow(minor: number, admin: boolean) {
  const a = action(minor);
  const withEvents = admin || minor >= 51;
  return {
    type: 'object',
    required: ['instanceAction'],
    properties: {
      instanceAction: {
        ...a,
        required: [...a.required, ...(withEvents ? ['events'] : [])],
        properties: {
          ...a.properties,
          ...(withEvents ? { events: { type: 'array', items: event(minor, admin) } } : {}),
        },
      },
    },
    additionalProperties: false,
  };
}

/** `POST /servers/{id}/action` with `rescue`: the rescue boot's password. */
export const rescueResponse = {
  type: 'object',
  required: ['adminPass'],
  properties: { adminPass: { type: 'string' } },
  additionalProperties: false,
} as const;

/**
 * `POST /servers/{id}/action` with `rebuild`: the server (its full shape belongs to the server
 * schemas) with the fields the rebuild reference lists as required, and its new password.
 */
export const rebuildResponse = {
  type: 'object',
  required: ['server'],
  properties: {
    server: {
      type: 'object',
      required: [
        'id',
        'name',
        'status',
        'addresses',
        'image',
        'flavor',
        'metadata',
        'accessIPv4',
        'accessIPv6',
        'created',
        'updated',
        'hostId',
        'links',
        'tenant_id',
        'user_id',
        'progress',
        'OS-DCF:diskConfig',
        'adminPass',
      ],
      properties: {
        id: { type: 'string', pattern: UUID },
        name: { type: 'string' },
        status: { type: 'string' },
        adminPass: { type: 'string' },
        image: {
          oneOf: [
            { type: 'string' },
            { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          ],
        },
        metadata: { type: 'object', additionalProperties: { type: 'string' } },
        addresses: { type: 'object' },
      },
    },
  },
  additionalProperties: false,
} as const;

/** `GET /servers/{id}/os-server-password`: the encrypted password, '' when none was posted. */
export const serverPassword = {
  type: 'object',
  required: ['password'],
  properties: { password: { type: 'string' } },
  additionalProperties: false,
} as const;
