// Flavors: the sizes instances come in (EC2 instance types), their extra specs, and which
// projects may use a private one.
import { StratusError, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, FlavorRow } from '../schema.js';

/** A new flavor, as an admin asks for it. */
export interface NewFlavor {
  id: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  ephemeralGb: number;
  swapMb: number;
  rxtxFactor: number;
  isPublic: boolean;
  description: string | null;
}

export class FlavorRepo {
  constructor(private readonly db: Db) {}

  async list(): Promise<FlavorRow[]> {
    return this.db.selectFrom('flavors').selectAll().orderBy('memoryMb').orderBy('name').execute();
  }

  /**
   * The flavors a project may use: every public one, and the private ones it was given access
   * to. `undefined` (an admin's view) means every flavor.
   */
  async usableBy(projectId: string | undefined): Promise<FlavorRow[]> {
    let q = this.db.selectFrom('flavors').selectAll();
    if (projectId !== undefined) {
      const granted = this.db
        .selectFrom('flavorAccess')
        .select('flavorId')
        .where('projectId', '=', projectId);
      q = q.where((eb) => eb.or([eb('isPublic', '=', 1), eb('id', 'in', granted)]));
    }
    return q.orderBy('memoryMb').orderBy('name').execute();
  }

  async findByName(name: string): Promise<FlavorRow | undefined> {
    return this.db.selectFrom('flavors').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async findById(id: string): Promise<FlavorRow | undefined> {
    return this.db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getByName(name: string): Promise<FlavorRow> {
    const row = await this.findByName(name);
    if (!row) throw notFound('flavor', name, `The instance type '${name}' does not exist.`);
    return row;
  }

  /**
   * The flavor named `name` if `projectId` may use it (public, or private with access; any
   * flavor when `projectId` is undefined); a private flavor it may not use is as unknown.
   */
  async getUsableByName(name: string, projectId: string | undefined): Promise<FlavorRow> {
    const row = await this.findByName(name);
    if (row && (row.isPublic === 1 || projectId === undefined)) return row;
    if (row && (await this.hasAccess(row.id, projectId as string))) return row;
    throw notFound('flavor', name, `The instance type '${name}' does not exist.`);
  }

  /** Records a flavor; a taken id or name is `already_exists`. */
  async create(f: NewFlavor, at: number): Promise<FlavorRow> {
    const taken = await this.db
      .selectFrom('flavors')
      .select(['id', 'name'])
      .where((eb) => eb.or([eb('id', '=', f.id), eb('name', '=', f.name)]))
      .executeTakeFirst();
    const exists = (what: string) =>
      new StratusError('already_exists', `Flavor with ${what} already exists.`, {
        resource: 'flavor',
        id: f.id,
      });
    if (taken) throw exists(taken.id === f.id ? `ID ${f.id}` : `name ${f.name}`);
    try {
      await this.db
        .insertInto('flavors')
        .values({
          id: f.id,
          name: f.name,
          vcpus: f.vcpus,
          memoryMb: f.memoryMb,
          diskGb: f.diskGb,
          ephemeralGb: f.ephemeralGb,
          swapMb: f.swapMb,
          rxtxFactor: f.rxtxFactor,
          isPublic: f.isPublic ? 1 : 0,
          description: f.description,
          createdAt: at,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw exists(`ID ${f.id} or name ${f.name}`);
      throw err;
    }
    return (await this.findById(f.id)) as FlavorRow;
  }

  /** Changes a flavor's description; false when there is no such flavor. */
  async setDescription(id: string, description: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable('flavors')
      .set({ description })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Deletes a flavor with its extra specs and access list; false when there was none.
   * Instances keep their own copy of the sizes, so those of a deleted flavor run on.
   */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('flavorExtraSpecs').where('flavorId', '=', id).execute();
      await trx.deleteFrom('flavorAccess').where('flavorId', '=', id).execute();
      const r = await trx.deleteFrom('flavors').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** The extra specs of each of these flavors, by flavor id (those without any are absent). */
  async extraSpecs(ids: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom('flavorExtraSpecs')
      .selectAll()
      .where('flavorId', 'in', [...new Set(ids)])
      .orderBy('key')
      .execute();
    for (const r of rows) out.set(r.flavorId, { ...out.get(r.flavorId), [r.key]: r.value });
    return out;
  }

  /** Sets (adds or replaces) these extra specs of a flavor. */
  async setExtraSpecs(id: string, specs: Record<string, string>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of Object.entries(specs)) {
        await trx
          .insertInto('flavorExtraSpecs')
          .values({ flavorId: id, key, value })
          .onConflict((oc) => oc.columns(['flavorId', 'key']).doUpdateSet({ value }))
          .execute();
      }
    });
  }

  /** Removes one extra spec; false when the flavor had no such key. */
  async deleteExtraSpec(id: string, key: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('flavorExtraSpecs')
      .where('flavorId', '=', id)
      .where('key', '=', key)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The projects given access to a (private) flavor. */
  async accessList(id: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('flavorAccess')
      .select('projectId')
      .where('flavorId', '=', id)
      .orderBy('projectId')
      .execute();
    return rows.map((r) => r.projectId);
  }

  async hasAccess(id: string, projectId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('flavorAccess')
      .select('projectId')
      .where('flavorId', '=', id)
      .where('projectId', '=', projectId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Gives a project access; `already_exists` when it had it. */
  async addAccess(id: string, projectId: string): Promise<void> {
    try {
      await this.db.insertInto('flavorAccess').values({ flavorId: id, projectId }).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new StratusError(
        'already_exists',
        `Flavor access already exists for flavor ${id} and project ${projectId} combination.`,
        { resource: 'flavor', id },
      );
    }
  }

  /** Takes a project's access away; false when it had none. */
  async removeAccess(id: string, projectId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('flavorAccess')
      .where('flavorId', '=', id)
      .where('projectId', '=', projectId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
