// os-volume_attachments: a server's volumes, attaching one (POST) and detaching it (DELETE),
// in the fields of the microversion asked for: `tag` from 2.70, `delete_on_termination` from
// 2.79, and from 2.89 `attachment_id` and `bdm_uuid` instead of `id`. A volume attaches to one
// server at a time here, so a volume's attachment id is the volume's id.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { VolumeRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import { atLeast, type Microversion } from './microversion.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function attachmentView(v: VolumeRow, serverId: string, mv: Microversion): Record<string, unknown> {
  return {
    ...(atLeast(mv, 89) ? {} : { id: v.id }),
    serverId,
    volumeId: v.id,
    device: v.device,
    ...(atLeast(mv, 70) ? { tag: null } : {}),
    ...(atLeast(mv, 79) ? { delete_on_termination: false } : {}),
    ...(atLeast(mv, 89) ? { attachment_id: v.id, bdm_uuid: v.id } : {}),
  };
}

/** The body of an attach: `{"volumeAttachment": {"volumeId": ..., "device": ...}}`. */
function parseAttach(body: unknown, mv: Microversion): { volumeId: string; device?: string } {
  const o = (body as { volumeAttachment?: unknown } | null)?.volumeAttachment;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw invalid('Invalid input for field/attribute volumeAttachment: it is required.', {
      resource: 'request',
    });
  }
  const a = o as Record<string, unknown>;
  const allowed = new Set(['volumeId', 'device']);
  if (atLeast(mv, 49)) allowed.add('tag');
  if (atLeast(mv, 79)) allowed.add('delete_on_termination');
  for (const k of Object.keys(a)) {
    if (!allowed.has(k)) {
      throw invalid(`Additional properties are not allowed ('${k}' was unexpected)`, {
        resource: 'request',
      });
    }
  }
  if (typeof a.volumeId !== 'string' || !UUID.test(a.volumeId)) {
    throw invalid('Invalid input for field/attribute volumeId: it must be a volume uuid.', {
      resource: 'request',
    });
  }
  if (a.device !== undefined && a.device !== null && typeof a.device !== 'string') {
    throw invalid('Invalid input for field/attribute device: it must be a string.', {
      resource: 'request',
    });
  }
  if (a.delete_on_termination === true) {
    throw new StratusError(
      'invalid',
      'Deleting a volume with its server (delete_on_termination) is not supported yet.',
      { resource: 'request', reason: 'unsupported' },
    );
  }
  return {
    volumeId: a.volumeId.toLowerCase(),
    ...(typeof a.device === 'string' ? { device: a.device } : {}),
  };
}

export function volumeAttachmentRoutes({ app, services, caller }: RouteDeps): void {
  const { instances, volumes, volumeAttachments } = services;
  const volumeOf = async (ctx: RequestContext, id: string): Promise<VolumeRow> => {
    const row = UUID.test(id)
      ? (await volumes.list(ctx, { idPrefixes: [id.toLowerCase()] })).find(
          (v) => v.id === id.toLowerCase(),
        )
      : undefined;
    if (!row) throw notFound('volume', id, `Volume ${id} could not be found.`);
    return row;
  };
  type One = { Params: { id: string; volumeId: string } };

  app.get<{ Params: { id: string } }>(
    '/v2.1/servers/:id/os-volume_attachments',
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const ctx = await caller(request);
      const server = await findServer(instances, ctx, request.params.id);
      const rows = await volumeAttachments.ofInstance(ctx, server);
      return {
        volumeAttachments: rows.map((v) => attachmentView(v, server.id, request.microversion)),
      };
    },
  );

  app.get<One>('/v2.1/servers/:id/os-volume_attachments/:volumeId', async (request) => {
    const ctx = await caller(request);
    const server = await findServer(instances, ctx, request.params.id);
    const rows = await volumeAttachments.ofInstance(ctx, server);
    const v = rows.find((r) => r.id === request.params.volumeId.toLowerCase());
    if (!v) {
      throw notFound(
        'attachment',
        request.params.volumeId,
        `Volume ${request.params.volumeId} is not attached to server ${server.id}.`,
      );
    }
    return { volumeAttachment: attachmentView(v, server.id, request.microversion) };
  });

  app.post<{ Params: { id: string } }>(
    '/v2.1/servers/:id/os-volume_attachments',
    async (request) => {
      const ctx = await caller(request);
      const mv = request.microversion;
      const args = parseAttach(request.body, mv);
      const server = await findServer(instances, ctx, request.params.id);
      const volume = await volumeOf(ctx, args.volumeId);
      const row = await volumeAttachments.attach(ctx, {
        volume,
        shown: volume.id,
        instance: server,
        device: args.device,
      });
      return { volumeAttachment: attachmentView(row, server.id, mv) };
    },
  );

  app.delete<One>('/v2.1/servers/:id/os-volume_attachments/:volumeId', async (request, reply) => {
    const ctx = await caller(request);
    const server = await findServer(instances, ctx, request.params.id);
    const volume = await volumeOf(ctx, request.params.volumeId);
    await volumeAttachments.detach(ctx, {
      volume,
      shown: volume.id,
      instance: server,
      force: false,
    });
    reply.code(202).send();
  });
}
