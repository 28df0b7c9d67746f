// SQLite as Kysely sees it, tuned for many processes sharing one file: WAL, a busy timeout,
// and BEGIN IMMEDIATE transactions so a writer queues for the lock up front instead of failing
// with "database is locked" when it upgrades a read lock halfway through.
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteDriver,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type SqliteDialectConfig,
} from 'kysely';

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  /**
   * SQLite ends a transaction by itself when a statement or the COMMIT fails with a full disk,
   * an I/O error or a lack of memory. Kysely then rolls back on its way out, finds no
   * transaction, and its "cannot rollback - no transaction is active" would replace the real
   * error (issue 13: the log showed that instead of the I/O error). Nothing is left to undo
   * then, so that one refusal is not an error.
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection);
    } catch (err) {
      if (/no transaction is active/i.test((err as Error).message)) return;
      throw err;
    }
  }
}

/** SQLite runs DDL inside transactions, so migrations can take the write lock as a whole. */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class StratusSqliteDialect implements Dialect {
  readonly #config: SqliteDialectConfig;

  constructor(path: string, busyTimeoutMs: number) {
    this.#config = {
      database: async () => {
        const db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
        return db;
      },
    };
  }

  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
