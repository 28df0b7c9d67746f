// The metadata paths a guest asks for, answered for one known instance, and the same tree as
// the files a user-mode guest is given.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceRow } from '../../db/index.js';
import { answer, metadataFiles } from './metadata-tree.js';
import type { InstanceMetadata } from './metadata-service.js';

const md: InstanceMetadata = {
  instance: {
    id: '0123abcd-0000-4000-8000-000000000000',
    projectId: 'p1',
    availabilityZone: 'nova',
    launchIndex: 0,
  } as InstanceRow,
  instanceId: 'i-0123abcd000040008',
  imageId: 'ami-0000000000000000a',
  kernelId: 'aki-0000000000000000b',
  ramdiskId: null,
  reservationId: 'r-00000000000000001',
  hostname: 'ip-10-20-0-5.regionone.compute.internal',
  instanceType: 'm1.tiny',
  localIpv4: '10.20.0.5',
  mac: 'fa:16:3e:00:00:01',
  publicIpv4: '172.24.4.10',
  securityGroups: ['default', 'web'],
  key: { name: 'k', openssh: 'ssh-ed25519 AAAA k' },
  userData: Buffer.from('#!/bin/sh\n'),
  serverMetadata: { role: 'web' },
};

const body = (p: string, method = 'GET') => String(answer(method, p, md).body);

describe('metadata answers', () => {
  it('serve the EC2 meta-data tree', () => {
    assert.equal(body('/latest/meta-data/instance-id'), 'i-0123abcd000040008');
    assert.equal(body('/latest/meta-data/public-ipv4'), '172.24.4.10');
    assert.equal(body('/latest/meta-data/security-groups'), 'default\nweb');
    assert.equal(body('/latest/meta-data/placement/availability-zone'), 'nova');
    assert.equal(body('/latest/meta-data/public-keys/'), '0=k');
    assert.equal(body('/latest/meta-data/public-keys/0/openssh-key'), 'ssh-ed25519 AAAA k\n');
    assert.equal(body('/latest/user-data'), '#!/bin/sh\n');
    assert.ok(body('/latest/meta-data/').split('\n').includes('public-ipv4'));
    assert.equal(body('/latest//meta-data/local-ipv4'), '10.20.0.5');
  });

  it('serve OpenStack meta_data.json and an IMDSv2 token', () => {
    const j = JSON.parse(body('/openstack/latest/meta_data.json')) as Record<string, unknown>;
    assert.equal(j.uuid, md.instance.id);
    assert.deepEqual(j.public_keys, { k: 'ssh-ed25519 AAAA k' });
    assert.deepEqual(j.meta, { role: 'web' });
    assert.match(body('/latest/api/token', 'PUT'), /^[0-9a-f]{48}$/);
  });

  it('answer 404 for what does not exist and 405 for other methods', () => {
    assert.equal(answer('GET', '/latest/meta-data/nothing', md).status, 404);
    assert.equal(answer('GET', '/../../etc/passwd', md).status, 404);
    assert.equal(answer('POST', '/latest/meta-data/instance-id', md).status, 405);
    const noKey = { ...md, key: null, publicIpv4: null, userData: null };
    assert.equal(answer('GET', '/latest/meta-data/public-keys/0/openssh-key', noKey).status, 404);
    assert.equal(answer('GET', '/latest/meta-data/public-ipv4', noKey).status, 404);
    assert.equal(answer('GET', '/latest/user-data', noKey).status, 404);
  });

  it('are the same tree as the files for a guest in QEMU user mode', () => {
    const files = metadataFiles(md);
    assert.equal(files['/latest/meta-data/instance-id'], 'i-0123abcd000040008');
    assert.equal(files['/latest/meta-data/kernel-id'], 'aki-0000000000000000b');
    assert.equal(files['/latest/meta-data/local-hostname'], md.hostname);
    assert.equal(files['/latest/meta-data/public-keys/0/openssh-key'], 'ssh-ed25519 AAAA k\n');
    assert.equal(files['/latest/meta-data/placement/availability-zone'], 'nova');
    assert.equal(files['/latest/user-data'], '#!/bin/sh\n');
    assert.equal(files['/openstack/latest/user_data'], '#!/bin/sh\n');
    assert.equal(
      JSON.parse(files['/openstack/latest/meta_data.json'] ?? '{}').uuid,
      md.instance.id,
    );
    assert.equal('/latest/meta-data/ramdisk-id' in files, false);
    // Every file is what the service answers at its path, and nothing it serves is left out.
    for (const [p, b] of Object.entries(files)) assert.equal(b, body(p), p);
    const leaves = body('/latest/meta-data/')
      .split('\n')
      .filter((n) => !n.endsWith('/'));
    for (const n of leaves) assert.ok(`/latest/meta-data/${n}` in files, n);
  });

  it('leave out the key and user data of an instance that has none', () => {
    const files = metadataFiles({ ...md, key: null, userData: null });
    assert.equal('/latest/user-data' in files, false);
    assert.equal('/latest/meta-data/public-keys/0/openssh-key' in files, false);
    assert.deepEqual(JSON.parse(files['/openstack/latest/meta_data.json'] ?? '{}').keys, []);
  });
});
