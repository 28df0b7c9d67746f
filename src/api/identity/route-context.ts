// What every Identity route shares: the caller's token, the policy checks (Keystone's
// defaults: an admin may do everything; a member or reader sees itself and its projects, and
// a reader changes nothing), the request's base URL, query and body readers that turn bad
// input into `invalid` errors, and list links.
import type { FastifyRequest } from 'fastify';
import { StratusError } from '../../errors.js';
import type { IdentityService, TokenInfo, TokenService } from '../../identity/index.js';
import type { CatalogEntry } from './views.js';

export type Json = Record<string, unknown>;

export interface RouteContext {
  tokens: TokenService;
  identity: IdentityService;
  catalog: () => Promise<CatalogEntry[]>;
}

/** `http://host:port`, as the request reached the API: for links. */
export const base = (request: FastifyRequest) =>
  `${request.protocol}://${request.headers.host ?? request.hostname}`;

export function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() !== '' ? s.trim() : undefined;
}

export function queryOf(request: FastifyRequest): Record<string, string> {
  return (request.query ?? {}) as Record<string, string>;
}

export function links(baseUrl: string, path: string) {
  return { self: `${baseUrl}${path}`, previous: null, next: null };
}

/** The caller's token, required: a missing or dead one is 401. */
export async function caller(ctx: RouteContext, request: FastifyRequest): Promise<TokenInfo> {
  const token = header(request, 'x-auth-token');
  if (!token) {
    throw new StratusError('unauthenticated', 'The request you have made requires authentication.');
  }
  return ctx.tokens.validate(token);
}

/** Scoped to a project, a domain or the system: such a token carries roles and the catalog. */
export const isScoped = (t: TokenInfo) => t.project !== null || t.domain !== null || t.system;

/**
 * A cloud admin: admin on the system, or on a project (Keystone's defaults let a project
 * admin act cloud-wide too). Admin on a domain (a domain-scoped token) is admin of that
 * domain only: see `requireDomainAccess`.
 */
export const isAdmin = (t: TokenInfo) =>
  t.roles.includes('admin') && (t.system || t.project !== null);

/** Holds member (or admin): may change what is its own. A reader only reads. */
export const canWrite = (t: TokenInfo) =>
  !isScoped(t) || t.roles.includes('member') || t.roles.includes('admin');

/** Keystone's refusal, naming the policy rule: `identity:list_users`. */
export function forbidden(rule: string): StratusError {
  const action = rule.replace(/^identity:/, '').replace(/_/g, ' ');
  return new StratusError('forbidden', `You are not authorized to ${action} (policy ${rule}).`, {
    resource: 'identity',
  });
}

/** Only an admin may: `identity:<action>` otherwise 403. */
export async function requireAdmin(
  ctx: RouteContext,
  request: FastifyRequest,
  action: string,
): Promise<TokenInfo> {
  const me = await caller(ctx, request);
  if (!isAdmin(me)) throw forbidden(action);
  return me;
}

/**
 * Who may manage (`write`) or read the users and projects of a domain (issue 14, Keystone's
 * domain-scoped policies): a cloud admin every domain (`domainId` undefined); a domain-scoped
 * token its own domain, with admin there to manage and any role to read. Anyone else, and
 * every project-scoped non-admin, is refused with 403 naming the rule.
 */
export async function requireDomainAccess(
  ctx: RouteContext,
  request: FastifyRequest,
  action: string,
  write: boolean,
): Promise<{ me: TokenInfo; domainId: string | undefined }> {
  const me = await caller(ctx, request);
  if (isAdmin(me)) return { me, domainId: undefined };
  if (me.domain && (!write || me.roles.includes('admin'))) return { me, domainId: me.domain.id };
  throw forbidden(action);
}

/** Refuses (403) a record outside the domain a domain-scoped caller is limited to. */
export function checkInDomain(
  access: { domainId: string | undefined },
  recordDomainId: string,
  action: string,
): void {
  if (access.domainId !== undefined && access.domainId !== recordDomainId) throw forbidden(action);
}

/** The user themself (a member, or any role when `read`), or an admin. */
export async function requireSelfOrAdmin(
  ctx: RouteContext,
  request: FastifyRequest,
  userId: string,
  action: string,
  read = false,
): Promise<TokenInfo> {
  const me = await caller(ctx, request);
  if (isAdmin(me)) return me;
  if (me.user.id !== userId || (!read && !canWrite(me))) throw forbidden(action);
  return me;
}

const bad = (message: string) => new StratusError('invalid', message, { resource: 'request' });

/** The request body's `key` object: `{"project": {...}}`. */
export function bodyObject(request: FastifyRequest, key: string): Json {
  const body = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad(`Expecting to find ${key} in request body.`);
  }
  const v = (body as Json)[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw bad(`Expecting to find ${key} in request body.`);
  }
  return v as Json;
}

export function str(o: Json, key: string, required: true): string;
export function str(o: Json, key: string, required?: false): string | undefined;
export function str(o: Json, key: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw bad(`Invalid input for field '${key}': '${key}' is a required property.`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`Invalid input for field '${key}': it must be a string.`);
  if (required && v === '') throw bad(`Invalid input for field '${key}': it must not be empty.`);
  return v;
}

export function bool(o: Json, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad(`Invalid input for field '${key}': it must be a boolean.`);
  return v;
}

export function strings(o: Json, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw bad(`Invalid input for field '${key}': it must be a list of strings.`);
  }
  return v as string[];
}

/** Ids in paths: 1-64 letters, digits, '-', '_' or '.'; anything else is 400. */
export function checkId(id: string, what: string): string {
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(id)) {
    throw new StratusError('invalid', `The ${what} id '${id}' is malformed.`, {
      resource: 'request',
      reason: 'malformed',
    });
  }
  return id;
}

/** A query flag as Keystone reads it: present and not 'false'/'0'. */
export function flag(request: FastifyRequest, name: string): boolean {
  const q = queryOf(request);
  if (!(name in q)) return false;
  const v = String(q[name]).toLowerCase();
  return v !== 'false' && v !== '0';
}
