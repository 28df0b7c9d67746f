// Reading a Networking API request body: the one resource object it carries and its typed
// attributes, each refused with Neutron's wording when it has the wrong shape.
import { invalid, StratusError } from '../../errors.js';

export type Body = Record<string, unknown>;

export function adminOnly(key: string): StratusError {
  return new StratusError(
    'forbidden',
    `(rule:create_network:${key}) is disallowed by policy: only an admin may set ${key}.`,
    {
      resource: 'parameter',
      id: key,
    },
  );
}

export function obj(value: unknown, what: string): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object.`, { resource: 'request' });
  }
  return value as Body;
}

/** The body's one resource object (`{"network": {...}}`), with only these attributes. */
export function resource(body: unknown, name: string, allowed: readonly string[]): Body {
  const outer = obj(body, 'The request body');
  const inner = outer[name];
  if (inner === undefined) {
    if (Array.isArray(outer[`${name}s`])) {
      throw invalid(`Creating many ${name}s in one request is not supported here.`, {
        resource: 'request',
        reason: 'unsupported',
      });
    }
    throw invalid(`Resource body required: the request body must have a '${name}' object.`, {
      resource: 'request',
    });
  }
  const b = obj(inner, name);
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw invalid(`Unrecognized attribute(s) '${unknown.join(', ')}'`, {
      resource: 'parameter',
      id: unknown[0],
      reason: 'unrecognized',
    });
  }
  return b;
}

export function str(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw invalid(
      `Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a valid string.`,
      {
        resource: 'parameter',
        id: key,
      },
    );
  }
  return v;
}

export function required(v: string | undefined, key: string): string {
  if (v === undefined || v === '') {
    throw new StratusError(
      'missing',
      `Failed to parse request. Required attribute '${key}' not specified.`,
      {
        resource: 'parameter',
        id: key,
      },
    );
  }
  return v;
}

export function bool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalid(
    `Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a valid boolean value.`,
    {
      resource: 'parameter',
      id: key,
    },
  );
}

export function int(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d{1,9}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw invalid(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not an integer.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return n;
}

export function list(b: Body, key: string): unknown[] | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    throw invalid(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a list.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return v;
}

export function strings(b: Body, key: string): string[] | undefined {
  return list(b, key)?.map((v) => {
    if (typeof v !== 'string') {
      throw invalid(`Invalid input for ${key}: every item must be a string.`, {
        resource: 'parameter',
        id: key,
      });
    }
    return v;
  });
}

export function routes(b: Body): { destination: string; nexthop: string }[] | undefined {
  return list(b, 'host_routes')?.map((r) => {
    const o = obj(r, 'host_routes');
    return {
      destination: required(str(o, 'destination'), 'host_routes.destination'),
      nexthop: required(str(o, 'nexthop'), 'host_routes.nexthop'),
    };
  });
}

/** The project an admin names in the body, if any. */
export function project(b: Body): string | undefined {
  return str(b, 'project_id') ?? str(b, 'tenant_id');
}
