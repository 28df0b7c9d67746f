// PostgreSQL as Kysely sees it. BIGINT columns (our times and counters) come back as numbers.
import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';

const INT8_OID = 20;

/**
 * `connectTimeoutMs`: how long opening one connection (TCP and the server's handshake) may
 * take before it fails, so a server that does not answer is an outage, not a hang.
 * `maxConnections`: the pool's size. Every process of a cloud holds its own pool against one
 * server, so a compute host's is kept small (see docs/multi-host.md).
 */
export function postgresDialect(
  url: string,
  connectTimeoutMs: number,
  maxConnections: number,
): Dialect {
  // The timeout goes to each new connection, not to the pool: the pool's own would also end a
  // query that waits its turn for a connection under load, which is no outage.
  class BoundedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: maxConnections,
    Client: BoundedClient,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server ends (a restart, a terminated backend) must not take the
  // process down: the pool drops it and the next query opens a new one.
  pool.on('error', () => undefined);
  // Likewise a connection in use when the server goes away: its query fails (an outage, see
  // outage.ts), and the client's own 'error' event must not be an uncaught exception.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new PostgresDialect({ pool });
}
