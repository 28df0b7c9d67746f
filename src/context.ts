// The request context: who asks, for which project, under which request id. It travels
// with every bus message and every log line of a request.
import { randomUUID } from 'node:crypto';

/**
 * A role's name. `admin`, `member` and `reader` are built in (admin implies member, member
 * implies reader); operators may create more, which the APIs carry but do not interpret.
 */
export type Role = string;

export interface RequestContext {
  /** `req-` followed by a UUID; set at the API edge or by the service that starts the work. */
  readonly requestId: string;
  readonly userId: string | null;
  readonly projectId: string | null;
  readonly roles: readonly Role[];
}

export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/** The context of work a service starts on its own (periodic tasks, start-up). */
export function systemContext(requestId: string = newRequestId()): RequestContext {
  return Object.freeze({ requestId, userId: null, projectId: null, roles: ['admin'] as const });
}

export function userContext(args: {
  userId: string;
  projectId: string;
  roles: readonly Role[];
  requestId?: string;
}): RequestContext {
  return Object.freeze({
    requestId: args.requestId ?? newRequestId(),
    userId: args.userId,
    projectId: args.projectId,
    roles: Object.freeze([...args.roles]),
  });
}

export function isAdmin(ctx: RequestContext): boolean {
  return ctx.roles.includes('admin');
}

/**
 * Whether the caller may change things in its project (create, modify, delete, act on
 * instances): it holds `member` or `admin` (which implies it). `reader`, and roles the cloud
 * does not interpret, only look (issue 14); each API refuses their changes in one place.
 */
export function mayChange(ctx: RequestContext): boolean {
  return ctx.roles.includes('member') || ctx.roles.includes('admin');
}
