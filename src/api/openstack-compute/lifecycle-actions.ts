// The server actions beyond power (pause/unpause, suspend/resume, rescue/unrescue, rebuild,
// resize/confirmResize/revertResize, lock/unlock), the server's action records
// (`os-instance-actions`) and the password its guest posted (`os-server-password`).
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { InstanceActionRow, InstanceRow } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import type { LifecycleRequest } from './lifecycle-requests.js';
import { atLeast, type Microversion } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';
import { findServer } from './servers.js';
import { usageTime } from './views.js';

/**
 * The lock fields of a server's view: `locked` from 2.9, `locked_reason` from 2.73 (the
 * reason given to the lock action, or null).
 */
export function serverLockFields(
  inst: Pick<InstanceRow, 'lockedBy' | 'lockedReason'>,
  v: Microversion,
): { locked?: boolean; locked_reason?: string | null } {
  return {
    ...(atLeast(v, 9) ? { locked: inst.lockedBy !== null } : {}),
    ...(atLeast(v, 73) ? { locked_reason: inst.lockedReason } : {}),
  };
}

/** Runs one of the actions of lifecycle-requests.ts on `row` and answers as the API does. */
export async function runLifecycleAction(
  deps: RouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: RequestContext,
  row: InstanceRow,
  action: LifecycleRequest,
): Promise<unknown> {
  const { lifecycle, instances: ops } = deps.services;
  switch (action.kind) {
    case 'pause':
    case 'unpause':
    case 'suspend':
    case 'resume':
    case 'unrescue':
    case 'revertResize':
      await lifecycle[action.kind](ctx, row);
      return reply.code(202).send();
    case 'confirmResize':
      await lifecycle.confirmResize(ctx, row);
      return reply.code(204).send();
    case 'lock':
      await lifecycle.lock(ctx, row, action.reason);
      return reply.code(202).send();
    case 'unlock':
      await lifecycle.unlock(ctx, row);
      return reply.code(202).send();
    case 'rescue': {
      await lifecycle.rescue(ctx, row, action.imageRef);
      return reply.code(200).send({ adminPass: action.adminPass ?? newPassword() });
    }
    case 'resize': {
      const flavor = (await ops.flavors()).find((f) => f.id === action.flavorRef);
      if (!flavor) {
        throw invalid(`Unable to find flavor ${action.flavorRef}.`, {
          resource: 'flavor',
          id: action.flavorRef,
        });
      }
      await lifecycle.resize(ctx, row, flavor);
      return reply.code(202).send();
    }
    case 'rebuild': {
      await lifecycle.rebuild(ctx, row, action.imageRef, {
        keyName: action.keyName,
        userData: action.userData,
        metadata: action.metadata,
      });
      // The name and the addresses are what a server update changes: the update answers them.
      const headers = forwardHeaders(request);
      if (
        action.name !== undefined ||
        action.accessIpv4 !== undefined ||
        action.accessIpv6 !== undefined
      ) {
        const update = await request.server.inject({
          method: 'PUT',
          url: `/v2.1/servers/${row.id}`,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: JSON.stringify({
            server: {
              ...(action.name !== undefined ? { name: action.name } : {}),
              ...(action.accessIpv4 !== undefined ? { accessIPv4: action.accessIpv4 } : {}),
              ...(action.accessIpv6 !== undefined ? { accessIPv6: action.accessIpv6 } : {}),
            },
          }),
        });
        if (update.statusCode !== 200) {
          return reply.code(update.statusCode).type('application/json').send(update.body);
        }
      }
      // The server as a show of this microversion answers it, with its new password.
      const shown = await request.server.inject({
        method: 'GET',
        url: `/v2.1/servers/${row.id}`,
        headers,
      });
      const body = shown.json<{ server: Record<string, unknown> }>();
      return reply
        .code(202)
        .send({ server: { ...body.server, adminPass: action.adminPass ?? newPassword() } });
    }
  }
}

/** The caller's token and microversion, for requests made on its behalf. */
function forwardHeaders(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['x-auth-token', 'openstack-api-version', 'x-openstack-nova-api-version']) {
    const v = request.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/** Letters and digits a made-up password is drawn from (no look-alikes such as 0/O, 1/l). */
const PASSWORD_CHARS = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A password when the request gives none: 12 random characters. */
function newPassword(length = 12): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // Bytes past the last whole multiple of the alphabet would favour its first characters.
      if (b >= 256 - (256 % PASSWORD_CHARS.length)) continue;
      out += PASSWORD_CHARS[b % PASSWORD_CHARS.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * What each step a compute host records is, in the Compute API's words: the action a user
 * asked for and the event of the host's work on it. Steps recorded by the API itself (create,
 * lock, unlock) are actions; a host's step in the same request is an event of that action.
 */
const HOST_STEPS: Readonly<Record<string, { action: string; event: string }>> = {
  spawn: { action: 'create', event: 'compute__do_build_and_run_instance' },
  terminate: { action: 'delete', event: 'compute_terminate_instance' },
  reboot: { action: 'reboot', event: 'compute_reboot_instance' },
  'reboot-hard': { action: 'reboot', event: 'compute_reboot_instance' },
  stop: { action: 'stop', event: 'compute_stop_instance' },
  start: { action: 'start', event: 'compute_start_instance' },
  pause: { action: 'pause', event: 'compute_pause_instance' },
  unpause: { action: 'unpause', event: 'compute_unpause_instance' },
  suspend: { action: 'suspend', event: 'compute_suspend_instance' },
  resume: { action: 'resume', event: 'compute_resume_instance' },
  rebuild: { action: 'rebuild', event: 'compute_rebuild_instance' },
  resize: { action: 'resize', event: 'compute_resize_instance' },
  'confirm-resize': { action: 'confirmResize', event: 'compute_confirm_resize' },
  'revert-resize': { action: 'revertResize', event: 'compute_revert_resize' },
  rescue: { action: 'rescue', event: 'compute_rescue_instance' },
  unrescue: { action: 'unrescue', event: 'compute_unrescue_instance' },
  createImage: { action: 'createImage', event: 'compute_snapshot_instance' },
};

/** One action as the Compute API shows it: a request's records on one instance. */
interface ShownAction {
  requestId: string;
  action: string;
  userId: string | null;
  projectId: string | null;
  startedAt: number;
  updatedAt: number;
  failed: boolean;
  events: InstanceActionRow[];
}

/** The records of one instance grouped by request, newest first. */
export function groupActions(rows: readonly InstanceActionRow[]): ShownAction[] {
  const byRequest = new Map<string, InstanceActionRow[]>();
  for (const r of rows) byRequest.set(r.requestId, [...(byRequest.get(r.requestId) ?? []), r]);
  const out: ShownAction[] = [];
  for (const [requestId, group] of byRequest) {
    const own = group.find((r) => HOST_STEPS[r.action] === undefined);
    const first = own ?? (group[0] as InstanceActionRow);
    const steps = group.filter((r) => HOST_STEPS[r.action] !== undefined);
    out.push({
      requestId,
      action: own?.action ?? HOST_STEPS[first.action]?.action ?? first.action,
      userId: first.userId,
      projectId: first.projectId,
      startedAt: Math.min(...group.map((r) => r.startedAt)),
      updatedAt: Math.max(...group.map((r) => r.finishedAt ?? r.startedAt)),
      failed: group.some((r) => r.result === 'error'),
      events: steps,
    });
  }
  return out.sort((a, b) => b.startedAt - a.startedAt || (a.requestId < b.requestId ? 1 : -1));
}

function actionView(a: ShownAction, inst: InstanceRow, v: Microversion) {
  return {
    action: a.action,
    instance_uuid: inst.id,
    message: a.failed ? 'Error' : null,
    project_id: a.projectId ?? inst.projectId,
    request_id: a.requestId,
    start_time: usageTime(a.startedAt),
    user_id: a.userId,
    ...(atLeast(v, 58) ? { updated_at: usageTime(a.updatedAt) } : {}),
  };
}

function eventView(
  e: InstanceActionRow,
  inst: InstanceRow,
  v: Microversion,
  admin: boolean,
): Record<string, unknown> {
  const host = inst.host ?? '';
  return {
    event: HOST_STEPS[e.action]?.event ?? e.action,
    start_time: usageTime(e.startedAt),
    finish_time: usageTime(e.finishedAt),
    result: e.result === null ? null : e.result === 'success' ? 'Success' : 'Error',
    ...(admin ? { traceback: e.message } : {}),
    ...(admin && atLeast(v, 62) ? { host } : {}),
    ...(atLeast(v, 62)
      ? {
          hostId: host ? createHash('sha224').update(`${inst.projectId}${host}`).digest('hex') : '',
        }
      : {}),
    ...(atLeast(v, 84) ? { details: e.result === 'error' ? e.message : null } : {}),
  };
}

/** An ISO 8601 time of a query parameter, in milliseconds. */
function queryTime(name: string, value: string): number {
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(ms)) {
    throw invalid(
      `Invalid input for query parameters ${name}. Value: ${value}. It is not a date-time.`,
      {
        resource: 'request',
      },
    );
  }
  return ms;
}

export function lifecycleRoutes(deps: RouteDeps): void {
  const { app, services, caller, base } = deps;
  const ops = services.instances;

  /** The server, deleted ones included from 2.21 on (their actions stay readable). */
  const serverOf = async (ctx: RequestContext, id: string, v: Microversion) => {
    if (!atLeast(v, 21)) return findServer(ops, ctx, id);
    const row = (await ops.list(ctx, { idPrefixes: [id.toLowerCase()] })).find(
      (r) => r.id === id.toLowerCase(),
    );
    if (!row) throw notFound('instance', id, `Instance ${id} could not be found.`);
    return row;
  };

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/os-instance-actions', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const inst = await serverOf(ctx, request.params.id, v);
    let shown = groupActions(await services.lifecycle.actions(inst));
    if (!atLeast(v, 58)) return { instanceActions: shown.map((a) => actionView(a, inst, v)) };
    const q = queryOf(request);
    const allowed = [
      'limit',
      'marker',
      'changes-since',
      ...(atLeast(v, 66) ? ['changes-before'] : []),
    ];
    const extra = Object.keys(q).filter((k) => !allowed.includes(k));
    if (extra.length > 0) {
      throw invalid(
        `Invalid input for query parameters ${extra.join(', ')}: additional properties are not allowed.`,
        {
          resource: 'request',
        },
      );
    }
    const since =
      q['changes-since'] === undefined ? undefined : queryTime('changes-since', q['changes-since']);
    const before =
      q['changes-before'] === undefined
        ? undefined
        : queryTime('changes-before', q['changes-before']);
    if (since !== undefined && before !== undefined && before < since) {
      throw invalid('The value of changes-since must be less than or equal to changes-before.', {
        resource: 'request',
      });
    }
    if (since !== undefined) shown = shown.filter((a) => a.updatedAt >= since);
    if (before !== undefined) shown = shown.filter((a) => a.updatedAt <= before);
    if (q.marker !== undefined) {
      const at = shown.findIndex((a) => a.requestId === q.marker);
      if (at < 0) throw invalid(`Marker ${q.marker} could not be found.`, { resource: 'marker' });
      shown = shown.slice(at + 1);
    }
    const limit = q.limit === undefined ? 1000 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 0) {
      throw invalid(
        `Invalid input for query parameters limit. Value: ${q.limit}. It must be a non-negative integer.`,
        {
          resource: 'limit',
        },
      );
    }
    const page = shown.slice(0, limit);
    const out: Record<string, unknown> = {
      instanceActions: page.map((a) => actionView(a, inst, v)),
    };
    if (shown.length > page.length && page.length > 0) {
      const next = new URLSearchParams({
        ...q,
        limit: String(limit),
        marker: (page[page.length - 1] as ShownAction).requestId,
      });
      out.links = [
        {
          rel: 'next',
          href: `${base(request)}/v2.1/servers/${inst.id}/os-instance-actions?${next.toString()}`,
        },
      ];
    }
    return out;
  });

  app.get<{ Params: { id: string; requestId: string } }>(
    '/v2.1/servers/:id/os-instance-actions/:requestId',
    async (request) => {
      const ctx = await caller(request);
      const v = request.microversion;
      const inst = await serverOf(ctx, request.params.id, v);
      const found = groupActions(await services.lifecycle.actions(inst)).find(
        (a) => a.requestId === request.params.requestId,
      );
      if (!found) {
        throw notFound(
          'instance',
          request.params.requestId,
          `Action ${request.params.requestId} not found`,
        );
      }
      const admin = isAdmin(ctx);
      // Before 2.51 only admins see the events; from 2.51 everyone who sees the server does.
      const events = admin || atLeast(v, 51);
      return {
        instanceAction: {
          ...actionView(found, inst, v),
          ...(events ? { events: found.events.map((e) => eventView(e, inst, v, admin)) } : {}),
        },
      };
    },
  );

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/os-server-password', async (request) => {
    const ctx = await caller(request);
    const inst = await findServer(ops, ctx, request.params.id);
    const { data } = await ops.passwordData(inst);
    return { password: data ?? '' };
  });

  app.delete<{ Params: { id: string } }>(
    '/v2.1/servers/:id/os-server-password',
    async (request, reply) => {
      const ctx = await caller(request);
      const inst = await findServer(ops, ctx, request.params.id);
      await services.lifecycle.clearPassword(ctx, inst);
      return reply.code(204).send();
    },
  );
}
