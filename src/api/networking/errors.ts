// Networking API faults: `{"NeutronError": {"type": "NetworkNotFound", "message": "...",
// "detail": ""}}`, the type and status from the domain error's kind (and, where the API names
// the thing, its resource and reason), in one table.
import {
  asStratusError,
  type ErrorKind,
  type ErrorReason,
  type ErrorResource,
} from '../../errors.js';
import { frameworkRefusal } from '../openstack/error-json.js';

export interface NetworkFault {
  status: number;
  body: Record<string, unknown>;
}

/** Per kind: the status, the type when nothing finer matches. */
const FAULTS: Readonly<Record<ErrorKind, { type: string; status: number }>> = {
  not_found: { type: 'HTTPNotFound', status: 404 },
  already_exists: { type: 'Conflict', status: 409 },
  invalid: { type: 'InvalidInput', status: 400 },
  missing: { type: 'HTTPBadRequest', status: 400 },
  conflict: { type: 'Conflict', status: 409 },
  over_quota: { type: 'OverQuota', status: 409 },
  forbidden: { type: 'HTTPForbidden', status: 403 },
  unauthenticated: { type: 'HTTPUnauthorized', status: 401 },
  unavailable: { type: 'ServiceUnavailable', status: 503 },
  internal: { type: 'HTTPInternalServerError', status: 500 },
};

/** The API's own names for a missing thing. */
const NOT_FOUND: Partial<Record<ErrorResource, string>> = {
  network: 'NetworkNotFound',
  subnet: 'SubnetNotFound',
  port: 'PortNotFound',
  router: 'RouterNotFound',
  security_group: 'SecurityGroupNotFound',
  security_group_rule: 'SecurityGroupRuleNotFound',
  floating_ip: 'FloatingIPNotFound',
  address: 'FloatingIPNotFound',
  allocation: 'FloatingIPNotFound',
  association: 'FloatingIPNotFound',
  instance: 'PortNotFound',
  project: 'HTTPNotFound',
};

/** The API's own names for a thing still in use or taken. */
const IN_USE: Partial<Record<ErrorResource, string>> = {
  network: 'NetworkInUse',
  subnet: 'SubnetInUse',
  port: 'PortInUse',
  router: 'RouterInUse',
  security_group: 'SecurityGroupInUse',
  address: 'IpAddressInUse',
};

/** A few reasons that have a name whatever the resource. */
const BY_REASON: Partial<Record<ErrorReason, { type: string; status: number }>> = {
  address_in_use: { type: 'IpAddressInUse', status: 409 },
  no_address: { type: 'IpAddressGenerationFailure', status: 409 },
  no_external_gateway: { type: 'ExternalGatewayForFloatingIPNotFound', status: 404 },
};

/**
 * Neutron's BadRequest (`Bad <resource> request: ...`) rather than InvalidInput: a floating IP
 * asked of a network that is not external, a router's gateway on one, and a `limit` that is
 * not a whole number (the quota limits, also resource `limit`, stay InvalidInput: they carry
 * no reason).
 */
function badRequest(e: { resource: ErrorResource | undefined; reason: ErrorReason | undefined }) {
  return (
    e.resource === 'floating_ip' ||
    e.reason === 'not_external' ||
    (e.resource === 'limit' && e.reason === 'malformed')
  );
}

const NAMES_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'HTTPBadRequest',
  401: 'HTTPUnauthorized',
  403: 'HTTPForbidden',
  404: 'HTTPNotFound',
  405: 'HTTPMethodNotAllowed',
  406: 'HTTPNotAcceptable',
  409: 'Conflict',
  413: 'HTTPRequestEntityTooLarge',
  415: 'HTTPUnsupportedMediaType',
  503: 'ServiceUnavailable',
};

const INTERNAL_MESSAGE = 'Request Failed: internal server error while processing your request.';

export function networkFault(status: number, message: string, type?: string): NetworkFault {
  // A refused token gets the Identity-style body, as keystonemiddleware answers in front of it.
  if (status === 401) {
    return { status, body: { error: { code: 401, title: 'Unauthorized', message } } };
  }
  return {
    status,
    body: {
      NeutronError: {
        type: type ?? NAMES_BY_STATUS[status] ?? 'HTTPInternalServerError',
        message,
        detail: '',
      },
    },
  };
}

/** Whatever a handler threw, as the Networking API shows it. */
export function toNetworkFault(err: unknown): NetworkFault {
  const refusal = frameworkRefusal(err);
  if (refusal) return networkFault(refusal.status, refusal.message);
  const e = asStratusError(err);
  const base = FAULTS[e.kind];
  let { type, status } = base;
  const byReason = e.reason ? BY_REASON[e.reason] : undefined;
  if (e.kind === 'not_found' && e.resource && NOT_FOUND[e.resource]) {
    type = NOT_FOUND[e.resource] as string;
  } else if (byReason && (e.kind === 'conflict' || e.kind === 'unavailable')) {
    ({ type, status } = byReason);
  } else if (e.kind === 'invalid' && badRequest(e)) {
    type = 'BadRequest';
  } else if (e.kind === 'invalid' && e.reason === 'query') {
    // A filter or sort Neutron does not know is its HTTPBadRequest.
    type = 'HTTPBadRequest';
  } else if (e.kind === 'conflict' && e.reason === 'in_use' && e.resource && IN_USE[e.resource]) {
    type = IN_USE[e.resource] as string;
  }
  return networkFault(status, e.kind === 'internal' ? INTERNAL_MESSAGE : e.message, type);
}

/** Every kind's fault, for the test that checks the table is complete. */
export const NETWORK_FAULT_TABLE = FAULTS;
