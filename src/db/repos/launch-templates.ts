// Launch templates and their versions. A new version's number comes from the template's row,
// bumped in the same statement that reads it, so two versions made at once never share one.
import { idStartsWith } from '../prefix.js';
import type { Db, LaunchTemplateRow, LaunchTemplateVersionRow } from '../schema.js';

export interface LaunchTemplateFilter {
  /** Only this project's templates; every project's when absent. */
  projectId?: string;
  /** Only templates whose id starts with one of these. */
  idPrefixes?: readonly string[];
  /** Only templates of these names. */
  names?: readonly string[];
}

/** Which versions of one template: these numbers, and/or a range (both ends included). */
export interface VersionFilter {
  numbers?: readonly number[];
  min?: number;
  max?: number;
}

export class LaunchTemplateRepo {
  constructor(private readonly db: Db) {}

  /** Templates in creation order (then by id). */
  async list(filter: LaunchTemplateFilter = {}): Promise<LaunchTemplateRow[]> {
    let q = this.db.selectFrom('launchTemplates').selectAll();
    if (filter.projectId !== undefined) q = q.where('projectId', '=', filter.projectId);
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    if (filter.names) {
      if (filter.names.length === 0) return [];
      q = q.where('name', 'in', filter.names);
    }
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  async byClientToken(projectId: string, token: string): Promise<LaunchTemplateRow | undefined> {
    return this.db
      .selectFrom('launchTemplates')
      .selectAll()
      .where('projectId', '=', projectId)
      .where('clientToken', '=', token)
      .executeTakeFirst();
  }

  /** How many templates the project has. */
  async count(projectId: string): Promise<number> {
    const r = await this.db
      .selectFrom('launchTemplates')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('projectId', '=', projectId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Adds a template; a name its project already has is a unique violation. */
  async insert(row: LaunchTemplateRow): Promise<void> {
    await this.db.insertInto('launchTemplates').values(row).execute();
  }

  async update(
    id: string,
    patch: Partial<Pick<LaunchTemplateRow, 'defaultVersion' | 'latestVersion'>>,
  ): Promise<void> {
    await this.db.updateTable('launchTemplates').set(patch).where('id', '=', id).execute();
  }

  /**
   * Takes the next version number of a template (and its row's lock, for the rest of the
   * transaction); undefined when the template is gone.
   */
  async takeVersionNumber(id: string): Promise<number | undefined> {
    const updated = await this.db
      .updateTable('launchTemplates')
      .set((eb) => ({ lastVersion: eb('lastVersion', '+', 1) }))
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return undefined;
    const row = await this.db
      .selectFrom('launchTemplates')
      .select('lastVersion')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return Number(row.lastVersion);
  }

  /** Removes a template with its versions; removing one that is gone is not an error. */
  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('launchTemplateVersions').where('templateId', '=', id).execute();
    await this.db.deleteFrom('launchTemplates').where('id', '=', id).execute();
  }

  /** Versions of a template, lowest number first. */
  async versions(
    templateId: string,
    filter: VersionFilter = {},
  ): Promise<LaunchTemplateVersionRow[]> {
    let q = this.db
      .selectFrom('launchTemplateVersions')
      .selectAll()
      .where('templateId', '=', templateId);
    if (filter.numbers) {
      if (filter.numbers.length === 0) return [];
      q = q.where('version', 'in', filter.numbers);
    }
    if (filter.min !== undefined) q = q.where('version', '>=', filter.min);
    if (filter.max !== undefined) q = q.where('version', '<=', filter.max);
    return (await q.orderBy('version').execute()).map((r) => ({
      ...r,
      version: Number(r.version),
    }));
  }

  async versionByClientToken(
    templateId: string,
    token: string,
  ): Promise<LaunchTemplateVersionRow | undefined> {
    const r = await this.db
      .selectFrom('launchTemplateVersions')
      .selectAll()
      .where('templateId', '=', templateId)
      .where('clientToken', '=', token)
      .executeTakeFirst();
    return r && { ...r, version: Number(r.version) };
  }

  async countVersions(templateId: string): Promise<number> {
    const r = await this.db
      .selectFrom('launchTemplateVersions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('templateId', '=', templateId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insertVersion(row: LaunchTemplateVersionRow): Promise<void> {
    await this.db.insertInto('launchTemplateVersions').values(row).execute();
  }

  /** Removes these versions of a template; answers the numbers that were there. */
  async deleteVersions(templateId: string, numbers: readonly number[]): Promise<number[]> {
    if (numbers.length === 0) return [];
    const there = await this.versions(templateId, { numbers });
    await this.db
      .deleteFrom('launchTemplateVersions')
      .where('templateId', '=', templateId)
      .where('version', 'in', numbers)
      .execute();
    return there.map((v) => v.version);
  }

  /** The highest version a template has now; undefined when it has none. */
  async highestVersion(templateId: string): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('launchTemplateVersions')
      .select((eb) => eb.fn.max('version').as('v'))
      .where('templateId', '=', templateId)
      .executeTakeFirst();
    return r?.v === null || r?.v === undefined ? undefined : Number(r.v);
  }
}
