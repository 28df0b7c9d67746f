// The Block Storage API's attachments (`/v3/attachments`, microversion 3.27; `os-complete` at
// 3.44) over Stratus's attachments: a volume is held by at most one instance, and that hold is
// the attachment, whose id is the volume's (as `attachment_id` in a volume's `attachments`).
//
// Cinder's attachments are bookkeeping for a compute service that connects the volume itself:
// create reserves the volume (and, given a connector, returns how to connect), the compute
// service connects, then `os-complete` marks it attached. Here the cloud does every step: a
// create with an `instance_uuid` is a real attach, the same as Compute's os-volume_attachments
// (the volume is `attaching`, then `in-use` once the instance's host has hot-plugged it), the
// connector is not needed (the instance's host connects over NBD) and is ignored, update answers
// with the attachment, `os-complete` is accepted (the attach completes by itself) and delete
// detaches. A reservation without an instance, which only a compute service would make, is
// refused.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { VolumeRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import type { ApiServices } from '../services.js';
import { findServer } from './attach-actions.js';
import { objectOf, pageOf } from './requests.js';
import { volumeTime } from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The microversion that brought attachments, and the one that brought `os-complete`. */
export const ATTACHMENTS_VERSION = '3.27';
export const COMPLETE_VERSION = '3.44';

type IdParams = { Params: { id: string } };

/** An attachment's status from its volume's. */
function attachmentStatus(v: VolumeRow): string {
  switch (v.status) {
    case 'attaching':
      return 'attaching';
    case 'detaching':
      return 'detaching';
    default:
      return 'attached';
  }
}

function summaryView(v: VolumeRow): Record<string, unknown> {
  return {
    id: v.id,
    status: attachmentStatus(v),
    instance: v.instanceId,
    volume_id: v.id,
  };
}

function detailView(v: VolumeRow): Record<string, unknown> {
  return {
    ...summaryView(v),
    attached_at: v.attachedAt === null ? null : volumeTime(v.attachedAt),
    detached_at: null,
    attach_mode: 'rw',
    // The instance's host connects to the volume itself; nothing is handed to the caller.
    connection_info: {},
  };
}

export function attachmentRoutes(
  app: FastifyInstance,
  services: ApiServices,
  caller: (request: FastifyRequest) => Promise<RequestContext>,
  base: (request: FastifyRequest) => string,
  atLeast: (request: FastifyRequest, version: string, what: string) => void,
): void {
  const { volumes } = services;

  /** The volumes the caller may see that an instance holds (every project's with `all`). */
  const held = async (ctx: RequestContext, all: boolean) =>
    (await volumes.list(ctx, { allProjects: all })).filter((v) => v.instanceId !== null);

  /** The attachment with this id (its volume's id) that the caller may see. */
  const find = async (ctx: RequestContext, id: string) => {
    const missing = () => notFound('attachment', id, `Attachment ${id} could not be found.`);
    if (!UUID.test(id)) throw missing();
    const [row] = await volumes.list(ctx, { idPrefixes: [id] });
    if (!row || row.id !== id || row.instanceId === null) throw missing();
    return row;
  };

  const list = async (request: FastifyRequest, detail: boolean) => {
    atLeast(request, ATTACHMENTS_VERSION, 'Attachments');
    const ctx = await caller(request);
    const q = (request.query ?? {}) as Record<string, string | undefined>;
    const all = isAdmin(ctx) && ['1', 'true', 'True'].includes(q['all_tenants'] ?? '');
    let rows = await held(ctx, all);
    if (q['project_id'] !== undefined) rows = rows.filter((r) => r.projectId === q['project_id']);
    if (q['volume_id'] !== undefined) rows = rows.filter((r) => r.id === q['volume_id']);
    if (q['instance_id'] !== undefined) {
      rows = rows.filter((r) => r.instanceId === q['instance_id']);
    }
    if (q['status'] !== undefined) rows = rows.filter((r) => attachmentStatus(r) === q['status']);
    const { page, links } = pageOf(
      rows.reverse(),
      q,
      'attachments',
      `${base(request)}/v3/attachments${detail ? '/detail' : ''}`,
    );
    return { attachments: page.map(detail ? detailView : summaryView), ...links };
  };
  app.get('/v3/attachments', (request) => list(request, false));
  app.get('/v3/attachments/detail', (request) => list(request, true));

  app.get<IdParams>('/v3/attachments/:id', async (request) => {
    atLeast(request, ATTACHMENTS_VERSION, 'Attachments');
    const ctx = await caller(request);
    return { attachment: detailView(await find(ctx, request.params.id)) };
  });

  app.post('/v3/attachments', async (request) => {
    atLeast(request, ATTACHMENTS_VERSION, 'Attachments');
    const ctx = await caller(request);
    const body = objectOf(objectOf(request.body, 'The request body')['attachment'], 'attachment');
    const volumeId = body['volume_uuid'] ?? body['volume_id'];
    if (typeof volumeId !== 'string' || volumeId === '') {
      throw new StratusError('missing', 'The attachment needs the volume_uuid of its volume.', {
        resource: 'parameter',
        id: 'volume_uuid',
      });
    }
    const serverId = body['instance_uuid'];
    if (serverId === undefined || serverId === null) {
      throw invalid(
        'An attachment here is made to a server: give its instance_uuid. The cloud connects the volume itself, so a reservation without a server is not needed.',
        { resource: 'parameter', id: 'instance_uuid', reason: 'unsupported' },
      );
    }
    const connector = body['connector'];
    if (connector !== undefined && connector !== null && typeof connector !== 'object') {
      throw invalid('The connector must be an object.', {
        resource: 'parameter',
        id: 'connector',
      });
    }
    const mode = body['mode'];
    if (mode !== undefined && mode !== null && mode !== 'rw') {
      throw invalid('Volumes attach read-write (mode rw) here.', {
        resource: 'parameter',
        id: 'mode',
        reason: 'unsupported',
      });
    }
    const instance = await findServer(services, ctx, serverId);
    const missing = () => notFound('volume', volumeId, `Volume ${volumeId} could not be found.`);
    if (!UUID.test(volumeId)) throw missing();
    const [volume] = await volumes.list(ctx, { idPrefixes: [volumeId] });
    if (!volume || volume.id !== volumeId) throw missing();
    const row = await services.volumeAttachments.attach(ctx, {
      volume,
      shown: volume.id,
      instance,
    });
    return { attachment: detailView(row) };
  });

  app.put<IdParams>('/v3/attachments/:id', async (request) => {
    atLeast(request, ATTACHMENTS_VERSION, 'Attachments');
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    const body = objectOf(objectOf(request.body, 'The request body')['attachment'], 'attachment');
    objectOf(body['connector'], 'connector');
    return { attachment: detailView(row) };
  });

  app.delete<IdParams>('/v3/attachments/:id', async (request) => {
    atLeast(request, ATTACHMENTS_VERSION, 'Attachments');
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    await services.volumeAttachments.detach(ctx, { volume: row, shown: row.id, force: false });
    // The volume's attachments left after this one (a volume has one here).
    return { attachments: [] };
  });

  app.post<IdParams>('/v3/attachments/:id/action', async (request, reply) => {
    atLeast(request, COMPLETE_VERSION, 'Completing an attachment');
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    const body = objectOf(request.body, 'The request body');
    const [action, ...others] = Object.keys(body);
    if (action !== 'os-complete' || others.length > 0) {
      throw invalid(`The attachment action must be os-complete.`, {
        resource: 'request',
        reason: 'unsupported',
      });
    }
    if (row.status === 'detaching') {
      throw new StratusError('conflict', `The attachment ${row.id} is being detached.`, {
        resource: 'attachment',
        id: row.id,
      });
    }
    // The attach completes by itself once the instance's host has hot-plugged the volume.
    reply.code(204);
    return '';
  });
}
