// The seed's SQLite lock fights: several processes writing one SQLite file at once must all
// succeed, with no "database is locked" errors and no lost writes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { it } from 'node:test';
import { openDatabase, ServiceRepo, UserRepo } from '../../src/db/index.js';

const run = promisify(execFile);
const writer = fileURLToPath(new URL('../fixtures/sqlite-writer.js', import.meta.url));

it('4 processes x 50 concurrent transactional writes on one SQLite file lose nothing and never fail', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-lock-'));
  const url = `sqlite:${path.join(dir, 'stratus.sqlite')}`;
  try {
    // The workers migrate the fresh file themselves, all at once; the counter row must exist first.
    const setup = await openDatabase(url);
    await new ServiceRepo(setup.db).register('counter', 'test', 'test', 0);
    await setup.close();

    const processes = 4;
    const writes = 50;
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: processes }, (_, w) =>
        run(process.execPath, [writer, url, String(w), String(writes)], { timeout: 120_000 }).then(
          (r) =>
            JSON.parse(r.stdout.trim()) as {
              worker: string;
              errors: string[];
              ms: number;
              maxLatencyMs: number;
            },
        ),
      ),
    );
    const wall = performance.now() - started;
    const errors = results.flatMap((r) => r.errors);
    assert.deepEqual(errors, [], 'no write failed');

    const check = await openDatabase(url);
    const users = await new UserRepo(check.db).count();
    const counter = (await new ServiceRepo(check.db).get('counter', 'test')).reportCount;
    await check.close();
    assert.equal(users, processes * writes, 'every inserted row is there');
    assert.equal(counter, processes * writes, 'no read-modify-write increment was lost');
    t.diagnostic(
      `${processes}x${writes} writes in ${wall.toFixed(0)} ms wall; ` +
        `max single-write latency ${Math.max(...results.map((r) => r.maxLatencyMs)).toFixed(0)} ms; 0 lock errors`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
