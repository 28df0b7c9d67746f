// What an admin does to the hosts: the service registry (disable or enable a service with a
// reason, force one down, delete one) and host aggregates (create, rename, add and remove
// hosts, set metadata; the `availability_zone` key moves the aggregate's hosts into that
// zone, for listings and for the scheduler alike). Every method is for admins only.
import { isAdmin, type RequestContext } from '../context.js';
import {
  AggregateRepo,
  ComputeNodeRepo,
  InstanceRepo,
  LIVE_VM_STATES,
  now,
  ServiceRepo,
  ZONE_KEY,
  type Aggregate,
  type Db,
  type ServiceRow,
} from '../db/index.js';
import { StratusError, invalid, notFound } from '../errors.js';

/** A change to a service, as the operator asks for it. */
export interface ServiceChange {
  disabled?: boolean;
  /** Why it is disabled; kept only while it is. */
  disabledReason?: string | null;
  forcedDown?: boolean;
}

export class HostAdmin {
  readonly #db: Db;
  readonly #services: ServiceRepo;
  readonly #aggregates: AggregateRepo;
  /** The zone a host without one reported gets (the config's `compute.availabilityZone`). */
  readonly #defaultZone: string;

  constructor(db: Db, defaultZone: string) {
    this.#db = db;
    this.#services = new ServiceRepo(db);
    this.#aggregates = new AggregateRepo(db);
    this.#defaultZone = defaultZone;
  }

  /** Every registered service (of one binary or host, when asked), by binary and host. */
  services(ctx: RequestContext, filter: { binary?: string; host?: string } = {}) {
    adminOnly(ctx);
    return this.#services.list(filter);
  }

  /** The zone of each compute host (its aggregate's, or the one it reported), by host. */
  async hostZones(ctx: RequestContext): Promise<Map<string, string>> {
    adminOnly(ctx);
    const nodes = await new ComputeNodeRepo(this.#db).list();
    return new Map(nodes.map((n) => [n.host, n.availabilityZone || this.#defaultZone]));
  }

  /** The service with this id; `not_found` when there is none. */
  async service(ctx: RequestContext, id: string): Promise<ServiceRow> {
    adminOnly(ctx);
    const row = await this.#services.findById(id);
    if (!row) throw notFound('service', id, `Service ${id} could not be found.`);
    return row;
  }

  /** The service `binary` on `host`; `not_found` when there is none. */
  async serviceOn(ctx: RequestContext, host: string, binary: string): Promise<ServiceRow> {
    adminOnly(ctx);
    const row = await this.#services.find(host, binary);
    if (!row) {
      throw notFound(
        'service',
        `${binary}@${host}`,
        `Service ${binary} on host ${host} not found.`,
      );
    }
    return row;
  }

  /** Changes a service's flags; returns the row as it is now. */
  async updateService(ctx: RequestContext, id: string, change: ServiceChange): Promise<ServiceRow> {
    const row = await this.service(ctx, id);
    if (change.disabled !== undefined || change.disabledReason !== undefined) {
      const disabled = change.disabled ?? row.disabled === 1;
      await this.#services.setDisabled(
        row.host,
        row.binary,
        disabled,
        disabled ? (change.disabledReason ?? row.disabledReason) : null,
      );
    }
    if (change.forcedDown !== undefined) await this.#services.setForcedDown(id, change.forcedDown);
    return this.service(ctx, id);
  }

  /** Deletes a service; a compute host that still runs instances is a `conflict`. */
  async deleteService(ctx: RequestContext, id: string): Promise<void> {
    const row = await this.service(ctx, id);
    if (row.binary === 'compute') {
      const live = await new InstanceRepo(this.#db).list({
        host: row.host,
        vmStates: LIVE_VM_STATES,
      });
      if (live.length > 0) {
        throw new StratusError(
          'conflict',
          `Unable to delete compute service that is hosting instances (${live.length} on ${row.host}). Migrate or delete the instances first.`,
          { resource: 'service', id, reason: 'in_use' },
        );
      }
    }
    if (!(await this.#services.delete(id))) throw notFound('service', id);
  }

  aggregates(ctx: RequestContext): Promise<Aggregate[]> {
    adminOnly(ctx);
    return this.#aggregates.list();
  }

  aggregate(ctx: RequestContext, id: number): Promise<Aggregate> {
    adminOnly(ctx);
    return this.#aggregates.get(id);
  }

  async createAggregate(ctx: RequestContext, name: string, zone: string | null) {
    adminOnly(ctx);
    if (zone !== null) await this.#zoneIsNoHostName(zone);
    return this.#aggregates.create(name, zone, now());
  }

  async updateAggregate(
    ctx: RequestContext,
    id: number,
    change: { name?: string; zone?: string | null },
  ): Promise<Aggregate> {
    adminOnly(ctx);
    if (change.zone !== undefined && change.zone !== null) {
      await this.#zoneIsNoHostName(change.zone);
      await this.#zoneFitsHosts(id, change.zone);
    }
    return this.#aggregates.update(id, change, now());
  }

  async setAggregateMetadata(
    ctx: RequestContext,
    id: number,
    metadata: Record<string, string | null>,
  ): Promise<Aggregate> {
    adminOnly(ctx);
    const zone = metadata[ZONE_KEY];
    if (zone !== undefined && zone !== null) {
      await this.#zoneIsNoHostName(zone);
      await this.#zoneFitsHosts(id, zone);
    }
    return this.#aggregates.setMetadata(id, metadata, now());
  }

  /**
   * Adds a compute host to an aggregate. A host is in one zone only: it may not join an
   * aggregate whose zone differs from the zone another of its aggregates gives it.
   */
  async addHost(ctx: RequestContext, id: number, host: string): Promise<Aggregate> {
    adminOnly(ctx);
    const agg = await this.#aggregates.get(id);
    const known = (await this.#services.find(host, 'compute')) !== undefined;
    if (!known) throw notFound('host', host, `Compute host ${host} could not be found.`);
    const zone = agg.metadata[ZONE_KEY];
    if (zone !== undefined) {
      const current = (await this.#aggregates.zoneOfHosts()).get(host);
      if (current !== undefined && current !== zone) {
        throw new StratusError(
          'conflict',
          `Cannot add host ${host} to aggregate ${id}: the host is in availability zone ${current} through another aggregate.`,
          { resource: 'aggregate', id: String(id) },
        );
      }
    }
    return this.#aggregates.addHost(id, host, now());
  }

  removeHost(ctx: RequestContext, id: number, host: string): Promise<Aggregate> {
    adminOnly(ctx);
    return this.#aggregates.removeHost(id, host, now());
  }

  deleteAggregate(ctx: RequestContext, id: number): Promise<void> {
    adminOnly(ctx);
    return this.#aggregates.delete(id);
  }

  /** Hosts and zones share one name space in the Compute API: a zone may not be a host's name. */
  async #zoneIsNoHostName(zone: string): Promise<void> {
    if ((await this.#services.list({ host: zone })).length > 0) {
      throw invalid(`Aggregate zone ${zone} conflicts with an existing host name.`, {
        resource: 'aggregate',
      });
    }
  }

  /** Giving an aggregate a zone may not move one of its hosts out of another aggregate's zone. */
  async #zoneFitsHosts(id: number, zone: string): Promise<void> {
    const agg = await this.#aggregates.get(id);
    const others = (await this.#aggregates.list()).filter((a) => a.id !== id);
    for (const host of agg.hosts) {
      const clash = others.find(
        (a) =>
          a.hosts.includes(host) &&
          a.metadata[ZONE_KEY] !== undefined &&
          a.metadata[ZONE_KEY] !== zone,
      );
      if (clash) {
        throw invalid(
          `Cannot set availability zone ${zone} on aggregate ${id}: its host ${host} is in zone ${clash.metadata[ZONE_KEY]} through aggregate ${clash.id}.`,
          { resource: 'aggregate' },
        );
      }
    }
  }
}

function adminOnly(ctx: RequestContext): void {
  if (!isAdmin(ctx)) {
    throw new StratusError(
      'forbidden',
      'Only an admin may manage hosts, services and aggregates.',
      {
        resource: 'host',
      },
    );
  }
}
