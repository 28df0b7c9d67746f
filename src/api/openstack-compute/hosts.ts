// The compute hosts as the Compute API shows them to admins: `os-services` (the service
// registry: list, disable/enable with a reason, force down (2.11), delete; from 2.53 ids are
// UUIDs and one PUT /os-services/{id} changes a service) and `os-hypervisors` (list, detail,
// show, statistics (gone at 2.88), the servers of a host; from 2.53 UUIDs, paging and
// `with_servers`; 2.88 drops the resource figures from the view).
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { ServiceRow } from '../../db/index.js';
import { notFound } from '../../errors.js';
import type { ComputeHostSummary } from '../../scheduler/index.js';
import { badRequest, flag, name as checkedName, objectOf, onlyKeys } from './admin-input.js';
import { computeFault } from './errors.js';
import { atLeast, type Microversion } from './microversion.js';
import { queryOf, type RouteDeps } from './routes.js';
import { usageTime } from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The integer id the API showed before 2.53: the UUID's first 52 bits. */
export function numberOf(uuid: string): number {
  return Number.parseInt(uuid.replace(/-/g, '').slice(0, 13), 16);
}

/** A compute host's hypervisor UUID: the same for one host name every time. */
export function hypervisorUuid(host: string): string {
  const h = createHash('sha256').update(`stratus compute node ${host}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Our binaries under the names Compute API clients know (`nova-compute`, ...). */
const shownBinary = (binary: string) => `nova-${binary}`;
const ourBinary = (binary: string) => binary.replace(/^nova-/, '');

/** The zone the Compute API puts the services that are not compute hosts in. */
const INTERNAL_ZONE = 'internal';

export function hostRoutes({ app, services, caller }: RouteDeps): void {
  const admin = services.hostAdmin;

  const serviceView = (
    s: ServiceRow,
    zones: Map<string, string>,
    v: Microversion,
    state: (s: ServiceRow) => string,
  ) => ({
    id: atLeast(v, 53) ? s.id : numberOf(s.id),
    binary: shownBinary(s.binary),
    host: s.host,
    zone: s.binary === 'compute' ? (zones.get(s.host) ?? INTERNAL_ZONE) : INTERNAL_ZONE,
    status: s.disabled ? 'disabled' : 'enabled',
    state: state(s),
    updated_at: usageTime(s.heartbeatAt),
    disabled_reason: s.disabledReason,
    ...(atLeast(v, 11) ? { forced_down: s.forcedDown === 1 } : {}),
  });

  /** Each service's up/down, by the inventory's rule (heartbeat age, forced down). */
  const stateOf = async () => {
    const [hosts, control] = await Promise.all([
      services.hosts.computeHosts(),
      services.hosts.controlServices(),
    ]);
    const state = new Map<string, string>([
      ...hosts.map((h) => [`compute@${h.host}`, h.state] as const),
      ...control.map((c) => [`${c.binary}@${c.host}`, c.state] as const),
    ]);
    return (s: ServiceRow) => state.get(`${s.binary}@${s.host}`) ?? 'down';
  };

  /** A service by the id of the microversion: a UUID from 2.53, else the integer. */
  const serviceById = async (ctx: RequestContext, id: string, v: Microversion) => {
    if (atLeast(v, 53)) {
      if (!UUID.test(id)) throw badRequest(`Invalid uuid ${id}.`);
      return admin.service(ctx, id);
    }
    const found = (await admin.services(ctx)).find((s) => String(numberOf(s.id)) === id);
    if (!found) throw notFound('service', id, `Service ${id} could not be found.`);
    return found;
  };

  const render = async (ctx: RequestContext, rows: ServiceRow[], v: Microversion) => {
    const [zones, state] = await Promise.all([admin.hostZones(ctx), stateOf()]);
    return rows.map((s) => serviceView(s, zones, v, state));
  };

  app.get('/v2.1/os-services', async (request) => {
    const ctx = await caller(request);
    const q = queryOf(request);
    const rows = await admin.services(ctx, {
      ...(q.binary ? { binary: ourBinary(q.binary) } : {}),
      ...(q.host ? { host: q.host } : {}),
    });
    return { services: await render(ctx, rows, request.microversion) };
  });

  // Before 2.53: PUT /os-services/{enable,disable,disable-log-reason,force-down} by host and
  // binary. From 2.53: PUT /os-services/{uuid} with the changes.
  app.put<{ Params: { id: string } }>('/v2.1/os-services/:id', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const { id } = request.params;
    if (atLeast(v, 53)) {
      const body = objectOf(request.body ?? {}, 'body');
      onlyKeys(body, ['status', 'disabled_reason', 'forced_down'], 'service');
      if (Object.keys(body).length === 0) {
        throw badRequest('At least one of status, disabled_reason or forced_down is required.');
      }
      if (body.status !== undefined && body.status !== 'enabled' && body.status !== 'disabled') {
        throw badRequest(
          "Invalid input for field/attribute status. It must be 'enabled' or 'disabled'.",
        );
      }
      const reason =
        body.disabled_reason === undefined
          ? undefined
          : checkedName(body.disabled_reason, 'disabled_reason');
      if (reason !== undefined && body.status !== 'disabled') {
        throw badRequest(
          'Specifying a disabled_reason is only supported when the status is disabled.',
        );
      }
      const row = await admin.updateService(ctx, await serviceById(ctx, id, v).then((s) => s.id), {
        ...(body.status !== undefined ? { disabled: body.status === 'disabled' } : {}),
        ...(reason !== undefined ? { disabledReason: reason } : {}),
        ...(body.forced_down !== undefined
          ? { forcedDown: flag(body.forced_down, 'forced_down') }
          : {}),
      });
      return { service: (await render(ctx, [row], v))[0] };
    }
    const action = id;
    if (!['enable', 'disable', 'disable-log-reason', 'force-down'].includes(action)) {
      throw notFound('service', action, `Unknown service action ${action}.`);
    }
    if (action === 'force-down' && !atLeast(v, 11)) {
      throw notFound('service', action, 'Forcing a service down needs microversion 2.11.');
    }
    const body = objectOf(request.body ?? {}, 'body');
    const allowed =
      action === 'disable-log-reason'
        ? ['host', 'binary', 'disabled_reason']
        : action === 'force-down'
          ? ['host', 'binary', 'forced_down']
          : ['host', 'binary'];
    onlyKeys(body, allowed, action);
    for (const key of allowed) {
      if (!(key in body)) throw badRequest(`Invalid input: '${key}' is a required property.`);
    }
    const host = checkedName(body.host, 'host');
    const binary = checkedName(body.binary, 'binary');
    const row = await admin.serviceOn(ctx, host, ourBinary(binary));
    if (action === 'force-down') {
      const forced = flag(body.forced_down, 'forced_down');
      await admin.updateService(ctx, row.id, { forcedDown: forced });
      return { service: { host, binary, forced_down: forced } };
    }
    const disabled = action !== 'enable';
    const reason =
      action === 'disable-log-reason' ? checkedName(body.disabled_reason, 'disabled_reason') : null;
    await admin.updateService(ctx, row.id, { disabled, disabledReason: reason });
    return {
      service: {
        host,
        binary,
        status: disabled ? 'disabled' : 'enabled',
        ...(reason !== null ? { disabled_reason: reason } : {}),
      },
    };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-services/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await serviceById(ctx, request.params.id, request.microversion);
    await admin.deleteService(ctx, row.id);
    return reply.code(204).send();
  });

  // Hypervisors: one per compute host.
  const hypervisorView = (
    h: ComputeHostSummary,
    service: ServiceRow | undefined,
    v: Microversion,
    detail: boolean,
  ) => {
    const uuid = hypervisorUuid(h.host);
    const base = {
      id: atLeast(v, 53) ? uuid : numberOf(uuid),
      hypervisor_hostname: h.host,
      state: h.state,
      status: h.enabled ? 'enabled' : 'disabled',
    };
    if (!detail) return base;
    const serviceView = {
      host: h.host,
      id: service ? (atLeast(v, 53) ? service.id : numberOf(service.id)) : null,
      disabled_reason: h.disabledReason,
    };
    // The driver's kind and version are not recorded per host; the view names the family.
    const common = { hypervisor_type: 'QEMU', hypervisor_version: 0, host_ip: null };
    if (atLeast(v, 88)) return { ...base, ...common, service: serviceView, uptime: null };
    const free = {
      ram: h.capacity.memoryMb - h.used.memoryMb,
      disk: h.capacity.diskGb - h.used.diskGb,
    };
    return {
      ...base,
      ...common,
      vcpus: h.capacity.vcpus,
      memory_mb: h.capacity.memoryMb,
      local_gb: h.capacity.diskGb,
      vcpus_used: h.used.vcpus,
      memory_mb_used: h.used.memoryMb,
      local_gb_used: h.used.diskGb,
      free_ram_mb: free.ram,
      free_disk_gb: free.disk,
      current_workload: 0,
      running_vms: h.instances,
      disk_available_least: free.disk,
      cpu_info: atLeast(v, 28)
        ? { arch: h.architecture }
        : JSON.stringify({ arch: h.architecture }),
      service: serviceView,
    };
  };

  const hostsAndServices = async (ctx: RequestContext) => {
    const [hosts, rows] = await Promise.all([
      services.hosts.computeHosts(),
      admin.services(ctx, { binary: 'compute' }),
    ]);
    return { hosts, service: new Map(rows.map((s) => [s.host, s])) };
  };

  const serversOf = async (host: string) =>
    (await services.hosts.instances({ host })).map(({ instance }) => ({
      uuid: instance.id,
      name: `instance-${instance.id.slice(0, 8)}`,
    }));

  const listHypervisors = async (request: FastifyRequest, detail: boolean) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const q = queryOf(request);
    // Paging from 2.33 (the marker an id of the microversion), search and servers from 2.53.
    for (const [k, minor] of [
      ['limit', 33],
      ['marker', 33],
      ['hypervisor_hostname_pattern', 53],
      ['with_servers', 53],
    ] as const) {
      if (q[k] !== undefined && !atLeast(v, minor)) {
        throw badRequest(`Query parameter ${k} needs microversion 2.${minor}.`);
      }
    }
    const found = await hostsAndServices(ctx);
    const service = found.service;
    let hosts = found.hosts;
    if (q.hypervisor_hostname_pattern !== undefined) {
      const pattern = q.hypervisor_hostname_pattern;
      hosts = hosts.filter((h) => h.host.includes(pattern));
      if (hosts.length === 0) {
        throw notFound('host', pattern, `No hypervisor matching '${pattern}' could be found.`);
      }
    }
    if (q.marker !== undefined) {
      const idOf = (host: string) =>
        atLeast(v, 53) ? hypervisorUuid(host) : String(numberOf(hypervisorUuid(host)));
      const at = hosts.findIndex((h) => idOf(h.host) === q.marker);
      if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
      hosts = hosts.slice(at + 1);
    }
    let more = false;
    if (q.limit !== undefined) {
      const limit = Number(q.limit);
      if (!/^\d+$/.test(q.limit) || limit < 1) {
        throw badRequest(`Invalid input for query parameters limit. Value: ${q.limit}.`);
      }
      more = hosts.length > limit;
      hosts = hosts.slice(0, limit);
    }
    const withServers = q.with_servers !== undefined && flag(q.with_servers, 'with_servers');
    const out: Record<string, unknown> = {
      hypervisors: await Promise.all(
        hosts.map(async (h) => ({
          ...hypervisorView(h, service.get(h.host), v, detail),
          ...(withServers ? { servers: await serversOf(h.host) } : {}),
        })),
      ),
    };
    const last = hosts[hosts.length - 1];
    if (more && last) {
      const marker = atLeast(v, 53)
        ? hypervisorUuid(last.host)
        : String(numberOf(hypervisorUuid(last.host)));
      const next = new URLSearchParams({ ...q, marker });
      out.hypervisors_links = [
        {
          rel: 'next',
          href: `${request.protocol}://${request.headers.host}/v2.1/os-hypervisors${detail ? '/detail' : ''}?${next}`,
        },
      ];
    }
    return out;
  };
  app.get('/v2.1/os-hypervisors', (request) => listHypervisors(request, false));
  app.get('/v2.1/os-hypervisors/detail', (request) => listHypervisors(request, true));

  app.get('/v2.1/os-hypervisors/statistics', async (request) => {
    const ctx = await caller(request);
    if (atLeast(request.microversion, 88)) {
      throw notFound(
        'host',
        'statistics',
        'Hypervisor statistics are gone from microversion 2.88.',
      );
    }
    const { hosts } = await hostsAndServices(ctx);
    const sum = (f: (h: ComputeHostSummary) => number) => hosts.reduce((n, h) => n + f(h), 0);
    const free = {
      ram: sum((h) => h.capacity.memoryMb - h.used.memoryMb),
      disk: sum((h) => h.capacity.diskGb - h.used.diskGb),
    };
    return {
      hypervisor_statistics: {
        count: hosts.length,
        vcpus: sum((h) => h.capacity.vcpus),
        memory_mb: sum((h) => h.capacity.memoryMb),
        local_gb: sum((h) => h.capacity.diskGb),
        vcpus_used: sum((h) => h.used.vcpus),
        memory_mb_used: sum((h) => h.used.memoryMb),
        local_gb_used: sum((h) => h.used.diskGb),
        free_ram_mb: free.ram,
        free_disk_gb: free.disk,
        current_workload: 0,
        running_vms: sum((h) => h.instances),
        disk_available_least: free.disk,
      },
    };
  });

  /** A hypervisor by the id of the microversion (UUID from 2.53, else the integer). */
  const hypervisorById = async (ctx: RequestContext, id: string, v: Microversion) => {
    if (atLeast(v, 53) && !UUID.test(id)) throw badRequest(`Invalid uuid ${id}.`);
    const { hosts, service } = await hostsAndServices(ctx);
    const h = hosts.find((x) =>
      atLeast(v, 53)
        ? hypervisorUuid(x.host) === id
        : String(numberOf(hypervisorUuid(x.host))) === id,
    );
    if (!h) throw notFound('host', id, `Hypervisor with ID ${id} could not be found.`);
    return { h, service: service.get(h.host) };
  };

  app.get<{ Params: { id: string } }>('/v2.1/os-hypervisors/:id', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const q = queryOf(request);
    if (q.with_servers !== undefined && !atLeast(v, 53)) {
      throw badRequest('Query parameter with_servers needs microversion 2.53.');
    }
    const { h, service } = await hypervisorById(ctx, request.params.id, v);
    const withServers = q.with_servers !== undefined && flag(q.with_servers, 'with_servers');
    return {
      hypervisor: {
        ...hypervisorView(h, service, v, true),
        ...(withServers ? { servers: await serversOf(h.host) } : {}),
      },
    };
  });

  // A host's uptime is not recorded here: 501, which the API reference documents for a
  // hypervisor that cannot tell (clients carry on without it). Gone at 2.88.
  app.get<{ Params: { id: string } }>('/v2.1/os-hypervisors/:id/uptime', async (request, reply) => {
    const ctx = await caller(request);
    const v = request.microversion;
    if (atLeast(v, 88)) {
      throw notFound(
        'host',
        request.params.id,
        'The uptime resource is gone from microversion 2.88.',
      );
    }
    const { h } = await hypervisorById(ctx, request.params.id, v);
    const f = computeFault(501, `The uptime of hypervisor ${h.host} is not known.`);
    return reply.code(f.status).type('application/json').send(f.body);
  });

  // Before 2.53: the hypervisors whose name has the pattern (with their servers, or not).
  const byPattern = async (
    request: FastifyRequest<{ Params: { pattern: string } }>,
    instead: string,
  ) => {
    const ctx = await caller(request);
    const { pattern } = request.params;
    if (atLeast(request.microversion, 53)) {
      throw notFound('host', pattern, `From 2.53 use GET /os-hypervisors?${instead}.`);
    }
    const { hosts, service } = await hostsAndServices(ctx);
    const found = hosts.filter((h) => h.host.includes(pattern));
    if (found.length === 0) {
      throw notFound('host', pattern, `No hypervisor matching '${pattern}' could be found.`);
    }
    return found.map((h) => ({
      h,
      view: hypervisorView(h, service.get(h.host), request.microversion, false),
    }));
  };
  app.get<{ Params: { pattern: string } }>(
    '/v2.1/os-hypervisors/:pattern/servers',
    async (request) => ({
      hypervisors: await Promise.all(
        (await byPattern(request, 'with_servers=true')).map(async ({ h, view }) => ({
          ...view,
          servers: await serversOf(h.host),
        })),
      ),
    }),
  );
  app.get<{ Params: { pattern: string } }>(
    '/v2.1/os-hypervisors/:pattern/search',
    async (request) => ({
      hypervisors: (await byPattern(request, 'hypervisor_hostname_pattern=')).map(
        ({ view }) => view,
      ),
    }),
  );
}
