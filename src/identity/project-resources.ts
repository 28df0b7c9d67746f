// What a project or a user still owns in the cloud (live instances, images, addresses,
// volumes, snapshots), so that deleting it never orphans them silently (issue 14), and the operator's
// cascade that ends them first.
import { CapacityClaimRepo, type Db } from '../db/index.js';
import { StratusError } from '../errors.js';

/** How many of each a project or user still owns (volumes and snapshots: projects only). */
export interface ResourceCounts {
  instances: number;
  images: number;
  addresses: number;
  volumes: number;
  snapshots: number;
}

type Owner = { projectId?: string; userId?: string };

const POLL_MS = 500;

export class ProjectResources {
  constructor(private readonly db: Db) {}

  async count(owner: Owner): Promise<ResourceCounts> {
    let instances = this.db
      .selectFrom('instances')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('vmState', '<>', 'deleted');
    if (owner.projectId) instances = instances.where('projectId', '=', owner.projectId);
    if (owner.userId) instances = instances.where('userId', '=', owner.userId);
    const i = await instances.executeTakeFirstOrThrow();
    if (!owner.projectId) {
      return { instances: Number(i.n), images: 0, addresses: 0, volumes: 0, snapshots: 0 };
    }
    const [images, addresses, volumes, snapshots] = await Promise.all([
      this.db
        .selectFrom('images')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('ownerProjectId', '=', owner.projectId)
        .where('status', '<>', 'deleted')
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('floatingIps')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('projectId', '=', owner.projectId)
        .executeTakeFirstOrThrow(),
      // A volume's row lasts until its volume service has removed its file.
      this.db
        .selectFrom('volumes')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('projectId', '=', owner.projectId)
        .executeTakeFirstOrThrow(),
      // A snapshot's row, likewise, until its file is gone.
      this.db
        .selectFrom('snapshots')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('projectId', '=', owner.projectId)
        .executeTakeFirstOrThrow(),
    ]);
    return {
      instances: Number(i.n),
      images: Number(images.n),
      addresses: Number(addresses.n),
      volumes: Number(volumes.n),
      snapshots: Number(snapshots.n),
    };
  }

  /**
   * Ends what an owner has: its instances are terminated (marked for termination and made due
   * at once, so their host's reconciler ends them on its next pass, in whatever process runs
   * it; one never handed to a host just ends), then its images are deleted, its addresses
   * released and its volumes and snapshots marked for deletion (their volume service removes
   * each file and record on its next pass). Waits up to `waitMs` for the instances, volumes and
   * snapshots;
   * `unavailable` if some are still there then.
   */
  async release(owner: Owner, waitMs = 120_000): Promise<void> {
    let q = this.db
      .selectFrom('instances')
      .select(['id', 'host', 'vmState', 'taskState'])
      .where('vmState', '<>', 'deleted');
    if (owner.projectId) q = q.where('projectId', '=', owner.projectId);
    if (owner.userId) q = q.where('userId', '=', owner.userId);
    const live = await q.execute();
    const at = Date.now();
    for (const inst of live) {
      if (!inst.host || inst.vmState === 'error') {
        await this.db.transaction().execute(async (tx) => {
          await tx
            .updateTable('instances')
            .set({ vmState: 'deleted', taskState: null, terminatedAt: at, updatedAt: at })
            .where('id', '=', inst.id)
            .execute();
          await new CapacityClaimRepo(tx).release([inst.id]);
        });
      } else {
        // Long past any in-flight deadline: the host takes the termination over at once.
        await this.db
          .updateTable('instances')
          .set({ taskState: 'deleting', updatedAt: 0 })
          .where('id', '=', inst.id)
          .where('vmState', '<>', 'deleted')
          .execute();
      }
    }
    const deadline = Date.now() + waitMs;
    for (;;) {
      const left = (await this.count(owner)).instances;
      if (left === 0) break;
      if (Date.now() >= deadline) {
        throw new StratusError(
          'unavailable',
          `${left} instance(s) are still terminating; is their compute host running? Run the command again once they have ended.`,
          { resource: 'instance' },
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (!owner.projectId) return;
    await this.db
      .updateTable('images')
      .set({ status: 'deleted', deletedAt: Date.now(), updatedAt: Date.now() })
      .where('ownerProjectId', '=', owner.projectId)
      .where('status', '<>', 'deleted')
      .execute();
    // Terminated instances gave their associations back; what is left is only allocated.
    await this.db
      .updateTable('floatingIps')
      .set({
        projectId: null,
        allocationId: null,
        domain: null,
        allocatedAt: null,
        instanceId: null,
        fixedAddress: null,
        associationId: null,
        associatedAt: null,
      })
      .where('projectId', '=', owner.projectId)
      .where('instanceId', 'is', null)
      .execute();
    for (;;) {
      // Again each round: one still being made is marked once it is made. Snapshots are
      // files of their own (copies, not backing files), so they and the volumes go together.
      await this.db
        .updateTable('snapshots')
        .set({ status: 'deleting', updatedAt: Date.now() })
        .where('projectId', '=', owner.projectId)
        .where('status', 'not in', ['creating', 'deleting'])
        .execute();
      await this.db
        .updateTable('volumes')
        .set({ status: 'deleting', updatedAt: Date.now() })
        .where('projectId', '=', owner.projectId)
        .where('status', 'not in', ['creating', 'deleting'])
        .execute();
      const counts = await this.count(owner);
      const left = counts.volumes + counts.snapshots;
      if (left === 0) break;
      if (Date.now() >= deadline) {
        throw new StratusError(
          'unavailable',
          `${counts.volumes} volume(s) and ${counts.snapshots} snapshot(s) are still being deleted; is their volume service running? Run the command again once they are gone.`,
          { resource: 'volume' },
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
