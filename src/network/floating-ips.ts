// Floating IPs: allocation from the pool to a project (within its quota), association with an
// instance's fixed address, disassociation and release. The network manager runs this on the
// `network` topic; after every change that makes a floating address map onto a guest, or stop
// mapping onto one, it announces the change through `onChange`, the one seam where the data
// plane (DNAT/SNAT on the instance's host) plugs in.
import { randomUUID } from 'node:crypto';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import { isAdmin, type RequestContext } from '../context.js';
import {
  FloatingIpRepo,
  idStartsWith,
  QuotaRepo,
  TagRepo,
  type Db,
  type FloatingIpDomain,
  type FloatingIpRow,
  type InstanceRow,
} from '../db/index.js';
import { asStratusError, invalid, notFound, StratusError } from '../errors.js';
import type { Logger } from '../log.js';

/** An allocated floating address of the caller's project, by address or allocation id. */
export type FloatingIpRef = { address: string } | { allocationPrefix: string; shown: string };

/** A current association, by floating address or association id. */
export type AssociationRef = { address: string } | { associationPrefix: string; shown: string };

/** An instance by the leading characters of its id, with the id as the caller wrote it. */
export interface InstanceRef {
  idPrefix: string;
  shown: string;
}

/** A floating address mapped onto an instance's fixed address on a compute host. */
export interface FloatingIpMapping {
  address: string;
  fixedAddress: string;
  instanceId: string;
  /** The compute host the instance is on; null for an instance that never got one. */
  host: string | null;
}

/**
 * What the data plane hears: `mapped` after the database says traffic for `address` is now to
 * reach `fixedAddress` on `host`, `unmapped` after it says it no longer is. A network service
 * process announces one project's changes one at a time, in the order they were made (an
 * address moving between instances is unmapped from the old one before it is mapped onto the
 * new one). Applying one must be idempotent (a mapping may be announced again, an unmapping may
 * name a mapping that was never applied). With several network service processes, changes of
 * one project made by different processes are not ordered against each other.
 *
 * A failed `mapped` undoes the association (the address is left unassociated) and the request
 * fails; a failed `unmapped` is logged and the change stands, so the data plane has to converge
 * from `FloatingIpService.mappingsOnHost` when it starts or recovers.
 */
export type FloatingIpChange = { kind: 'mapped' | 'unmapped' } & FloatingIpMapping;
export type FloatingIpHook = (change: FloatingIpChange) => Promise<void>;

export interface FloatingIpServiceOptions {
  db: Db;
  /** The pool addresses are allocated from. */
  pool: string;
  quota: QuotaLimits;
  logger: Logger;
  /** The data plane's hook; nothing is applied when absent. */
  onChange?: FloatingIpHook | undefined;
}

export class FloatingIpService {
  readonly #opts: FloatingIpServiceOptions;
  readonly #repo: FloatingIpRepo;
  readonly #turns = new Map<string, Promise<unknown>>();

  constructor(options: FloatingIpServiceOptions) {
    this.#opts = options;
    this.#repo = new FloatingIpRepo(options.db);
  }

  /** The addresses the caller may see: its project's, or every project's for admins. */
  list(
    ctx: RequestContext,
    filter: {
      addresses?: readonly string[];
      allocationPrefixes?: readonly string[];
      associationPrefixes?: readonly string[];
    } = {},
  ): Promise<FloatingIpRow[]> {
    return this.#repo.list({ ...filter, projectId: isAdmin(ctx) ? undefined : project(ctx) });
  }

  /**
   * Allocates the lowest free address of the pool to the caller's project. The quota check and
   * the allocation share one transaction under the project's row lock, so parallel requests of
   * one project cannot pass the limit together.
   */
  async allocate(ctx: RequestContext, domain: FloatingIpDomain): Promise<FloatingIpRow> {
    const projectId = project(ctx);
    return this.#opts.db.transaction().execute(async (trx) => {
      await lockProject(trx, projectId);
      const limit = effectiveLimits(
        this.#opts.quota,
        await new QuotaRepo(trx).overrides(projectId),
      ).addresses;
      const repo = new FloatingIpRepo(trx);
      const used = await repo.countAllocated(projectId);
      if (used >= limit) {
        throw new StratusError(
          'over_quota',
          `Your quota allows at most ${limit} floating addresses (${used} allocated).`,
          { resource: 'addresses', reason: 'addresses' },
        );
      }
      const row = await repo.take(this.#opts.pool, projectId, domain, Date.now());
      if (!row) {
        throw new StratusError(
          'unavailable',
          `The address pool '${this.#opts.pool}' has no free address left.`,
          { resource: 'floating_ip', id: this.#opts.pool, reason: 'no_address' },
        );
      }
      return row;
    });
  }

  /**
   * Associates an allocated address with an instance of the same project that is running or
   * stopped. An instance has at most one floating address: one it had before is disassociated
   * (and stays allocated). An address associated with another instance moves only when
   * reassociation is allowed; by default that is so for 'standard' addresses and not for 'vpc'
   * ones. Associating an address with the instance it is already on changes nothing.
   */
  async associate(
    ctx: RequestContext,
    args: {
      ref: FloatingIpRef;
      instance: InstanceRef;
      allowReassociation: boolean | null;
      /** The instance's fixed address to map onto; its only one when null. */
      fixedAddress?: string | null;
    },
  ): Promise<FloatingIpRow> {
    const address = await this.#find(ctx, args.ref);
    const inst = await this.#instance(ctx, args.instance, address);
    if (args.fixedAddress && args.fixedAddress !== inst.privateIp) {
      throw invalid(
        `The instance '${args.instance.shown}' has no private address '${args.fixedAddress}'.`,
        { resource: 'parameter', id: 'PrivateIpAddress' },
      );
    }
    const allowed = args.allowReassociation ?? address.domain === 'standard';
    if (address.instanceId === inst.id && address.associationId) return address;
    if (address.associationId && !allowed) {
      throw new StratusError(
        'conflict',
        `The address '${address.address}' is already associated with an instance.`,
        { resource: 'address', id: address.address, reason: 'already_associated' },
      );
    }
    return this.#serial(address.projectId as string, async () => {
      const associationId = randomUUID();
      const changes: FloatingIpChange[] = [];
      const at = Date.now();
      await this.#opts.db.transaction().execute(async (trx) => {
        await lockProject(trx, address.projectId as string);
        // Hold the instance's row while we work, and only while it is still live and not being
        // terminated: a terminate that set 'deleting' first makes this a refusal, one that comes
        // later waits for us and then takes the address back with the fixed one.
        const live = await trx
          .updateTable('instances')
          .set({ id: inst.id })
          .where('id', '=', inst.id)
          .where('vmState', 'in', ['active', 'stopped'])
          .where((eb) => eb.or([eb('taskState', 'is', null), eb('taskState', '!=', 'deleting')]))
          .where('privateIp', '=', inst.privateIp as string)
          .executeTakeFirst();
        if (Number(live.numUpdatedRows) !== 1) throw incorrectState(inst, args.instance.shown);
        const repo = new FloatingIpRepo(trx);
        const current = await repo.get(address.id);
        if (!current || current.allocationId !== address.allocationId) throw gone(args.ref);
        if (current.associationId && current.instanceId !== inst.id && !allowed) {
          throw new StratusError(
            'conflict',
            `The address '${address.address}' is already associated with an instance.`,
            { resource: 'address', id: address.address, reason: 'already_associated' },
          );
        }
        for (const other of await repo.list({ instanceIds: [inst.id] })) {
          if (other.id === current.id || !other.associationId) continue;
          if (!(await repo.disassociate(other.id, other.associationId))) throw busy(other.address);
          changes.push(unmapped(other, inst.host));
        }
        if (current.associationId && current.instanceId && current.instanceId !== inst.id) {
          changes.push(unmapped(current, await hostOf(trx, current.instanceId)));
        }
        const ok = await repo.associate(current, {
          instanceId: inst.id,
          fixedAddress: inst.privateIp as string,
          associationId,
          at,
        });
        if (!ok) throw busy(current.address);
        changes.push({
          kind: 'mapped',
          address: current.address,
          fixedAddress: inst.privateIp as string,
          instanceId: inst.id,
          host: inst.host,
        });
      });
      const row = (await this.#repo.get(address.id)) as FloatingIpRow;
      try {
        await this.#announce(changes);
      } catch (err) {
        // The data plane could not map it: take the association back, so what the database
        // says is what the data plane does.
        if (await this.#repo.disassociate(row.id, associationId)) {
          const mapped = changes[changes.length - 1] as FloatingIpChange;
          await this.#announce([{ ...mapped, kind: 'unmapped' }]).catch(() => undefined);
        }
        throw new StratusError(
          'unavailable',
          `The address '${row.address}' could not be mapped onto the instance: ${asStratusError(err).message}`,
          { resource: 'address', id: row.address, cause: err },
        );
      }
      return row;
    });
  }

  /**
   * Ends an association. By address, an address that is not associated is left as it is; by
   * association id, the association must exist.
   */
  async disassociate(ctx: RequestContext, ref: AssociationRef): Promise<FloatingIpRow> {
    let row: FloatingIpRow;
    if ('address' in ref) {
      row = await this.#find(ctx, { address: ref.address });
    } else {
      const rows = await this.#repo.list({
        associationPrefixes: [ref.associationPrefix],
        projectId: isAdmin(ctx) ? undefined : project(ctx),
      });
      const found = rows[0];
      if (!found) throw noAssociation(ref.shown);
      row = found;
    }
    return this.#serial(row.projectId as string, async () => {
      const current = await this.#repo.get(row.id);
      if (!current || current.allocationId !== row.allocationId) {
        throw 'address' in ref ? gone(ref) : noAssociation(ref.shown);
      }
      if ('address' in ref) {
        if (!current.associationId) return current;
      } else if (current.associationId !== row.associationId) {
        throw noAssociation(ref.shown);
      }
      return this.#disassociateRow(current);
    });
  }

  /** Ends the row's current association and announces it; the caller holds the project's turn. */
  async #disassociateRow(row: FloatingIpRow): Promise<FloatingIpRow> {
    const host = row.instanceId ? await hostOf(this.#opts.db, row.instanceId) : null;
    if (!(await this.#repo.disassociate(row.id, row.associationId as string))) {
      throw busy(row.address);
    }
    await this.#announceQuietly([unmapped(row, host)]);
    return (await this.#repo.get(row.id)) as FloatingIpRow;
  }

  /**
   * Gives an address back to the pool, with its tags. A 'standard' address is disassociated
   * first; a 'vpc' address that is still associated is refused.
   */
  async release(ctx: RequestContext, ref: FloatingIpRef): Promise<void> {
    const found = await this.#find(ctx, ref);
    await this.#serial(found.projectId as string, async () => {
      let row = await this.#repo.get(found.id);
      if (!row || row.allocationId !== found.allocationId) throw gone(ref);
      if (row.associationId) {
        if (row.domain !== 'standard') {
          throw new StratusError(
            'conflict',
            `The address '${row.address}' is associated with an instance; disassociate it first.`,
            { resource: 'address', id: row.address, reason: 'address_in_use' },
          );
        }
        row = await this.#disassociateRow(row);
      }
      const { id, address } = row;
      const allocationId = row.allocationId as string;
      await this.#opts.db.transaction().execute(async (trx) => {
        if (!(await new FloatingIpRepo(trx).release(id, allocationId))) throw busy(address);
        await new TagRepo(trx).deleteResource(allocationId);
      });
    });
  }

  /**
   * Disassociates whatever floating addresses an instance has (it is going away); they stay
   * allocated to their project. Nothing happens for an instance without one.
   */
  async disassociateInstance(instanceId: string, host: string | null): Promise<void> {
    for (const found of await this.#repo.list({ instanceIds: [instanceId] })) {
      await this.#serial(found.projectId as string, async () => {
        const row = await this.#repo.get(found.id);
        if (row?.instanceId !== instanceId || !row.associationId) return;
        if (await this.#repo.disassociate(row.id, row.associationId)) {
          await this.#announceQuietly([unmapped(row, host)]);
        }
      });
    }
  }

  /**
   * Maps the addresses reserved for an instance at its launch onto the fixed address its build
   * has just given it (the instance is still building, which `associate` refuses). One that is
   * associated already, or gone, is left as it is; a data plane failure is logged.
   */
  async associateAtBuild(args: {
    instanceId: string;
    fixedAddress: string;
    host: string;
    allocationIds: readonly string[];
  }): Promise<void> {
    for (const allocationId of args.allocationIds) {
      const [found] = await this.#repo.list({ allocationPrefixes: [allocationId] });
      if (!found?.projectId || found.allocationId !== allocationId) continue;
      await this.#serial(found.projectId, async () => {
        const row = await this.#repo.get(found.id);
        if (!row || row.allocationId !== allocationId || row.associationId) return;
        const ok = await this.#repo.associate(row, {
          instanceId: args.instanceId,
          fixedAddress: args.fixedAddress,
          associationId: randomUUID(),
          at: Date.now(),
        });
        if (!ok) return;
        await this.#announceQuietly([
          {
            kind: 'mapped',
            address: row.address,
            fixedAddress: args.fixedAddress,
            instanceId: args.instanceId,
            host: args.host,
          },
        ]);
      });
    }
  }

  /** Every mapping the data plane of this host should have applied right now. */
  async mappingsOnHost(host: string): Promise<FloatingIpMapping[]> {
    return this.#repo.mappingsOnHost(host);
  }

  /**
   * Runs `fn` when no other floating-address change of the project is in progress in this
   * process, so the data plane hears one project's changes one at a time, in order.
   */
  #serial<T>(projectId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#turns.get(projectId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#turns.set(projectId, tail);
    void tail.then(() => {
      if (this.#turns.get(projectId) === tail) this.#turns.delete(projectId);
    });
    return run;
  }

  async #announce(changes: readonly FloatingIpChange[]): Promise<void> {
    for (const change of changes) {
      this.#opts.logger.debug({ ...change }, `floating address ${change.kind}`);
      if (this.#opts.onChange) await this.#opts.onChange(change);
    }
  }

  async #announceQuietly(changes: readonly FloatingIpChange[]): Promise<void> {
    for (const change of changes) {
      try {
        await this.#announce([change]);
      } catch (err) {
        this.#opts.logger.error(
          { err, ...change },
          'the data plane failed to apply a floating address change',
        );
      }
    }
  }

  async #find(ctx: RequestContext, ref: FloatingIpRef): Promise<FloatingIpRow> {
    const projectId = isAdmin(ctx) ? undefined : project(ctx);
    const rows =
      'address' in ref
        ? await this.#repo.list({ addresses: [ref.address], projectId })
        : await this.#repo.list({ allocationPrefixes: [ref.allocationPrefix], projectId });
    const row = rows[0];
    if (!row) throw gone(ref);
    return row;
  }

  async #instance(
    ctx: RequestContext,
    ref: InstanceRef,
    address: FloatingIpRow,
  ): Promise<InstanceRow> {
    let q = this.#opts.db
      .selectFrom('instances')
      .selectAll()
      .where((eb) => idStartsWith(eb, 'id', [ref.idPrefix]));
    if (!isAdmin(ctx)) q = q.where('projectId', '=', project(ctx));
    const inst = await q.orderBy('createdAt').executeTakeFirst();
    if (!inst) {
      throw notFound('instance', ref.shown, `The instance ID '${ref.shown}' does not exist`);
    }
    if (inst.projectId !== address.projectId) {
      throw invalid(
        `The address '${address.address}' and the instance '${ref.shown}' belong to different projects.`,
        { resource: 'parameter', id: 'InstanceId' },
      );
    }
    const usable =
      (inst.vmState === 'active' || inst.vmState === 'stopped') &&
      inst.taskState !== 'deleting' &&
      inst.privateIp !== null;
    if (!usable) throw incorrectState(inst, ref.shown);
    return inst;
  }
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

/** Serialises a project's quota-counted and floating-address changes (PostgreSQL row lock). */
async function lockProject(db: Db, projectId: string): Promise<void> {
  await db.updateTable('projects').set({ id: projectId }).where('id', '=', projectId).execute();
}

async function hostOf(db: Db, instanceId: string): Promise<string | null> {
  const row = await db
    .selectFrom('instances')
    .select('host')
    .where('id', '=', instanceId)
    .executeTakeFirst();
  return row?.host ?? null;
}

function unmapped(row: FloatingIpRow, host: string | null): FloatingIpChange {
  return {
    kind: 'unmapped',
    address: row.address,
    fixedAddress: row.fixedAddress ?? '',
    instanceId: row.instanceId ?? '',
    host,
  };
}

function gone(ref: FloatingIpRef): StratusError {
  return 'address' in ref
    ? notFound('address', ref.address, `The address '${ref.address}' does not exist.`)
    : notFound('allocation', ref.shown, `The allocation ID '${ref.shown}' does not exist.`);
}

function noAssociation(shown: string): StratusError {
  return notFound('association', shown, `The association ID '${shown}' does not exist.`);
}

function busy(address: string): StratusError {
  return new StratusError(
    'conflict',
    `The address '${address}' was changed by another request at the same time; try again.`,
    { resource: 'address', id: address },
  );
}

function incorrectState(inst: InstanceRow, shown?: string): StratusError {
  const state = inst.taskState === 'deleting' ? 'being terminated' : inst.vmState;
  return new StratusError(
    'conflict',
    `The instance '${shown ?? inst.id}' is ${state} and cannot have an address associated now.`,
    { resource: 'instance', id: shown ?? inst.id, reason: 'instance_state' },
  );
}
