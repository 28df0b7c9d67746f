// Server metadata: key/value pairs of an instance, as the Compute API keeps them. A change is
// one transaction that holds the instance's row (it is written first), so two changes of one
// server cannot together go over the limit on items.
import type { Db, ServerMetadataRow, VmState } from '../schema.js';

/** Rows per INSERT statement (3 parameters each). */
const INSERT_CHUNK = 1000;

export type MetadataChange =
  /** Sets these keys, keeping the others. */
  | { kind: 'merge'; items: Readonly<Record<string, string>> }
  /** Replaces all of them with these. */
  | { kind: 'replace'; items: Readonly<Record<string, string>> }
  /** Removes one key. */
  | { kind: 'delete'; key: string };

export type MetadataChangeResult =
  | { ok: true; items: Record<string, string> }
  /** The instance is not in one of the states asked for, or has a task under way. */
  | { ok: false; reason: 'state' }
  /** The change would leave more than the most items allowed. */
  | { ok: false; reason: 'limit'; count: number }
  /** The key to delete is not there. */
  | { ok: false; reason: 'missing' };

export class ServerMetadataRepo {
  constructor(private readonly db: Db) {}

  /** Items of new instances (their launch's transaction writes them). */
  async insert(rows: readonly ServerMetadataRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await this.db
        .insertInto('serverMetadata')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  }

  /** The items of these instances, by instance id (instances without any are left out). */
  async of(instanceIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (let i = 0; i < instanceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('serverMetadata')
        .selectAll()
        .where('instanceId', 'in', instanceIds.slice(i, i + 500))
        .orderBy('instanceId')
        .orderBy('key')
        .execute();
      for (const r of rows) out.set(r.instanceId, { ...out.get(r.instanceId), [r.key]: r.value });
    }
    return out;
  }

  /**
   * Changes an instance's items if it is in one of `vmStates` with no task under way, and the
   * result has at most `maxItems`; answers the items after the change.
   */
  change(
    instanceId: string,
    change: MetadataChange,
    opts: { vmStates: readonly VmState[]; maxItems: number },
  ): Promise<MetadataChangeResult> {
    return this.db.transaction().execute(async (trx): Promise<MetadataChangeResult> => {
      const held = await trx
        .updateTable('instances')
        .set({ updatedAt: Date.now() })
        .where('id', '=', instanceId)
        .where('vmState', 'in', opts.vmStates)
        .where('taskState', 'is', null)
        .executeTakeFirst();
      if (Number(held.numUpdatedRows) === 0) return { ok: false, reason: 'state' };
      const rows = await trx
        .selectFrom('serverMetadata')
        .selectAll()
        .where('instanceId', '=', instanceId)
        .execute();
      const current: Record<string, string> = Object.fromEntries(rows.map((r) => [r.key, r.value]));
      let next: Record<string, string>;
      if (change.kind === 'delete') {
        if (!(change.key in current)) return { ok: false, reason: 'missing' };
        next = { ...current };
        delete next[change.key];
      } else {
        next = change.kind === 'merge' ? { ...current, ...change.items } : { ...change.items };
      }
      const count = Object.keys(next).length;
      if (count > opts.maxItems) return { ok: false, reason: 'limit', count };
      await trx.deleteFrom('serverMetadata').where('instanceId', '=', instanceId).execute();
      await new ServerMetadataRepo(trx).insert(
        Object.entries(next).map(([key, value]) => ({ instanceId, key, value })),
      );
      return {
        ok: true,
        items: Object.fromEntries(
          Object.entries(next).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
      };
    });
  }
}
