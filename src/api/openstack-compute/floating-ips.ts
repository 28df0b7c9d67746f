// Floating IPs through the Compute API: os-floating-ips (list, show, allocate, deallocate),
// os-floating-ip-pools, and the addFloatingIp/removeFloatingIp server actions. They are the
// same addresses EC2 shows as Elastic IPs: a floating IP's id is its allocation's id, which
// EC2 shows as `eipalloc-...`. Every change goes to the network service, which maps the
// address on the instance's host. A project sees only its own addresses (404 otherwise).
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { FloatingIpRow, InstanceRow } from '../../db/index.js';
import { notFound, StratusError } from '../../errors.js';
import { DEFAULT_FLOATING_POOL, parseIpv4 } from '../../network/index.js';
import { PROXIES_REMOVED_AT, requireBefore } from './proxy-version.js';
import type { RouteDeps } from './routes.js';
import { bad } from './requests.js';

type Obj = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A floating IP as the Compute API shows it. */
export function floatingIpView(row: FloatingIpRow) {
  const associated = row.associationId !== null;
  return {
    id: row.allocationId as string,
    ip: row.address,
    pool: row.pool,
    fixed_ip: associated ? row.fixedAddress : null,
    instance_id: associated ? row.instanceId : null,
  };
}

/** `{"pool": name}` or no body: the pool to allocate from, undefined for the default. */
export function parseAllocate(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw bad('Invalid input for the request body. It must be an object.');
  }
  const pool = (body as Obj).pool;
  if (pool === undefined || pool === null) return undefined;
  if (typeof pool !== 'string') {
    throw bad('Invalid input for field/attribute pool. It must be a string.');
  }
  return pool;
}

/** An IPv4 address in an action body (`address`, `fixed_address`). */
function address(o: Obj, key: string, action: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || parseIpv4(v) === undefined) {
    throw bad(
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. It is not a valid IP address (${action}).`,
    );
  }
  return v;
}

/** `{"addFloatingIp": {"address", "fixed_address"?}}` or `{"removeFloatingIp": {"address"}}`. */
export function parseFloatingIpAction(
  body: Obj,
  action: 'addFloatingIp' | 'removeFloatingIp',
): { address: string; fixedAddress: string | undefined } {
  const arg = body[action];
  if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) {
    throw bad(`Invalid input for field/attribute ${action}. It must be an object.`);
  }
  const a = arg as Obj;
  const allowed = action === 'addFloatingIp' ? ['address', 'fixed_address'] : ['address'];
  const extra = Object.keys(a).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw bad(
      `Invalid input for ${action}: additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} unexpected).`,
    );
  }
  const ip = address(a, 'address', action);
  if (ip === undefined) throw bad("Invalid input: 'address' is a required property.");
  return { address: ip, fixedAddress: address(a, 'fixed_address', action) };
}

/** The caller's project's addresses (an admin's too: the Compute API lists one project's). */
async function ownAddresses(deps: RouteDeps, ctx: RequestContext): Promise<FloatingIpRow[]> {
  return (await deps.services.addresses.floatingIps(ctx)).filter(
    (r) => r.projectId === ctx.projectId && r.allocationId !== null,
  );
}

export function floatingIpRoutes(deps: RouteDeps): void {
  const { app, services, caller } = deps;
  const { network } = services;
  const proxy = async (request: FastifyRequest, what: string) => {
    const ctx = await caller(request);
    requireBefore(request.microversion, PROXIES_REMOVED_AT, what);
    return ctx;
  };
  const findById = async (ctx: RequestContext, id: string): Promise<FloatingIpRow> => {
    const row = UUID.test(id)
      ? (await ownAddresses(deps, ctx)).find((r) => r.allocationId === id.toLowerCase())
      : undefined;
    if (!row) throw notFound('allocation', id, `Floating IP not found for ID ${id}`);
    return row;
  };

  app.get('/v2.1/os-floating-ip-pools', async (request) => {
    await proxy(request, 'os-floating-ip-pools');
    return { floating_ip_pools: [{ name: DEFAULT_FLOATING_POOL }] };
  });

  app.get('/v2.1/os-floating-ips', async (request) => {
    const ctx = await proxy(request, 'os-floating-ips');
    return { floating_ips: (await ownAddresses(deps, ctx)).map(floatingIpView) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/os-floating-ips/:id', async (request) => {
    const ctx = await proxy(request, 'os-floating-ips');
    return { floating_ip: floatingIpView(await findById(ctx, request.params.id)) };
  });

  app.post('/v2.1/os-floating-ips', async (request) => {
    const ctx = await proxy(request, 'os-floating-ips');
    const pool = parseAllocate(request.body);
    if (pool !== undefined && pool !== DEFAULT_FLOATING_POOL) {
      throw notFound('floating_ip', pool, `Floating IP pool not found: '${pool}'.`);
    }
    let row: FloatingIpRow;
    try {
      // A Compute API address moves between servers and is released while associated, as an
      // EC2 'standard' address does.
      row = await network.allocateFloatingIp(ctx, 'standard');
    } catch (err) {
      if (err instanceof StratusError && err.reason === 'no_address') {
        throw notFound(
          'floating_ip',
          DEFAULT_FLOATING_POOL,
          `No more floating IPs in pool ${DEFAULT_FLOATING_POOL}.`,
        );
      }
      throw err;
    }
    return { floating_ip: floatingIpView(row) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-floating-ips/:id', async (request, reply) => {
    const ctx = await proxy(request, 'os-floating-ips');
    const row = await findById(ctx, request.params.id);
    // Deallocating an associated address disassociates it first.
    if (row.associationId !== null) {
      await network.disassociateFloatingIp(ctx, { address: row.address });
    }
    await network.releaseFloatingIp(ctx, { address: row.address });
    return reply.code(202).send();
  });
}

/**
 * addFloatingIp: maps one of the project's addresses onto the server's fixed address (moving
 * it from another server if it is on one). removeFloatingIp: ends the mapping, 409 when the
 * address is not on this server.
 */
export async function changeServerFloatingIp(
  deps: RouteDeps,
  ctx: RequestContext,
  server: InstanceRow,
  action: 'addFloatingIp' | 'removeFloatingIp',
  args: { address: string; fixedAddress: string | undefined },
): Promise<void> {
  const { network } = deps.services;
  const row = (await ownAddresses(deps, ctx)).find((r) => r.address === args.address);
  if (!row) throw notFound('address', args.address, 'floating IP not found');
  if (action === 'removeFloatingIp') {
    if (row.associationId === null || row.instanceId !== server.id) {
      throw new StratusError(
        'conflict',
        `Floating IP ${args.address} is not associated with instance ${server.id}.`,
        { resource: 'address', id: args.address },
      );
    }
    await network.disassociateFloatingIp(ctx, { address: args.address });
    return;
  }
  if (server.privateIp === null) throw bad('No fixed IPs associated to instance');
  if (args.fixedAddress !== undefined && args.fixedAddress !== server.privateIp) {
    throw bad('Specified fixed address not assigned to instance');
  }
  await network.associateFloatingIp(
    ctx,
    { address: args.address },
    { idPrefix: server.id, shown: server.id },
    { allowReassociation: true, fixedAddress: server.privateIp },
  );
}
