// The OpenStack Block Storage API v3 (microversions 3.0 to 3.44; what it serves is 3.0's, plus
// the attachments of 3.27 and 3.44, attachments.ts), over the same volumes as EC2's:
// version discovery, volumes (list, detail, create empty or from a snapshot, show, update,
// delete; the os-extend, os-volume_upload_image and, for admins, os-reset_status actions),
// snapshots (snapshots.ts), the volume types, the limits and the quota sets. Paths may carry the
// project id (`/v3/{project_id}/volumes`) or not (`/v3/volumes`); the token decides the project.
// Every failure is `{"<fault>": {"code", "message"}}` with a 4xx; 5xx only for our faults.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin } from '../../context.js';
import type { VolumeStatus } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { VOLUME_STATUSES } from '../../volume/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { contextFromToken } from '../openstack/token-auth.js';
import type { ApiServices } from '../services.js';
import { volumeAttachAction } from './attach-actions.js';
import { attachmentRoutes } from './attachments.js';
import { toVolumeFault, volumeFault, type VolumeFault } from './errors.js';
import { quotaSetRoutes } from './quota-sets.js';
import { objectOf, optionalText, pageOf, wholeNumber } from './requests.js';
import { findSnapshot, snapshotRoutes } from './snapshots.js';
import { uploadImage } from './upload-image.js';
import { MAX_VERSION, MIN_VERSION, versionsView, volumeSummaryView, volumeView } from './views.js';
import { volumeTypeRoutes } from './volume-types.js';

export interface BlockStorageServerOptions {
  logger: Logger;
  metrics: Metrics;
  tls?: HttpsCertificate | undefined;
  services: ApiServices;
}

const JSON_TYPE = 'application/json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The first path segments after /v3/ that are resources, not a project id. */
const RESOURCES = new Set([
  'volumes',
  'snapshots',
  'types',
  'limits',
  'os-quota-sets',
  'attachments',
]);

/** A microversion outside MIN_VERSION-MAX_VERSION: 406, as the API answers it. */
class UnsupportedVersion extends Error {}

type IdParams = { Params: { id: string } };

export function createBlockStorageServer(options: BlockStorageServerOptions): FastifyInstance {
  const { services } = options;
  const { volumes, tokens } = services;
  const app = createHttpServer({
    api: 'volume',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    // `/v3/{project_id}/x` is routed as `/v3/x`: the token, not the path, names the project.
    rewriteUrl: (url) => {
      const m = /^\/v3\/([^/?#]+)(?=[/?#]|$)/.exec(url);
      return m && !RESOURCES.has(m[1] as string) ? `/v3${url.slice(m[0].length)}` : url;
    },
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify(volumeFault(status, message).body),
    }),
  });
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest) => contextFromToken(tokens, request);
  const send = (reply: FastifyReply, f: VolumeFault) =>
    reply.code(f.status).type(JSON_TYPE).send(f.body);

  /** The microversion each request asked for (3.0 when it asked for none). */
  const versions = new WeakMap<FastifyRequest, string>();
  /** Refuses, as Cinder does with a 404, a request below the microversion `what` needs. */
  const atLeast = (request: FastifyRequest, version: string, what: string) => {
    if (compareVersions(versions.get(request) ?? MIN_VERSION, version) < 0) {
      throw notFound(
        'resource',
        version,
        `${what} need microversion ${version} or later (OpenStack-API-Version: volume ${version}).`,
      );
    }
  };

  openstackProtocol(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('vary', 'OpenStack-API-Version');
    // A refused version (406) is answered as 3.0.
    reply.header('openstack-api-version', `volume ${MIN_VERSION}`);
    const version = requestedVersion(request.headers['openstack-api-version']);
    versions.set(request, version);
    reply.header('openstack-api-version', `volume ${version}`);
  });

  app.get('/', async (request, reply) => {
    reply.code(300);
    return versionsView(base(request));
  });
  for (const url of ['/v3', '/v3/']) {
    app.get(url, async (request) => ({
      version: (versionsView(base(request)).versions as unknown[])[0],
    }));
  }

  /** The volume with exactly this id that the caller may see. */
  const find = async (ctx: Awaited<ReturnType<typeof caller>>, id: string) => {
    const missing = () => notFound('volume', id, `Volume ${id} could not be found.`);
    if (!UUID.test(id)) throw missing();
    const [row] = await volumes.list(ctx, { idPrefixes: [id] });
    if (!row || row.id !== id) throw missing();
    return row;
  };

  const list = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = (request.query ?? {}) as Record<string, string | undefined>;
    const all = isAdmin(ctx) && ['1', 'true', 'True'].includes(q['all_tenants'] ?? '');
    let rows = await volumes.list(ctx, { allProjects: all });
    if (q['name'] !== undefined) rows = rows.filter((r) => r.name === q['name']);
    if (q['status'] !== undefined) rows = rows.filter((r) => r.status === q['status']);
    // Newest first, as the API sorts by default.
    rows = rows.reverse();
    const { page, links } = pageOf(
      rows,
      q,
      'volumes',
      `${base(request)}/v3/volumes${detail ? '/detail' : ''}`,
    );
    return {
      volumes: page.map((r) =>
        detail
          ? volumeView(base(request), r, { admin: isAdmin(ctx) })
          : volumeSummaryView(base(request), r),
      ),
      ...links,
    };
  };
  app.get('/v3/volumes', (request) => list(request, false));
  app.get('/v3/volumes/detail', (request) => list(request, true));

  app.post('/v3/volumes', async (request, reply) => {
    const ctx = await caller(request);
    const body = objectOf(objectOf(request.body, 'The request body')['volume'], 'volume');
    for (const key of ['source_volid', 'imageRef', 'backup_id', 'consistencygroup_id']) {
      if (body[key] !== undefined && body[key] !== null) {
        throw invalid(`Creating a volume from ${key} is not supported here yet.`, {
          resource: 'parameter',
          id: key,
          reason: 'unsupported',
        });
      }
    }
    if (body['multiattach'] === true) {
      throw invalid('A volume attaches to one server at a time here.', {
        resource: 'parameter',
        id: 'multiattach',
        reason: 'unsupported',
      });
    }
    refuseMetadata(body['metadata']);
    const size = body['size'];
    const snapshotId = body['snapshot_id'];
    if (
      (size === undefined || size === null) &&
      (snapshotId === undefined || snapshotId === null)
    ) {
      throw new StratusError('missing', 'The volume needs a size in GiB or a snapshot_id.', {
        resource: 'parameter',
        id: 'size',
      });
    }
    if (snapshotId !== undefined && snapshotId !== null && typeof snapshotId !== 'string') {
      throw invalid('snapshot_id must be a snapshot id.', {
        resource: 'parameter',
        id: 'snapshot_id',
      });
    }
    const snapshot =
      typeof snapshotId === 'string' ? await findSnapshot(services, ctx, snapshotId) : undefined;
    const row = await volumes.create(ctx, {
      sizeGb: size === undefined || size === null ? undefined : wholeNumber(size, 'size'),
      snapshot,
      availabilityZone: optionalText(body['availability_zone'], 'availability_zone'),
      volumeType: optionalText(body['volume_type'], 'volume_type'),
      name: optionalText(body['name'] ?? body['display_name'], 'name'),
      description: optionalText(body['description'] ?? body['display_description'], 'description'),
    });
    reply.code(202);
    return { volume: volumeView(base(request), row, { admin: isAdmin(ctx) }) };
  });

  app.get<IdParams>('/v3/volumes/:id', async (request) => {
    const ctx = await caller(request);
    return {
      volume: volumeView(base(request), await find(ctx, request.params.id), {
        admin: isAdmin(ctx),
      }),
    };
  });

  app.put<IdParams>('/v3/volumes/:id', async (request) => {
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    const body = objectOf(objectOf(request.body, 'The request body')['volume'], 'volume');
    refuseMetadata(body['metadata']);
    // The API takes the older display_name and display_description too (python-cinderclient
    // sends them).
    const nullableText = (key: string) => {
      const value = body[key] !== undefined ? body[key] : body[`display_${key}`];
      return value === null ? null : optionalText(value, key);
    };
    const changed = await volumes.rename(ctx, row, {
      name: nullableText('name'),
      description: nullableText('description'),
    });
    return { volume: volumeView(base(request), changed, { admin: isAdmin(ctx) }) };
  });

  app.delete<IdParams>('/v3/volumes/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    await volumes.delete(ctx, row, row.id);
    reply.code(202);
    return '';
  });

  app.post<IdParams>('/v3/volumes/:id/action', async (request, reply) => {
    const ctx = await caller(request);
    const row = await find(ctx, request.params.id);
    const body = objectOf(request.body, 'The request body');
    const [action, ...others] = Object.keys(body);
    if (action === undefined || others.length > 0) {
      throw invalid('The request body must name exactly one action.', { resource: 'request' });
    }
    const args = objectOf(body[action], action);
    if (await volumeAttachAction(services, ctx, row, action, args)) {
      reply.code(202);
      return '';
    }
    switch (action) {
      case 'os-extend':
        await volumes.extend(ctx, row, row.id, wholeNumber(args['new_size'], 'new_size'));
        break;
      case 'os-reset_status': {
        const status = args['status'];
        if (
          typeof status !== 'string' ||
          !(VOLUME_STATUSES as readonly string[]).includes(status)
        ) {
          throw invalid(`The status must be one of ${VOLUME_STATUSES.join(', ')}.`, {
            resource: 'parameter',
            id: 'status',
          });
        }
        await volumes.resetStatus(ctx, row, status as VolumeStatus);
        break;
      }
      case 'os-volume_upload_image':
        return reply.code(202).send(await uploadImage(services, ctx, row, args));
      default:
        throw invalid(`The volume action '${action}' is not supported here.`, {
          resource: 'request',
          reason: 'unsupported',
        });
    }
    reply.code(202);
    return '';
  });

  volumeTypeRoutes(app, services, caller);

  quotaSetRoutes(app, services, caller);
  snapshotRoutes(app, services, caller, base);
  attachmentRoutes(app, services, caller, base, atLeast);

  app.get('/v3/limits', async (request) => {
    const ctx = await caller(request);
    const { limits, used } = await services.quota.ofProject(ctx.projectId as string);
    return {
      limits: {
        rate: [],
        absolute: {
          maxTotalVolumes: limits.volumes,
          maxTotalVolumeGigabytes: limits.gigabytes,
          maxTotalSnapshots: shownLimit(limits.snapshots),
          // Backups do not exist here yet: none may be made.
          maxTotalBackups: 0,
          maxTotalBackupGigabytes: 0,
          totalVolumesUsed: used.volumes,
          totalGigabytesUsed: used.gigabytes,
          totalSnapshotsUsed: used.snapshots,
          totalBackupsUsed: 0,
          totalBackupGigabytesUsed: 0,
        },
      },
    };
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      volumeFault(
        404,
        `${request.method} ${request.url.split('?')[0]} is not part of the Block Storage API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    const f =
      err instanceof UnsupportedVersion ? volumeFault(406, err.message) : toVolumeFault(err);
    if (f.status >= 500) request.log.error({ err }, 'Block Storage request failed');
    else request.log.info({ status: f.status, body: f.body }, 'Block Storage request refused');
    return send(reply, f);
  });
  return app;
}

/** "3.27" as [3, 27], or undefined when it is not a version. */
function parseVersion(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function compareVersions(a: string, b: string): number {
  const [x0, x1] = parseVersion(a) ?? [0, 0];
  const [y0, y1] = parseVersion(b) ?? [0, 0];
  return x0 - y0 || x1 - y1;
}

/**
 * The microversion a request asks for in `OpenStack-API-Version: volume X.Y` (`latest`: the
 * newest; none: 3.0); one outside MIN_VERSION-MAX_VERSION, or not a version, is refused (406).
 */
function requestedVersion(header: string | string[] | undefined): string {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return MIN_VERSION;
  for (const part of text.split(',')) {
    const [service, version] = part.trim().split(/\s+/);
    if (service?.toLowerCase() !== 'volume') continue;
    if (version?.toLowerCase() === 'latest') return MAX_VERSION;
    const parsed = version === undefined ? undefined : parseVersion(version);
    if (
      parsed &&
      compareVersions(version as string, MIN_VERSION) >= 0 &&
      compareVersions(version as string, MAX_VERSION) <= 0
    ) {
      return `${parsed[0]}.${parsed[1]}`;
    }
    throw new UnsupportedVersion(
      `Version ${version ?? ''} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`,
    );
  }
  return MIN_VERSION;
}

function refuseMetadata(metadata: unknown): void {
  if (metadata === undefined || metadata === null) return;
  if (typeof metadata === 'object' && Object.keys(metadata).length === 0) return;
  throw invalid('Volume metadata is not kept here yet.', {
    resource: 'parameter',
    id: 'metadata',
    reason: 'unsupported',
  });
}

/** A limit as the API shows it: -1 for unlimited. */
function shownLimit(n: number): number {
  return Number.isFinite(n) ? n : -1;
}
