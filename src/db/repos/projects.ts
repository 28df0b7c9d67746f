// Projects: the unit of tenancy.
import { alreadyExists, notFound } from '../../errors.js';
import { isUniqueViolation } from '../constraint.js';
import type { Db, ProjectRow } from '../schema.js';

export class ProjectRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a project; `already_exists` if the name is taken. */
  async create(row: ProjectRow): Promise<ProjectRow> {
    try {
      await this.db.insertInto('projects').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists('project', row.name);
      throw err;
    }
    return row;
  }

  /** Finds a project by id or by name; undefined when there is none. */
  async find(idOrName: string): Promise<ProjectRow | undefined> {
    return this.db
      .selectFrom('projects')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .orderBy('createdAt')
      .executeTakeFirst();
  }

  /** Like `find`, but a missing project is a `not_found` error. */
  async get(idOrName: string): Promise<ProjectRow> {
    const row = await this.find(idOrName);
    if (!row) throw notFound('project', idOrName);
    return row;
  }

  async list(): Promise<ProjectRow[]> {
    return this.db.selectFrom('projects').selectAll().orderBy('name').execute();
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('projects')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
