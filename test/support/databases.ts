// Test support: fresh, isolated databases on every back end, so one suite runs on all of them.
// SQLite gets a file in a temp dir; PostgreSQL a new database dropped afterwards, on the server
// the `postgres` capability names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type Database, type DialectName } from '../../src/db/index.js';
import { POSTGRES_ADMIN_URL, type Capability } from './capabilities.js';

export interface TestBackend {
  name: DialectName;
  /** What the machine must have for this back end: `needs(...backend.needs)`. */
  needs: readonly Capability[];
  /** Makes an empty database; returns its URL and a function that removes it. */
  create(): Promise<{ url: string; remove(): Promise<void> }>;
}

export const sqliteBackend: TestBackend = {
  name: 'sqlite',
  needs: [],
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-db-'));
    return {
      url: `sqlite:${path.join(dir, 'stratus.sqlite')}`,
      remove: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
};

export const postgresBackend: TestBackend = {
  name: 'postgres',
  needs: ['postgres'],
  async create() {
    const name = `stratus_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      remove: async () => {
        const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

export const TEST_BACKENDS: readonly TestBackend[] = [sqliteBackend, postgresBackend];

/** Opens a fresh migrated database on `backend`; `close` also removes it. */
export async function openTestDatabase(backend: TestBackend): Promise<Database> {
  const { url, remove } = await backend.create();
  const database = await openDatabase(url);
  return {
    db: database.db,
    dialect: database.dialect,
    close: async () => {
      await database.close();
      await remove();
    },
  };
}

/** A database's schema and migration record, to compare before and after a change. */
export interface SchemaSnapshot {
  /** Each table with its columns: name, type, nullability, default. */
  tables: Record<string, string[]>;
  /** Each index and constraint by name, with its definition. */
  indexes: Record<string, string>;
  /** The rows of the migration table: name and when it ran. */
  migrations: string[];
}

/** The schema of `database` as its back end reports it (SQLite or PostgreSQL catalogs). */
export async function schemaSnapshot(database: Database): Promise<SchemaSnapshot> {
  const { db } = database;
  const tables: Record<string, string[]> = {};
  const indexes: Record<string, string> = {};
  if (database.dialect === 'sqlite') {
    const objects = await sql<{ type: string; name: string; tblName: string; sql: string | null }>`
      select type, name, tbl_name, sql from sqlite_master
      where name not like 'sqlite_%' order by name`.execute(db);
    for (const o of objects.rows) {
      if (o.type === 'table') {
        const columns = await sql<{
          name: string;
          type: string;
          notnull: number;
          dfltValue: string | null;
          pk: number;
        }>`select * from pragma_table_info(${o.name}) order by cid`.execute(db);
        // The defining SQL carries the constraints (keys, uniques, checks) too.
        tables[o.name] = [
          o.sql ?? '',
          ...columns.rows.map(
            (c) => `${c.name} ${c.type} notnull=${c.notnull} default=${c.dfltValue} pk=${c.pk}`,
          ),
        ];
      } else {
        // Indexes (explicit and automatic), triggers and views, by their defining SQL.
        indexes[`${o.type} ${o.name} on ${o.tblName}`] = o.sql ?? '(automatic)';
      }
    }
  } else {
    const columns = await sql<{
      tableName: string;
      columnName: string;
      dataType: string;
      isNullable: string;
      columnDefault: string | null;
    }>`select table_name, column_name, data_type, is_nullable, column_default
      from information_schema.columns where table_schema = 'public'
      order by table_name, ordinal_position`.execute(db);
    for (const c of columns.rows) {
      (tables[c.tableName] ??= []).push(
        `${c.columnName} ${c.dataType} nullable=${c.isNullable} default=${c.columnDefault}`,
      );
    }
    const idx = await sql<{ indexname: string; indexdef: string }>`
      select indexname, indexdef from pg_indexes where schemaname = 'public'
      order by indexname`.execute(db);
    for (const i of idx.rows) indexes[`index ${i.indexname}`] = i.indexdef;
    const constraints = await sql<{ conname: string; relname: string; def: string }>`
      select c.conname, t.relname, pg_get_constraintdef(c.oid) as def
      from pg_constraint c join pg_class t on t.oid = c.conrelid
      join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = 'public' order by t.relname, c.conname`.execute(db);
    for (const c of constraints.rows) indexes[`constraint ${c.conname} on ${c.relname}`] = c.def;
  }
  const migrations = await sql<{ name: string; timestamp: string }>`
    select name, timestamp from stratus_migrations order by name`.execute(db);
  return {
    tables,
    indexes,
    migrations: migrations.rows.map((m) => `${m.name} at ${m.timestamp}`),
  };
}
