// The Image API's JSON patch without a server: both dialects parsed, operations applied in
// order to a copy of the image, and Glance's refusals by kind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageRow } from '../../db/index.js';
import { StratusError } from '../../errors.js';
import { applyPatch, parsePatch, PATCH_TYPES } from './patch.js';

const [V21, V20] = PATCH_TYPES;

function row(fields: Partial<ImageRow> = {}): ImageRow {
  return {
    id: '11111111-2222-4333-8444-555555555555',
    name: 'disk',
    description: '',
    kind: 'machine',
    ownerProjectId: 'p1',
    isPublic: 0,
    status: 'active',
    diskFormat: 'qcow2',
    sizeBytes: 1,
    checksum: null,
    location: null,
    architecture: 'x86_64',
    kernelId: null,
    ramdiskId: null,
    createdAt: 0,
    updatedAt: 0,
    deletedAt: null,
    deprecateAt: null,
    clientToken: null,
    community: 0,
    protected: 0,
    hidden: 0,
    minDisk: 0,
    minRam: 0,
    virtualSize: null,
    md5: null,
    sha512: null,
    properties: '{"hw_disk_bus":"virtio"}',
    tags: '["a"]',
    ...fields,
  };
}

const apply = (ops: unknown, image = row(), type: (typeof PATCH_TYPES)[number] = V21) =>
  applyPatch(image, false, parsePatch(ops, type), type);

function refusedAs(fn: () => unknown, kind: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StratusError);
    assert.equal(err.kind, kind);
    assert.match(err.message, message);
    return true;
  });
}

describe('the Image API JSON patch', () => {
  it('turns add, replace and remove of core and custom properties into one change', () => {
    const change = apply([
      { op: 'replace', path: '/name', value: 'renamed' },
      { op: 'add', path: '/os_distro', value: 'debian' },
      { op: 'remove', path: '/hw_disk_bus' },
      { op: 'add', path: '/tags', value: ['b', 'b', 'c'] },
      { op: 'replace', path: '/visibility', value: 'community' },
      { op: 'add', path: '/k~1v~0', value: 'x' },
    ]);
    assert.deepEqual(change, {
      name: 'renamed',
      tags: ['b', 'c'],
      properties: { os_distro: 'debian', 'k/v~': 'x' },
      isPublic: false,
      community: true,
    });
  });

  it('applies operations in order, so a later one sees an earlier one', () => {
    const change = apply([
      { op: 'add', path: '/x', value: '1' },
      { op: 'replace', path: '/x', value: '2' },
      { op: 'remove', path: '/x' },
    ]);
    assert.deepEqual(change, {});
  });

  it('adds over an existing property in 2.1 and refuses it in 2.0', () => {
    assert.deepEqual(apply([{ op: 'add', path: '/hw_disk_bus', value: 'scsi' }]), {
      properties: { hw_disk_bus: 'scsi' },
    });
    refusedAs(
      () => apply([{ add: '/hw_disk_bus', value: 'scsi' }], row(), V20),
      'conflict',
      /already present/,
    );
    assert.deepEqual(apply([{ replace: '/name', value: 'n' }], row(), V20), { name: 'n' });
  });

  it('ends the shares when an image is made private', () => {
    assert.deepEqual(
      applyPatch(
        row(),
        true,
        parsePatch([{ op: 'replace', path: '/visibility', value: 'private' }], V21),
        V21,
      ),
      { isPublic: false, community: false, endShares: true },
    );
  });

  it("refuses with Glance's kinds: read-only and reserved 403, missing 409, bad values 400", () => {
    refusedAs(() => apply([{ op: 'replace', path: '/size', value: 1 }]), 'forbidden', /read-only/);
    refusedAs(
      () => apply([{ op: 'add', path: '/os_glance_x', value: '1' }]),
      'forbidden',
      /reserved/,
    );
    refusedAs(() => apply([{ op: 'remove', path: '/min_ram' }]), 'forbidden', /may not be removed/);
    refusedAs(() => apply([{ op: 'remove', path: '/nope' }]), 'conflict', /does not exist/);
    refusedAs(() => apply([{ op: 'add', path: '/min_disk', value: 1.5 }]), 'invalid', /integer/);
    refusedAs(() => apply([{ op: 'copy', path: '/a', from: '/b' }]), 'invalid', /Unknown field/);
    refusedAs(() => apply([{ op: 'add', path: 'name', value: 'x' }]), 'invalid', /property path/);
    refusedAs(() => apply([{ op: 'remove', path: '/x', value: 'y' }]), 'invalid', /takes no value/);
    refusedAs(
      () => apply([{ add: '/a', replace: '/b', value: '1' }], row(), V20),
      'invalid',
      /exactly one/,
    );
    const many = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`p${i}`, 'v']));
    refusedAs(
      () =>
        apply(
          [{ op: 'add', path: '/one_more', value: 'v' }],
          row({ properties: JSON.stringify(many) }),
        ),
      'over_quota',
      /at most 128 properties/,
    );
  });
});
