// The OpenStack Compute API v2.1 (microversions 2.1 and 2.2): version discovery, flavors,
// servers (create, list, show, delete, stop/start/reboot, console output), key pairs and
// limits, over the same domain services as the EC2 API. The caller is known by its
// X-Auth-Token. Every failure is a Compute fault (`{"badRequest": {"code", "message"}}`) with
// a 4xx status; 5xx only for our own faults.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Bus } from '../../bus/index.js';
import { ComputeClient, InstanceOperations, projectQuota } from '../../compute/index.js';
import type { Config } from '../../config/index.js';
import { isAdmin, type RequestContext } from '../../context.js';
import {
  NetworkRepo,
  SecurityGroupRepo,
  TagRepo,
  type Db,
  type FlavorRow,
  type InstanceRow,
} from '../../db/index.js';
import { asStratusError, invalid, notFound, StratusError } from '../../errors.js';
import type { TokenService } from '../../identity/index.js';
import { KeypairService } from '../../keypairs/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { SchedulerClient } from '../../scheduler/index.js';
import { createHttpServer } from '../http.js';
import { contextFromToken } from '../openstack/token-auth.js';
import { computeFault, fromStratusError, type ComputeFault } from './errors.js';
import {
  atLeast,
  MIN_VERSION,
  requestedVersion,
  UnsupportedVersion,
  versionText,
  type Microversion,
} from './microversion.js';
import { parseCreateKeypair, parseCreateServer, parseServerAction } from './requests.js';
import {
  flavorSummary,
  flavorView,
  keypairDetail,
  keypairView,
  resourceLinks,
  serverStatus,
  serverSummary,
  serverView,
  versionView,
  type ServerExtras,
} from './views.js';

export interface ComputeServerOptions {
  logger: Logger;
  metrics: Metrics;
  tokens: TokenService;
  db: Db;
  bus: Bus;
  config: Config;
}

const JSON_TYPE = 'application/json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The tag that holds a server's name (EC2 shows the same tag as the instance's Name). */
const NAME_TAG = 'Name';
/** Largest page a listing returns, whatever `limit` asks. */
const MAX_LIMIT = 1000;

declare module 'fastify' {
  interface FastifyRequest {
    microversion: Microversion;
  }
}

export function createComputeServer(options: ComputeServerOptions): FastifyInstance {
  const { db, bus, config, tokens } = options;
  const app = createHttpServer({
    api: 'compute',
    logger: options.logger,
    metrics: options.metrics,
  });
  const ops = new InstanceOperations({
    db,
    scheduler: new SchedulerClient(bus),
    compute: new ComputeClient(bus),
    logger: options.logger.child({ api: 'compute' }),
    availabilityZone: config.compute.availabilityZone,
    terminatedVisibleMs: config.compute.terminatedVisibleSeconds * 1000,
    quota: config.quota,
  });
  const keypairs = new KeypairService({ db, quota: config.quota });
  const tags = new TagRepo(db);
  const networks = new NetworkRepo(db);
  const groups = new SecurityGroupRepo(db);

  /** The URL this request reached the API at, for links: `http://host:port`. */
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest) => contextFromToken(tokens, request);
  const send = (reply: FastifyReply, f: ComputeFault) =>
    reply.code(f.status).type(JSON_TYPE).send(f.body);

  // A body that is empty is no body (clients send Content-Type on bodiless requests too);
  // malformed JSON is the caller's fault.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'string' }, (_request, text, done) => {
    const s = String(text);
    if (s.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(s));
    } catch {
      done(invalid('The request body is not valid JSON.', { resource: 'request' }));
    }
  });

  app.decorateRequest('microversion', null as unknown as Microversion);
  app.addHook('onRequest', async (request, reply) => {
    request.microversion = MIN_VERSION;
    try {
      request.microversion = requestedVersion(request.headers);
    } finally {
      const v = versionText(request.microversion);
      reply.header('openstack-api-version', `compute ${v}`);
      reply.header('x-openstack-nova-api-version', v);
      reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    }
  });

  app.get('/', async (request) => ({ versions: [versionView(base(request))] }));
  for (const url of ['/v2.1', '/v2.1/']) {
    app.get(url, async (request) => ({ version: versionView(base(request)) }));
  }

  // Flavors.
  const flavorByRef = async (ref: string): Promise<FlavorRow | undefined> => {
    const all = await ops.flavors();
    return all.find((f) => f.id === ref) ?? all.find((f) => f.name === ref);
  };
  const flavorsShown = async (request: FastifyRequest, ctx: RequestContext) => {
    const q = queryOf(request);
    const all = await ops.flavors();
    // Everyone sees the public flavors; admins may ask for the private ones (is_public=false)
    // or all of them (is_public=none).
    const wanted = isAdmin(ctx) ? (q.is_public ?? 'true').toLowerCase() : 'true';
    return all.filter((f) =>
      wanted === 'none'
        ? true
        : ['false', '0', 'no'].includes(wanted)
          ? f.isPublic !== 1
          : f.isPublic === 1,
    );
  };
  app.get('/v2.1/flavors', async (request) => {
    const ctx = await caller(request);
    return {
      flavors: (await flavorsShown(request, ctx)).map((f) => flavorSummary(base(request), f)),
    };
  });
  app.get('/v2.1/flavors/detail', async (request) => {
    const ctx = await caller(request);
    return { flavors: (await flavorsShown(request, ctx)).map((f) => flavorView(base(request), f)) };
  });
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref', async (request) => {
    await caller(request);
    const f = await flavorByRef(request.params.ref);
    if (!f)
      throw notFound(
        'flavor',
        request.params.ref,
        `Flavor ${request.params.ref} could not be found.`,
      );
    return { flavor: flavorView(base(request), f) };
  });

  // Flavors carry no extra specs here; clients read them with every listing.
  app.get<{ Params: { ref: string } }>('/v2.1/flavors/:ref/os-extra_specs', async (request) => {
    await caller(request);
    const ref = request.params.ref;
    if (!(await flavorByRef(ref)))
      throw notFound('flavor', ref, `Flavor ${ref} could not be found.`);
    return { extra_specs: {} };
  });

  // Servers.
  const extrasOf = async (rows: readonly InstanceRow[]): Promise<Map<string, ServerExtras>> => {
    const ids = rows.map((r) => r.id);
    const [tagRows, groupLinks, fixed, floating] = await Promise.all([
      tags.of(ids),
      ops.securityGroupsOf(ids),
      networks.fixedByInstance(ids),
      networks.floatingByInstance(ids),
    ]);
    const groupNames = new Map(
      (await groups.byIds([...new Set([...groupLinks.values()].flat())])).map((g) => [
        g.id,
        g.name,
      ]),
    );
    return new Map(
      rows.map((r) => [
        r.id,
        {
          name: (tagRows.get(r.id) ?? []).find((t) => t.key === NAME_TAG)?.value ?? '',
          securityGroups: (groupLinks.get(r.id) ?? []).flatMap((g) => groupNames.get(g) ?? []),
          // A stopped or deleted server's address may have gone back to the pool.
          fixed:
            fixed.get(r.id) ??
            (r.privateIp
              ? { network: 'private', address: r.privateIp, mac: r.macAddress }
              : undefined),
          floating: floating.get(r.id),
        },
      ]),
    );
  };

  /** The caller's server with this id; a deleted one is gone (404), as the Compute API shows. */
  const findServer = async (ctx: RequestContext, id: string): Promise<InstanceRow> => {
    const row = UUID.test(id)
      ? (await ops.list(ctx, { idPrefixes: [id.toLowerCase()] })).find(
          (r) => r.id === id.toLowerCase() && r.vmState !== 'deleted',
        )
      : undefined;
    if (!row) throw notFound('instance', id, `Instance ${id} could not be found.`);
    return row;
  };

  const listServers = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const allTenants =
      isAdmin(ctx) &&
      q.all_tenants !== undefined &&
      !['0', 'false', 'False'].includes(q.all_tenants);
    let rows = (await ops.list(ctx, { allProjects: allTenants })).filter(
      (r) => r.vmState !== 'deleted',
    );
    // Newest first, as the Compute API lists them.
    rows.reverse();
    const extras = await extrasOf(rows);
    if (q.status !== undefined) {
      const wanted = q.status.toUpperCase();
      rows = rows.filter((r) => serverStatus(r.vmState, r.taskState) === wanted);
    }
    if (q.name !== undefined) {
      const match = nameMatcher(q.name);
      rows = rows.filter((r) => match(extras.get(r.id)?.name ?? ''));
    }
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.id === q.marker);
      if (at < 0) throw invalid(`marker [${q.marker}] not found`, { resource: 'marker' });
      rows = rows.slice(at + 1);
    }
    const limit = q.limit === undefined ? MAX_LIMIT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 0) {
      throw invalid(
        `Invalid input for query parameter limit. Value: ${q.limit}. It must be a non-negative integer.`,
        { resource: 'limit' },
      );
    }
    const page = rows.slice(0, Math.min(limit, MAX_LIMIT));
    const b = base(request);
    const out: Record<string, unknown> = {
      servers: page.map((r) => {
        const x = extras.get(r.id) as ServerExtras;
        return detail ? serverView(b, r, x, isAdmin(ctx)) : serverSummary(b, r, x.name);
      }),
    };
    if (page.length > 0 && rows.length > page.length) {
      const next = new URLSearchParams({ ...q, marker: (page[page.length - 1] as InstanceRow).id });
      out.servers_links = [
        { rel: 'next', href: `${b}/v2.1/servers${detail ? '/detail' : ''}?${next}` },
      ];
    }
    return out;
  };
  app.get('/v2.1/servers', (request) => listServers(request, false));
  app.get('/v2.1/servers/detail', (request) => listServers(request, true));

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ctx, request.params.id);
    const x = (await extrasOf([row])).get(row.id) as ServerExtras;
    return { server: serverView(base(request), row, x, isAdmin(ctx)) };
  });

  app.post('/v2.1/servers', async (request, reply) => {
    const ctx = await caller(request);
    const req = parseCreateServer(request.body);
    const flavorRef = lastSegment(req.flavorRef);
    const flavor = await flavorByRef(flavorRef);
    if (!flavor)
      throw invalid(`Flavor ${flavorRef} could not be found.`, {
        resource: 'flavor',
        id: flavorRef,
      });
    const imageRef = lastSegment(req.imageRef);
    if (!UUID.test(imageRef))
      throw invalid(`Invalid imageRef provided: ${imageRef}.`, { resource: 'image', id: imageRef });
    let reservation;
    try {
      reservation = await ops.run(ctx, {
        imageRef: imageRef.toLowerCase(),
        flavorName: flavor.name,
        minCount: req.minCount,
        maxCount: req.maxCount,
        keyName: req.keyName,
        securityGroupNames: req.securityGroups,
        userData: req.userData,
        availabilityZone: req.availabilityZone,
        tags: [{ key: NAME_TAG, value: req.name }],
      });
    } catch (err) {
      // What the body names and does not exist (image, key pair, security group, zone) makes
      // the request a bad one: 400, as the Compute API answers, not 404.
      if (err instanceof StratusError && err.kind === 'not_found') {
        throw invalid(err.message, { resource: err.resource, id: err.id, cause: err });
      }
      throw err;
    }
    const first = reservation.instances[0] as InstanceRow;
    const b = base(request);
    reply.code(202).header('location', `${b}/v2.1/servers/${first.id}`);
    if (
      (request.body as { server: Record<string, unknown> }).server.return_reservation_id === true
    ) {
      return { reservation_id: `r-${reservation.reservationId.slice(0, 8)}` };
    }
    return {
      server: {
        id: first.id,
        links: resourceLinks(b, first.projectId, `servers/${first.id}`),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: (req.securityGroups.length > 0 ? req.securityGroups : ['default']).map(
          (name) => ({ name }),
        ),
      },
    };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/servers/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ctx, request.params.id);
    await ops.terminate(ctx, [row]);
    reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>('/v2.1/servers/:id/action', async (request, reply) => {
    const ctx = await caller(request);
    const action = parseServerAction(request.body);
    const row = await findServer(ctx, request.params.id);
    const refuse = (what: string) =>
      new StratusError(
        'conflict',
        `Cannot '${what}' instance ${row.id} while it is in vm_state ${row.vmState}${row.taskState ? ` and task_state ${row.taskState}` : ''}.`,
        { resource: 'instance', id: row.id, reason: 'instance_state' },
      );
    switch (action.kind) {
      case 'os-stop':
        if (row.vmState !== 'active' || row.taskState !== null) throw refuse('stop');
        await ops.stop(ctx, [row], false);
        return reply.code(202).send();
      case 'os-start':
        if (row.vmState !== 'stopped' || row.taskState !== null) throw refuse('start');
        await ops.start(ctx, [row]);
        return reply.code(202).send();
      case 'reboot':
        if (row.vmState !== 'active' || row.taskState !== null) throw refuse('reboot');
        await ops.reboot(ctx, [row], action.hard);
        return reply.code(202).send();
      case 'os-getConsoleOutput': {
        const { output } = await ops.consoleOutput(ctx, row);
        return { output: lastLines(output, action.length) };
      }
    }
  });

  // Key pairs (2.2 adds their type, 201 on create and 204 on delete).
  app.get('/v2.1/os-keypairs', async (request) => {
    const ctx = await caller(request);
    // An admin lists its own project's key pairs here, as users do.
    const rows = (await keypairs.list(ctx)).filter((k) => k.projectId === ctx.projectId);
    return {
      keypairs: rows.map((k) => ({ keypair: keypairView(k, request.microversion) })),
    };
  });
  app.post('/v2.1/os-keypairs', async (request, reply) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const req = parseCreateKeypair(request.body, atLeast(v, 2));
    reply.code(atLeast(v, 2) ? 201 : 200);
    if (req.publicKey !== undefined) {
      const row = await keypairs.import(ctx, {
        name: req.name,
        material: Buffer.from(req.publicKey, 'utf8'),
      });
      return { keypair: keypairView(row, v) };
    }
    const { keypair, privateKey } = await keypairs.create(ctx, { name: req.name, keyType: 'rsa' });
    return { keypair: keypairView(keypair, v, privateKey) };
  });
  const findKeypair = async (ctx: RequestContext, name: string) => {
    const row = (await keypairs.list(ctx, { names: [name] }))[0];
    if (!row) throw notFound('keypair', name, `Keypair ${name} not found for user ${ctx.userId}.`);
    return row;
  };
  app.get<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request) => {
    const ctx = await caller(request);
    return {
      keypair: keypairDetail(await findKeypair(ctx, request.params.name), request.microversion),
    };
  });
  app.delete<{ Params: { name: string } }>('/v2.1/os-keypairs/:name', async (request, reply) => {
    const ctx = await caller(request);
    await findKeypair(ctx, request.params.name);
    await keypairs.delete(ctx, { name: request.params.name });
    reply.code(atLeast(request.microversion, 2) ? 204 : 202).send();
  });

  // Limits: the project's quotas and what it uses.
  app.get('/v2.1/limits', async (request) => {
    const ctx = await caller(request);
    const { limits, used } = await projectQuota(db, config.quota, ctx.projectId as string);
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: 0,
          maxPersonality: 0,
          maxPersonalitySize: 0,
          maxImageMeta: 0,
          maxTotalKeypairs: limits.keypairs,
          maxSecurityGroups: limits.securityGroups,
          maxSecurityGroupRules: limits.securityGroupRules,
          maxTotalInstances: limits.instances,
          maxTotalCores: limits.cores,
          maxTotalRAMSize: limits.ramMb,
          maxTotalFloatingIps: limits.addresses,
          maxServerGroups: 0,
          maxServerGroupMembers: 0,
          totalInstancesUsed: used.instances,
          totalCoresUsed: used.cores,
          totalRAMUsed: used.ramMb,
          totalFloatingIpsUsed: used.addresses,
          totalSecurityGroupsUsed: used.securityGroups,
          totalServerGroupsUsed: 0,
        },
      },
    };
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      computeFault(
        404,
        `${request.method} ${request.url.split('?')[0]} is not part of the Compute API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    // Fastify's own refusals (body too large, bad content type) have a 4xx statusCode; ours
    // are StratusErrors; a microversion out of range is 406; anything else is our fault.
    const status = (err as { statusCode?: number }).statusCode;
    const f =
      err instanceof UnsupportedVersion
        ? computeFault(406, err.message)
        : status === 415
          ? computeFault(415, 'The request body must be JSON (Content-Type: application/json).')
          : !(err instanceof StratusError) && status && status >= 400 && status < 500
            ? computeFault(status, (err as Error).message)
            : fromStratusError(asStratusError(err));
    if (f.status >= 500) request.log.error({ err }, 'Compute request failed');
    else request.log.info({ status: f.status, body: f.body }, 'Compute request refused');
    return send(reply, f);
  });
  return app;
}

function queryOf(request: FastifyRequest): Record<string, string> {
  const q = (request.query ?? {}) as Record<string, string | string[]>;
  return Object.fromEntries(
    Object.entries(q).map(([k, v]) => [k, Array.isArray(v) ? (v[v.length - 1] as string) : v]),
  );
}

/** A reference may be a bare id or a link to the resource: take the last path segment. */
function lastSegment(ref: string): string {
  return ref.includes('/') ? (ref.replace(/\/+$/, '').split('/').pop() ?? ref) : ref;
}

/**
 * The `name` filter is a regular expression searched in the name, as the Compute API does.
 * Only its common part is honoured (`^`, `$`, `.` and up to four `*`; every other character
 * is literal), so no pattern can make the search take long.
 */
function nameMatcher(pattern: string): (name: string) => boolean {
  const source = [...pattern]
    .map((c) => ('^$.*'.includes(c) ? c : c.replace(/[\\[\](){}+?|/-]/g, '\\$&')))
    .join('')
    .replace(/\*+/g, '*')
    .replace(/^([\^$]*)\*/, '$1');
  if (pattern.length > 255 || (source.match(/\*/g) ?? []).length > 4) {
    throw invalid('The name filter may be at most 255 characters with at most four *.', {
      resource: 'name',
    });
  }
  let re: RegExp;
  try {
    re = new RegExp(source, 's');
  } catch {
    throw invalid(`The name filter '${pattern}' is not a regular expression this API takes.`, {
      resource: 'name',
    });
  }
  return (name) => re.test(name);
}

/** The last `n` lines of a console log (all of it if `n` is undefined). */
function lastLines(text: string, n: number | undefined): string {
  if (n === undefined) return text;
  if (n === 0) return '';
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '' ? 1 : 0;
  return lines.slice(Math.max(0, lines.length - trailing - n)).join('\n');
}
