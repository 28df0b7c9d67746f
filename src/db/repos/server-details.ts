// A server's details beyond its instance row (description, hostname, admin password) and its
// tags, as the Compute API keeps them. Launches write both in their own transaction (see
// compute/launch-admission.ts); rows go with their instance (foreign keys cascade).
import type { Db, ServerDetailsRow, ServerTagRow } from '../schema.js';

/** Rows per INSERT statement. */
const INSERT_CHUNK = 500;
/** Ids per `in (...)` list. */
const ID_CHUNK = 500;

/** What a server shows beyond its instance row. */
export interface ServerDetails {
  description: string | null;
  hostname: string | null;
  adminPass: string | null;
  /** Sorted. */
  tags: string[];
}

export const NO_SERVER_DETAILS: Readonly<ServerDetails> = Object.freeze({
  description: null,
  hostname: null,
  adminPass: null,
  tags: [],
});

export class ServerDetailsRepo {
  constructor(private readonly db: Db) {}

  /** Details and tags of new instances (their launch's transaction writes them). */
  async insert(details: readonly ServerDetailsRow[], tags: readonly ServerTagRow[]): Promise<void> {
    for (let i = 0; i < details.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('serverDetails')
        .values(details.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    for (let i = 0; i < tags.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('serverTags')
        .values(tags.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  }

  /** The details of these instances, by id; every id is in the answer (empty details if none). */
  async of(instanceIds: readonly string[]): Promise<Map<string, ServerDetails>> {
    const out = new Map<string, ServerDetails>(
      instanceIds.map((id) => [id, { ...NO_SERVER_DETAILS, tags: [] }]),
    );
    for (let i = 0; i < instanceIds.length; i += ID_CHUNK) {
      const ids = instanceIds.slice(i, i + ID_CHUNK);
      const [rows, tags] = await Promise.all([
        this.db.selectFrom('serverDetails').selectAll().where('instanceId', 'in', ids).execute(),
        this.db
          .selectFrom('serverTags')
          .selectAll()
          .where('instanceId', 'in', ids)
          .orderBy('instanceId')
          .orderBy('tag')
          .execute(),
      ]);
      for (const r of rows) {
        const d = out.get(r.instanceId) as ServerDetails;
        d.description = r.description;
        d.hostname = r.hostname;
        d.adminPass = r.adminPass;
      }
      for (const t of tags) out.get(t.instanceId)?.tags.push(t.tag);
    }
    return out;
  }

  /** Sets the description and/or hostname (undefined: unchanged) of an instance. */
  async update(
    instanceId: string,
    set: { description?: string | null | undefined; hostname?: string | undefined },
  ): Promise<void> {
    const change = {
      ...(set.description !== undefined ? { description: set.description } : {}),
      ...(set.hostname !== undefined ? { hostname: set.hostname } : {}),
    };
    if (Object.keys(change).length === 0) return;
    await this.db
      .insertInto('serverDetails')
      .values({ instanceId, description: null, hostname: null, adminPass: null, ...change })
      .onConflict((oc) => oc.column('instanceId').doUpdateSet(change))
      .execute();
  }

  /** An instance's tags, sorted. */
  async tags(instanceId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('serverTags')
      .select('tag')
      .where('instanceId', '=', instanceId)
      .orderBy('tag')
      .execute();
    return rows.map((r) => r.tag);
  }

  /**
   * Changes an instance's tags in one transaction: `replace` sets exactly these, `add` one
   * more (nothing when it is there), `remove` one (false when it was not there), `clear` all.
   * A change that would leave more than `max` tags changes nothing and answers false.
   */
  async changeTags(
    instanceId: string,
    change:
      | { kind: 'replace'; tags: readonly string[] }
      | { kind: 'add'; tag: string }
      | { kind: 'remove'; tag: string }
      | { kind: 'clear' },
    max: number,
  ): Promise<{ ok: boolean; tags: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      // Written first, so two changes of one server wait for each other (the count holds).
      await trx
        .updateTable('instances')
        .set({ updatedAt: Date.now() })
        .where('id', '=', instanceId)
        .execute();
      const current = (
        await trx
          .selectFrom('serverTags')
          .select('tag')
          .where('instanceId', '=', instanceId)
          .execute()
      ).map((r) => r.tag);
      let next: string[];
      switch (change.kind) {
        case 'replace':
          next = [...new Set(change.tags)];
          break;
        case 'add':
          next = current.includes(change.tag) ? current : [...current, change.tag];
          break;
        case 'remove':
          if (!current.includes(change.tag)) return { ok: false, tags: current.sort() };
          next = current.filter((t) => t !== change.tag);
          break;
        case 'clear':
          next = [];
      }
      if (next.length > max) return { ok: false, tags: current.sort() };
      await trx.deleteFrom('serverTags').where('instanceId', '=', instanceId).execute();
      if (next.length > 0) {
        await trx
          .insertInto('serverTags')
          .values(next.map((tag) => ({ instanceId, tag })))
          .execute();
      }
      return { ok: true, tags: next.sort() };
    });
  }
}
