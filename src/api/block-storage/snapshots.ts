// Volume snapshots in the Block Storage API at 3.0: `/v3/snapshots` and `/detail` (list with
// `all_tenants` for admins, `name`, `status`, `volume_id`, `limit` and `marker`, newest first),
// create, show, update (name and description), delete, and for admins the `os-reset_status`
// action. The same snapshots as EC2's: a project's own, and another's only when shared with it
// through EC2's createVolumePermission (Cinder has no sharing of its own).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { SnapshotRow, SnapshotStatus } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { SNAPSHOT_STATUSES } from '../../volume/index.js';
import type { ApiServices } from '../services.js';
import { objectOf, optionalText, pageOf } from './requests.js';
import { snapshotView } from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type IdParams = { Params: { id: string } };

/** The snapshot with exactly this id that the caller may see (its own, shared or public). */
export async function findSnapshot(
  services: ApiServices,
  ctx: RequestContext,
  id: string,
): Promise<SnapshotRow> {
  const missing = () => notFound('snapshot', id, `Snapshot ${id} could not be found.`);
  if (!UUID.test(id)) throw missing();
  const [row] = await services.snapshots.list(ctx, { idPrefixes: [id] });
  if (!row || row.id !== id) throw missing();
  return row;
}

export function snapshotRoutes(
  app: FastifyInstance,
  services: ApiServices,
  caller: (request: FastifyRequest) => Promise<RequestContext>,
  base: (request: FastifyRequest) => string,
): void {
  const { snapshots, volumes } = services;
  const view = (request: FastifyRequest, ctx: RequestContext, row: SnapshotRow) =>
    snapshotView(base(request), row, { admin: isAdmin(ctx) });

  const list = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = (request.query ?? {}) as Record<string, string | undefined>;
    const all = isAdmin(ctx) && ['1', 'true', 'True'].includes(q['all_tenants'] ?? '');
    // A project lists its own snapshots, as Cinder does; shared ones are shown by id.
    let rows = await snapshots.list(ctx, { allProjects: all, ownOnly: true });
    if (q['name'] !== undefined) rows = rows.filter((r) => r.name === q['name']);
    if (q['status'] !== undefined) rows = rows.filter((r) => r.status === q['status']);
    if (q['volume_id'] !== undefined) rows = rows.filter((r) => r.volumeId === q['volume_id']);
    rows = rows.reverse();
    const { page, links } = pageOf(
      rows,
      q,
      'snapshots',
      `${base(request)}/v3/snapshots${detail ? '/detail' : ''}`,
    );
    return { snapshots: page.map((r) => view(request, ctx, r)), ...links };
  };
  app.get('/v3/snapshots', (request) => list(request, false));
  app.get('/v3/snapshots/detail', (request) => list(request, true));

  app.post('/v3/snapshots', async (request, reply) => {
    const ctx = await caller(request);
    const body = objectOf(objectOf(request.body, 'The request body')['snapshot'], 'snapshot');
    const volumeId = body['volume_id'];
    if (typeof volumeId !== 'string' || volumeId === '') {
      throw new StratusError('missing', 'The snapshot needs the volume_id of its volume.', {
        resource: 'parameter',
        id: 'volume_id',
      });
    }
    const metadata = body['metadata'];
    if (
      metadata !== undefined &&
      metadata !== null &&
      !(typeof metadata === 'object' && Object.keys(metadata).length === 0)
    ) {
      throw invalid('Snapshot metadata is not kept here yet.', {
        resource: 'parameter',
        id: 'metadata',
        reason: 'unsupported',
      });
    }
    const force = body['force'];
    if (
      force !== undefined &&
      typeof force !== 'boolean' &&
      !/^(true|false)$/i.test(String(force))
    ) {
      throw invalid('force must be true or false.', { resource: 'parameter', id: 'force' });
    }
    const missing = () => notFound('volume', volumeId, `Volume ${volumeId} could not be found.`);
    if (!UUID.test(volumeId)) throw missing();
    const [volume] = await volumes.list(ctx, { idPrefixes: [volumeId] });
    if (!volume || volume.id !== volumeId) throw missing();
    // As Cinder before 3.66: a volume in use is copied only with `force` (crash consistent).
    const row = await snapshots.create(ctx, volume, volumeId, {
      inUse: force === true || /^true$/i.test(String(force)),
      name: optionalText(body['name'] ?? body['display_name'], 'name'),
      description: optionalText(body['description'] ?? body['display_description'], 'description'),
    });
    reply.code(202);
    return { snapshot: view(request, ctx, row) };
  });

  app.get<IdParams>('/v3/snapshots/:id', async (request) => {
    const ctx = await caller(request);
    return { snapshot: view(request, ctx, await findSnapshot(services, ctx, request.params.id)) };
  });

  app.put<IdParams>('/v3/snapshots/:id', async (request) => {
    const ctx = await caller(request);
    const row = await findSnapshot(services, ctx, request.params.id);
    const body = objectOf(objectOf(request.body, 'The request body')['snapshot'], 'snapshot');
    const nullableText = (key: string) => {
      const value = body[key] !== undefined ? body[key] : body[`display_${key}`];
      return value === null ? null : optionalText(value, key);
    };
    const changed = await snapshots.rename(ctx, row, {
      name: nullableText('name'),
      description: nullableText('description'),
    });
    return { snapshot: view(request, ctx, changed) };
  });

  app.delete<IdParams>('/v3/snapshots/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findSnapshot(services, ctx, request.params.id);
    await snapshots.delete(ctx, row, row.id);
    reply.code(202);
    return '';
  });

  app.post<IdParams>('/v3/snapshots/:id/action', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findSnapshot(services, ctx, request.params.id);
    const body = objectOf(request.body, 'The request body');
    const [action, ...others] = Object.keys(body);
    if (action === undefined || others.length > 0) {
      throw invalid('The request body must name exactly one action.', { resource: 'request' });
    }
    const args = objectOf(body[action], action);
    if (action !== 'os-reset_status') {
      throw invalid(`The snapshot action '${action}' is not supported here.`, {
        resource: 'request',
        reason: 'unsupported',
      });
    }
    const status = args['status'];
    if (typeof status !== 'string' || !(SNAPSHOT_STATUSES as readonly string[]).includes(status)) {
      throw invalid(`The status must be one of ${SNAPSHOT_STATUSES.join(', ')}.`, {
        resource: 'parameter',
        id: 'status',
      });
    }
    await snapshots.resetStatus(ctx, row, status as SnapshotStatus);
    reply.code(202);
    return '';
  });
}
