// A database that cannot be reached is an outage, not a bug and not a missing row: failures to
// connect or to keep a connection become `unavailable` domain errors (each edge answers 503),
// while errors about the query itself pass through unchanged. Applied to every dialect by
// `openDatabase`, so no caller has to tell the two apart.
import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { StratusError } from '../errors.js';

/** Socket errors: the server is not there or went away. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs of an unreachable or stopping server: class 08 (connection exception),
 * 57P01-57P03 (shut down by an admin, crashed, not accepting connections yet) and 53300 (too
 * many connections).
 */
const POSTGRES_OUTAGE = /^(08...|57P0[123]|53300)$/;

/** SQLite result codes that mean the file cannot be used now, whatever the query. */
const SQLITE_OUTAGE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|PROTOCOL)(_|$)/;

/**
 * Messages of node-postgres failures that carry no code ('timeout expired': a new connection
 * got no answer within its connect timeout).
 */
const POSTGRES_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|^timeout expired$|not queryable|connection is not open/i;

/** Whether `err`, thrown by a database driver, means the database cannot be reached. */
export function isDatabaseOutage(err: unknown): boolean {
  if (err instanceof StratusError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || POSTGRES_OUTAGE.test(code) || SQLITE_OUTAGE.test(code)) {
      return true;
    }
  }
  return err instanceof Error && POSTGRES_MESSAGES.test(err.message);
}

/** `err` as the domain sees it: an outage becomes `unavailable`, anything else is unchanged. */
export function asDatabaseError(err: unknown): unknown {
  if (!isDatabaseOutage(err)) return err;
  return new StratusError('unavailable', 'The database is unavailable; try again later.', {
    resource: 'database',
    cause: err,
  });
}

class OutageAwareConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (err) {
      throw asDatabaseError(err);
    }
  }

  async *streamQuery<R>(
    query: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (err) {
      throw asDatabaseError(err);
    }
  }
}

/** Hands the wrapped driver its own connections back; only errors are translated. */
class OutageAwareDriver implements Driver {
  constructor(readonly inner: Driver) {}

  #call<T>(fn: () => Promise<T>): Promise<T> {
    return fn().catch((err: unknown) => {
      throw asDatabaseError(err);
    });
  }

  init(): Promise<void> {
    return this.#call(() => this.inner.init());
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new OutageAwareConnection(await this.#call(() => this.inner.acquireConnection()));
  }
  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#call(() => this.inner.beginTransaction(unwrap(c), settings));
  }
  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.#call(() => this.inner.commitTransaction(unwrap(c)));
  }
  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.#call(() => this.inner.rollbackTransaction(unwrap(c)));
  }
  savepoint(c: DatabaseConnection, ...rest: SavepointArgs): Promise<void> {
    return this.#call(() => required(this.inner.savepoint).call(this.inner, unwrap(c), ...rest));
  }
  rollbackToSavepoint(c: DatabaseConnection, ...rest: SavepointArgs): Promise<void> {
    return this.#call(() =>
      required(this.inner.rollbackToSavepoint).call(this.inner, unwrap(c), ...rest),
    );
  }
  releaseSavepoint(c: DatabaseConnection, ...rest: SavepointArgs): Promise<void> {
    return this.#call(() =>
      required(this.inner.releaseSavepoint).call(this.inner, unwrap(c), ...rest),
    );
  }
  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(c));
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

type SavepointArgs =
  Parameters<NonNullable<Driver['savepoint']>> extends [unknown, ...infer R] ? R : never;

function unwrap(c: DatabaseConnection): DatabaseConnection {
  return c instanceof OutageAwareConnection ? c.inner : c;
}

function required<F>(fn: F | undefined): F {
  if (!fn) throw new StratusError('internal', 'The database driver does not support savepoints.');
  return fn;
}

/** `dialect` with database outages reported as `unavailable` domain errors. */
export function withOutageErrors(dialect: Dialect): Dialect {
  return {
    createDriver: () => new OutageAwareDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}
