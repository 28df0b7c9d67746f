// The body of POST /v3/auth/tokens, checked: which methods (password, token), who, and the
// scope (a project by id, or by name in the default domain; or none). Anything malformed is
// an `invalid` error naming the field; a user may be named in any domain the cloud has (the
// default one, an LDAP one), projects only in the default one; an unknown domain cannot
// authenticate.
import { StratusError } from '../../errors.js';
import type { IdentityDomain, ProjectScope, TokenCredential } from '../../identity/index.js';
import { DOMAIN } from './views.js';

export interface TokenRequest {
  credentials: TokenCredential[];
  scope: ProjectScope | null;
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

/** An `{id}` or `{name, domain}` reference; the domain must be one of `domains`. */
function reference(
  o: Json,
  field: string,
  domains: readonly IdentityDomain[] = [DOMAIN],
): { id?: string; name?: string; domain?: string } {
  const id = optionalString(o, 'id', field);
  const name = optionalString(o, 'name', field);
  if (!id && !name) throw bad(`${field} must have an id or a name.`);
  if (!id) {
    if (o.domain === undefined) throw bad(`${field} is named, so it must name its domain too.`);
    const d = object(o.domain, `${field}.domain`);
    const did = optionalString(d, 'id', `${field}.domain`);
    const dname = optionalString(d, 'name', `${field}.domain`);
    if (!did && !dname) throw bad(`${field}.domain must have an id or a name.`);
    const domain = domains.find(
      (d) => (did === undefined || d.id === did) && (dname === undefined || d.name === dname),
    );
    if (!domain) {
      const known = domains.map((d) => `'${d.id}' (${d.name})`).join(', ');
      throw new StratusError(
        'unauthenticated',
        `Could not find domain: ${did ?? dname}; the domains are ${known}.`,
        { resource: 'domain' },
      );
    }
    if (!id && domain.id !== DOMAIN.id) return { name: name as string, domain: domain.id };
  }
  return id ? { id } : { name: name as string };
}

/** `domains`: those users may name (projects are in the default one). */
export function parseTokenRequest(
  body: unknown,
  domains: readonly IdentityDomain[] = [DOMAIN],
): TokenRequest {
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
        user: reference(user, 'auth.identity.password.user', domains),
        password,
      });
    } else if (m === 'token') {
      const token = object(identity.token, 'auth.identity.token');
      const id = optionalString(token, 'id', 'auth.identity.token');
      if (!id) throw bad('auth.identity.token.id must be a non-empty string.');
      credentials.push({ method: 'token', token: id });
    } else {
      throw new StratusError(
        'unauthenticated',
        `The authentication method '${String(m)}' is not supported; use password or token.`,
        { resource: 'token' },
      );
    }
  }
  const scope = auth.scope;
  if (scope === undefined || scope === 'unscoped') return { credentials, scope: null };
  const s = object(scope, 'auth.scope');
  if (s.project === undefined) {
    throw bad('auth.scope must name a project: domain and system scopes are not offered.');
  }
  return {
    credentials,
    scope: reference(object(s.project, 'auth.scope.project'), 'auth.scope.project'),
  };
}
