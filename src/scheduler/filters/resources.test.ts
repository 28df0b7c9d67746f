// The vCPU, memory and disk filters with their allocation ratios.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostState, NOW, requestSpec } from '../../../test/support/host-state.js';
import { cpuFilter } from './cpu.js';
import { diskFilter } from './disk.js';
import { ramFilter } from './ram.js';

describe('vCPU filter', () => {
  const host = (used: number) =>
    hostState({
      capacity: { vcpus: 4, memoryMb: 8192, diskGb: 100 },
      used: { vcpus: used, memoryMb: 0, diskGb: 0 },
    });

  it('passes while claims plus the request stay within cores x ratio', () => {
    const spec = requestSpec({ vcpus: 2 });
    assert.equal(cpuFilter(1).passes(host(2), spec, NOW), true);
    assert.equal(cpuFilter(1).passes(host(3), spec, NOW), false);
    assert.equal(cpuFilter(2).passes(host(6), spec, NOW), true, '4 x 2 = 8 allows 6 + 2');
    assert.equal(cpuFilter(2).passes(host(7), spec, NOW), false);
  });

  it('rounds the allowance down to whole vCPUs', () => {
    // 4 x 1.3 = 5.2: five vCPUs may be placed, not six.
    assert.equal(cpuFilter(1.3).passes(host(4), requestSpec({ vcpus: 1 }), NOW), true);
    assert.equal(cpuFilter(1.3).passes(host(5), requestSpec({ vcpus: 1 }), NOW), false);
  });

  it('names what it could not find', () => {
    assert.match(cpuFilter(1).refusal(requestSpec({ vcpus: 3 })), /3 vCPU/);
  });
});

describe('memory filter', () => {
  const host = (used: number) =>
    hostState({
      capacity: { vcpus: 4, memoryMb: 1000, diskGb: 100 },
      used: { vcpus: 0, memoryMb: used, diskGb: 0 },
    });

  it('passes while claims plus the request stay within memory x ratio', () => {
    const spec = requestSpec({ memoryMb: 500 });
    assert.equal(ramFilter(1).passes(host(500), spec, NOW), true);
    assert.equal(ramFilter(1).passes(host(501), spec, NOW), false);
    assert.equal(ramFilter(1.5).passes(host(1000), spec, NOW), true);
    assert.equal(ramFilter(1.5).passes(host(1001), spec, NOW), false);
  });

  it('names what it could not find', () => {
    assert.match(ramFilter(1).refusal(requestSpec({ memoryMb: 2048 })), /2048 MiB/);
  });
});

describe('disk filter', () => {
  const host = (used: number) =>
    hostState({
      capacity: { vcpus: 4, memoryMb: 1000, diskGb: 40 },
      used: { vcpus: 0, memoryMb: 0, diskGb: used },
    });

  it('passes while claims plus the request stay within disk x ratio', () => {
    const spec = requestSpec({ diskGb: 20 });
    assert.equal(diskFilter(1).passes(host(20), spec, NOW), true);
    assert.equal(diskFilter(1).passes(host(21), spec, NOW), false);
    assert.equal(diskFilter(0.5).passes(host(0), spec, NOW), true);
    assert.equal(diskFilter(0.5).passes(host(1), spec, NOW), false);
  });

  it('names what it could not find', () => {
    assert.match(diskFilter(1).refusal(requestSpec({ diskGb: 80 })), /80 GiB/);
  });
});
