// `stratus manage network create|list` on a fresh state dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetworkRepo, openDatabase } from '../src/db/index.js';
import { stratus } from './support/cli.js';

describe('stratus manage network', () => {
  let stateDir: string;
  const manage = (...args: string[]) => stratus(['manage', '--state-dir', stateDir, ...args]);
  before(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-manage-net-'));
  });
  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  it('creates a network with its fixed addresses and lists it', async () => {
    const r = await manage(
      'network',
      'create',
      'lab',
      '--cidr',
      '10.40.0.0/24',
      '--dhcp-start',
      '10.40.0.100',
      '--dhcp-end',
      '10.40.0.149',
      '--dns',
      '10.40.0.53',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /gateway +10\.40\.0\.1\n/);
    assert.match(r.stdout, /dhcp +10\.40\.0\.100-10\.40\.0\.149\n/);
    const list = await manage('network', 'list');
    assert.match(
      list.stdout,
      /lab +10\.40\.0\.0\/24 +10\.40\.0\.1 +10\.40\.0\.100-10\.40\.0\.149 +10\.40\.0\.53 +50 +0/,
    );
    const json = JSON.parse((await manage('--format', 'json', 'network', 'list')).stdout) as {
      name: string;
      addresses: number;
    }[];
    assert.deepEqual(
      json.map((n) => [n.name, n.addresses]),
      [['lab', 50]],
    );
    const database = await openDatabase(`sqlite:${path.join(stateDir, 'stratus.sqlite')}`);
    try {
      const [net] = await new NetworkRepo(database.db).list();
      const rows = await database.db
        .selectFrom('fixedIps')
        .select('address')
        .where('networkId', '=', net?.id as string)
        .orderBy('seq')
        .execute();
      assert.equal(rows[0]?.address, '10.40.0.100');
      assert.equal(rows.at(-1)?.address, '10.40.0.149');
    } finally {
      await database.close();
    }
  });

  it('refuses a duplicate name, an overlapping CIDR and a bad range, creating nothing', async () => {
    const dup = await manage('network', 'create', 'lab', '--cidr', '10.41.0.0/24');
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /The network 'lab' already exists/);
    const overlap = await manage('network', 'create', 'lab2', '--cidr', '10.40.0.128/25');
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /overlaps the network 'lab'/);
    const bad = await manage(
      'network',
      'create',
      'lab3',
      '--cidr',
      '10.42.0.0/24',
      '--gateway',
      '10.43.0.1',
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a usable address/);
    const names = (
      JSON.parse((await manage('--format', 'json', 'network', 'list')).stdout) as { name: string }[]
    ).map((n) => n.name);
    assert.deepEqual(names, ['lab']);
  });
});
