// The volume types an administrator added (the built-in ones are code, in the volume service).
import type { Db, VolumeTypeRow } from '../schema.js';

export class VolumeTypeRepo {
  constructor(private readonly db: Db) {}

  /** Oldest first, then by id. */
  async list(): Promise<VolumeTypeRow[]> {
    return this.db
      .selectFrom('volumeTypes')
      .selectAll()
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  /** The type with this id or name, or undefined. */
  async find(idOrName: string): Promise<VolumeTypeRow | undefined> {
    return this.db
      .selectFrom('volumeTypes')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst();
  }

  /** Inserts a type; a taken name fails with the database's unique violation. */
  async insert(row: VolumeTypeRow): Promise<void> {
    await this.db.insertInto('volumeTypes').values(row).execute();
  }

  async update(
    id: string,
    values: Partial<Pick<VolumeTypeRow, 'name' | 'description' | 'isPublic' | 'extraSpecs'>>,
  ): Promise<void> {
    await this.db.updateTable('volumeTypes').set(values).where('id', '=', id).execute();
  }

  /** Whether a volume has the type of this name. */
  async inUse(name: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('volumes')
      .select('id')
      .where('volumeType', '=', name)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Deletes the type unless a volume has it (in one statement); false when one does. */
  async deleteUnused(id: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('volumeTypes')
      .where('id', '=', id)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('volumes').select('id').where('volumeType', '=', name))),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
