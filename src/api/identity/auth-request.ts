// The body of POST /v3/auth/tokens, checked: which methods (password, token,
// application_credential), who, and the scope (a project by id, or by name in a domain named
// by id or name; a domain by id or name; the system; or none). Anything malformed is an `invalid` error naming the field; whether
// the user, domain and project exist is the token service's to say (one 401 for all).
import { StratusError } from '../../errors.js';
import type { TokenCredential, TokenScope } from '../../identity/index.js';

export interface TokenRequest {
  credentials: TokenCredential[];
  scope: TokenScope | null;
}

type Json = Record<string, unknown>;

const bad = (message: string) => new StratusError('invalid', message, { resource: 'token' });

function object(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw bad(`Expecting to find an object in ${field}.`);
  }
  return v as Json;
}

function optionalString(o: Json, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw bad(`${field}.${key} must be a non-empty string.`);
  return v;
}

/** An `{id}` or `{name, domain}` reference. */
function reference(
  o: Json,
  field: string,
): { id?: string; name?: string; domain?: { id?: string; name?: string } } {
  const id = optionalString(o, 'id', field);
  const name = optionalString(o, 'name', field);
  if (!id && !name) throw bad(`${field} must have an id or a name.`);
  if (id) return { id };
  if (o.domain === undefined) throw bad(`${field} is named, so it must name its domain too.`);
  const d = object(o.domain, `${field}.domain`);
  const did = optionalString(d, 'id', `${field}.domain`);
  const dname = optionalString(d, 'name', `${field}.domain`);
  if (!did && !dname) throw bad(`${field}.domain must have an id or a name.`);
  return { name: name as string, domain: did ? { id: did } : { name: dname as string } };
}

export function parseTokenRequest(body: unknown): TokenRequest {
  const auth = object(object(body, 'the request body').auth, 'auth');
  const identity = object(auth.identity, 'auth.identity');
  const methods = identity.methods;
  if (!Array.isArray(methods) || methods.length === 0) {
    throw bad('auth.identity.methods must be a non-empty list.');
  }
  const credentials: TokenCredential[] = [];
  for (const m of new Set(methods)) {
    if (m === 'password') {
      const user = object(
        object(identity.password, 'auth.identity.password').user,
        'auth.identity.password.user',
      );
      const password = user.password;
      if (typeof password !== 'string' || password === '') {
        throw bad('auth.identity.password.user.password must be a non-empty string.');
      }
      credentials.push({
        method: 'password',
        user: reference(user, 'auth.identity.password.user'),
        password,
      });
    } else if (m === 'token') {
      const token = object(identity.token, 'auth.identity.token');
      const id = optionalString(token, 'id', 'auth.identity.token');
      if (!id) throw bad('auth.identity.token.id must be a non-empty string.');
      credentials.push({ method: 'token', token: id });
    } else if (m === 'application_credential') {
      const field = 'auth.identity.application_credential';
      const ac = object(identity.application_credential, field);
      const secret = optionalString(ac, 'secret', field);
      if (!secret) throw bad(`${field}.secret must be a non-empty string.`);
      const id = optionalString(ac, 'id', field);
      const name = optionalString(ac, 'name', field);
      if (!id && !name) throw bad(`${field} must have an id or a name.`);
      if (id) credentials.push({ method: 'application_credential', id, secret });
      else {
        if (ac.user === undefined) throw bad(`${field} is named, so it must name its user too.`);
        const user = reference(object(ac.user, `${field}.user`), `${field}.user`);
        credentials.push({ method: 'application_credential', name, user, secret });
      }
    } else {
      throw new StratusError(
        'unauthenticated',
        `The authentication method '${String(m)}' is not supported; use password, token or application_credential.`,
        { resource: 'token' },
      );
    }
  }
  const scope = auth.scope;
  if (scope === undefined || scope === 'unscoped') return { credentials, scope: null };
  const s = object(scope, 'auth.scope');
  const kinds = ['project', 'domain', 'system'].filter((k) => s[k] !== undefined);
  if (kinds.length !== 1) {
    throw bad('auth.scope must name exactly one of a project, a domain or the system.');
  }
  if (s.domain !== undefined) {
    const d = object(s.domain, 'auth.scope.domain');
    const id = optionalString(d, 'id', 'auth.scope.domain');
    const name = optionalString(d, 'name', 'auth.scope.domain');
    if (!id && !name) throw bad('auth.scope.domain must have an id or a name.');
    return { credentials, scope: id ? { kind: 'domain', id } : { kind: 'domain', name } };
  }
  if (s.system !== undefined) {
    // Keystone's one system scope: {"system": {"all": true}}.
    if (object(s.system, 'auth.scope.system').all !== true) {
      throw bad('auth.scope.system must be {"all": true}.');
    }
    return { credentials, scope: { kind: 'system' } };
  }
  return {
    credentials,
    scope: reference(object(s.project, 'auth.scope.project'), 'auth.scope.project'),
  };
}
