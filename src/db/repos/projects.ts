// Projects: the unit of tenancy.
import { alreadyExists, invalid, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, ProjectRow } from '../schema.js';

export class ProjectRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a project; `already_exists` if the name is taken in its domain. */
  async create(fields: Omit<ProjectRow, 'domainId'> & { domainId?: string }): Promise<ProjectRow> {
    const row: ProjectRow = { ...fields, domainId: fields.domainId ?? 'default' };
    try {
      await this.db.insertInto('projects').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('project', row.name);
      throw err;
    }
    return row;
  }

  /**
   * Finds a project by id, or by name: names are unique per domain (migration 0023), so a name
   * is looked up in `domainId` when given; without one, a name that several domains use is
   * `invalid` (the caller must name the domain). Undefined when there is none.
   */
  async find(idOrName: string, domainId?: string): Promise<ProjectRow | undefined> {
    let q = this.db
      .selectFrom('projects')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]));
    if (domainId) q = q.where('domainId', '=', domainId);
    const rows = await q.orderBy('createdAt').execute();
    const byId = rows.find((r) => r.id === idOrName);
    if (byId) return byId;
    if (rows.length > 1) {
      throw invalid(
        `Several domains have a project named '${idOrName}' (${rows.map((r) => r.domainId).join(', ')}): name its domain too.`,
        { resource: 'project', id: idOrName },
      );
    }
    return rows[0];
  }

  async get(idOrName: string, domainId?: string): Promise<ProjectRow> {
    const row = await this.find(idOrName, domainId);
    if (!row) throw notFound('project', idOrName);
    return row;
  }

  async list(): Promise<ProjectRow[]> {
    return this.db.selectFrom('projects').selectAll().orderBy('name').execute();
  }

  /** Changes the fields given; `already_exists` for a name another project has. */
  async update(
    id: string,
    patch: Partial<Pick<ProjectRow, 'name' | 'description' | 'enabled'>>,
  ): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    try {
      await this.db.updateTable('projects').set(patch).where('id', '=', id).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('project', patch.name ?? id);
      throw err;
    }
  }

  /** Deletes a project; its tags, credentials and tokens go with it (foreign keys). */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('projects').where('id', '=', id).execute();
  }

  async tags(id: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('projectTags')
      .select('tag')
      .where('projectId', '=', id)
      .orderBy('tag')
      .execute();
    return rows.map((r) => r.tag);
  }

  /** Every project's tags, by project id. */
  async allTags(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const rows = await this.db.selectFrom('projectTags').selectAll().orderBy('tag').execute();
    for (const r of rows) out.set(r.projectId, [...(out.get(r.projectId) ?? []), r.tag]);
    return out;
  }

  /** Replaces a project's tags with `tags`. */
  async setTags(id: string, tags: readonly string[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('projectTags').where('projectId', '=', id).execute();
      if (tags.length > 0) {
        await tx
          .insertInto('projectTags')
          .values([...new Set(tags)].map((tag) => ({ projectId: id, tag })))
          .execute();
      }
    });
  }

  async addTag(id: string, tag: string): Promise<void> {
    await this.db
      .insertInto('projectTags')
      .values({ projectId: id, tag })
      .onConflict((oc) => oc.columns(['projectId', 'tag']).doNothing())
      .execute();
  }

  /** Removes a tag; returns whether the project had it. */
  async removeTag(id: string, tag: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('projectTags')
      .where('projectId', '=', id)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('projects')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
