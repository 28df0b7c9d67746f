// The Image API's formats to the store's kinds and qemu-img formats and back, and the error table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageRow } from '../../db/index.js';
import { ERROR_KINDS, StratusError } from '../../errors.js';
import { IMAGE_API_STATUS, toImageApiError } from './errors.js';
import { apiFormat, storeFormat } from './formats.js';

describe('Image API formats', () => {
  it('maps disk and container formats to kinds and qemu-img formats', () => {
    assert.deepEqual(storeFormat('qcow2', 'bare'), { kind: 'machine', diskFormat: 'qcow2' });
    assert.deepEqual(storeFormat('vhd', 'bare'), { kind: 'machine', diskFormat: 'vpc' });
    assert.deepEqual(storeFormat('ami', 'ami'), { kind: 'machine', diskFormat: 'raw' });
    assert.deepEqual(storeFormat('aki', 'aki'), { kind: 'kernel', diskFormat: 'raw' });
    assert.deepEqual(storeFormat('ari', 'ari'), { kind: 'ramdisk', diskFormat: 'raw' });
  });

  it('refuses formats it does not support and mismatched kernel or ramdisk formats', () => {
    for (const [disk, container] of [
      ['iso', 'bare'],
      ['qcow2', 'docker'],
      ['aki', 'bare'],
      ['raw', 'ari'],
      ['qcow2', 'ami'],
    ] as const) {
      assert.throws(
        () => storeFormat(disk, container),
        (e: unknown) => e instanceof StratusError && e.kind === 'invalid',
        `${disk}/${container}`,
      );
    }
  });

  it('shows stored images in the Image API formats', () => {
    const row = (kind: ImageRow['kind'], diskFormat: string) => ({ kind, diskFormat }) as ImageRow;
    assert.deepEqual(apiFormat(row('machine', 'vpc')), {
      disk_format: 'vhd',
      container_format: 'bare',
    });
    assert.deepEqual(apiFormat(row('kernel', 'raw')), {
      disk_format: 'aki',
      container_format: 'aki',
    });
    assert.deepEqual(apiFormat(row('ramdisk', 'raw')), {
      disk_format: 'ari',
      container_format: 'ari',
    });
  });
});

describe('Image API errors', () => {
  it('has a 4xx status for every client error kind and hides internals', () => {
    for (const kind of ERROR_KINDS) {
      const status = IMAGE_API_STATUS[kind];
      assert.ok(status >= 400 && status < 600, kind);
      if (kind !== 'internal' && kind !== 'unavailable') assert.ok(status < 500, kind);
    }
    const e = toImageApiError(new Error('a secret path /var/lib/x'));
    assert.equal(e.code, 500);
    assert.doesNotMatch(e.message, /secret/);
    assert.equal(
      toImageApiError(Object.assign(new Error('Body too large'), { statusCode: 413 })).code,
      413,
    );
  });
});
