// Change counters (migration 0012): a process that caches state compares the counter it saw
// with the current one before trusting its cache.
import type { Db } from '../schema.js';

/** `identity`: bumped by triggers (see the migration); `health`: written by health checks. */
export type GenerationName = 'identity' | 'health';

export class GenerationRepo {
  constructor(private readonly db: Db) {}

  /**
   * The counter's current value: one primary-key read. It only grows; triggers bump it in the
   * transaction of each change it counts, so a value read after a commit reflects that commit.
   */
  async get(name: GenerationName): Promise<number> {
    const row = await this.db
      .selectFrom('generations')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(row?.value ?? 0);
  }

  /** Adds one to the counter: a small write that must reach the disk to succeed. */
  async bump(name: GenerationName): Promise<void> {
    await this.db
      .updateTable('generations')
      .set((eb) => ({ value: eb('value', '+', 1) }))
      .where('name', '=', name)
      .execute();
  }
}
