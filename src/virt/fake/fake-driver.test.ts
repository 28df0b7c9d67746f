// The fake driver against the virt driver conformance suite, and its VMs outliving the process
// when it has a state file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { driverSuite } from '../driver.suite.js';
import { FakeDriver } from './fake-driver.js';

const spec = (instanceId: string) => ({
  instanceId,
  name: 'fake',
  vcpus: 1,
  memoryMb: 128,
  diskGb: 1,
  imageId: 'image',
});

driverSuite('fake', async () => ({
  driver: new FakeDriver(),
  spec,
  // The fake driver never connects: any address stands for the export.
  volume: async (volumeId) => ({
    kind: 'nbd',
    host: '127.0.0.1',
    port: 10809,
    exportName: volumeId,
  }),
}));

it('with a state file, a new driver adopts the VMs of the last one, powered as they were', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-fake-'));
  try {
    const stateFile = path.join(dir, 'fake', 'host.json');
    const first = new FakeDriver({ stateFile });
    assert.equal(first.capabilities.survivesRestart, true);
    assert.deepEqual(await first.init(), []);
    await first.spawn(spec('a'));
    await first.spawn(spec('b'));
    await first.spawn(spec('c'));
    await first.powerOff('b', true);
    await first.destroy('c');
    const second = new FakeDriver({ stateFile });
    assert.deepEqual((await second.init()).sort(), ['a', 'b']);
    assert.equal(await second.getState('a'), 'running');
    assert.equal(await second.getState('b'), 'shutdown');
    assert.equal(await second.getState('c'), 'nostate');
    assert.equal(new FakeDriver().capabilities.survivesRestart, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
