// PostgreSQL as Kysely sees it. BIGINT columns (our times and counters) come back as numbers.
import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';

const INT8_OID = 20;

export function postgresDialect(url: string): Dialect {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  return new PostgresDialect({ pool });
}
