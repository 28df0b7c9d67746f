// Test support: fresh, isolated databases on every back end, so one suite runs on all of them.
// SQLite gets a file in a temp dir; PostgreSQL a new database dropped afterwards, on the server
// the `postgres` capability names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
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
