// Where the data plane takes the host's interfaces from: the namespace, else the root
// namespace (moved in by the command checked here), else nowhere, which is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import { planInterface } from './host-interfaces.js';

const FLAT = { name: 'eth1', option: '--flat-interface' };

describe('host interfaces', () => {
  it('uses an interface already in the namespace, wherever else one of that name is', () => {
    assert.deepEqual(planInterface(FLAT, 'stratus-h1', { inNamespace: true, inRoot: true }), {
      name: 'eth1',
      action: 'use',
    });
  });

  it('moves one from the root namespace with ip link set dev NAME netns NS', () => {
    assert.deepEqual(planInterface(FLAT, 'stratus-h1', { inNamespace: false, inRoot: true }), {
      name: 'eth1',
      action: 'move',
      command: ['link', 'set', 'dev', 'eth1', 'netns', 'stratus-h1'],
    });
  });

  it('refuses one that is in neither, naming it, its option and the namespace', () => {
    assert.throws(
      () => planInterface(FLAT, 'stratus-h1', { inNamespace: false, inRoot: false }),
      (err: unknown) =>
        err instanceof StratusError &&
        err.kind === 'invalid' &&
        /'eth1' \(--flat-interface\) is neither in the data plane's namespace stratus-h1 nor in this machine's root namespace/.test(
          err.message,
        ),
    );
  });
});
