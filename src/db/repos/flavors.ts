// Flavors: the sizes instances come in (EC2 instance types).
import { notFound } from '../../errors.js';
import type { Db, FlavorRow } from '../schema.js';

export class FlavorRepo {
  constructor(private readonly db: Db) {}

  async list(): Promise<FlavorRow[]> {
    return this.db.selectFrom('flavors').selectAll().orderBy('memoryMb').orderBy('name').execute();
  }

  async findByName(name: string): Promise<FlavorRow | undefined> {
    return this.db.selectFrom('flavors').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async getByName(name: string): Promise<FlavorRow> {
    const row = await this.findByName(name);
    if (!row) throw notFound('flavor', name, `The instance type '${name}' does not exist.`);
    return row;
  }
}
