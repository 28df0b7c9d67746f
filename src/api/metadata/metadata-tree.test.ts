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
    createdAt: 0,
    launchedAt: 1_700_000_000_000,
    metadataHttpTokens: 'optional',
    metadataHttpEndpoint: 'enabled',
    metadataTags: 'disabled',
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
  publicHostname: 'ec2-172-24-4-10.regionone.compute.amazonaws.com',
  securityGroups: ['default', 'web'],
  securityGroupIds: ['sg-00000000000000001', 'sg-00000000000000002'],
  ownerId: 'p1',
  region: 'RegionOne',
  tags: [],
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

  it('serve OpenStack meta_data.json', () => {
    const j = JSON.parse(body('/openstack/latest/meta_data.json')) as Record<string, unknown>;
    assert.equal(j.uuid, md.instance.id);
    assert.deepEqual(j.public_keys, { k: 'ssh-ed25519 AAAA k' });
    assert.deepEqual(j.meta, { role: 'web' });
  });

  it('serve the paths cloud-init reads, as the EC2 user guide lists them', () => {
    assert.equal(body('/latest/meta-data/local-hostname'), md.hostname);
    assert.equal(body('/latest/meta-data/public-hostname'), md.publicHostname);
    assert.equal(body('/latest/meta-data/placement/'), 'availability-zone\nregion');
    assert.equal(body('/latest/meta-data/placement/region'), 'RegionOne');
    assert.equal(body('/latest/meta-data/block-device-mapping/'), 'ami\nroot');
    assert.equal(body('/latest/meta-data/block-device-mapping/root'), '/dev/vda');
    assert.equal(body('/latest/meta-data/block-device-mapping/ami'), '/dev/vda');
    assert.equal(body('/latest/meta-data/reservation-id'), 'r-00000000000000001');
    assert.equal(body('/latest/meta-data/mac'), 'fa:16:3e:00:00:01');
    assert.equal(body('/latest/meta-data/network/interfaces/macs/'), 'fa:16:3e:00:00:01/');
    const nic = '/latest/meta-data/network/interfaces/macs/fa:16:3e:00:00:01';
    const keys = body(`${nic}/`).split('\n');
    for (const k of ['device-number', 'local-ipv4s', 'mac', 'public-ipv4s', 'security-group-ids']) {
      assert.ok(keys.includes(k), k);
    }
    assert.equal(body(`${nic}/device-number`), '0');
    assert.equal(body(`${nic}/local-ipv4s`), '10.20.0.5');
    assert.equal(body(`${nic}/public-ipv4s`), '172.24.4.10');
    assert.equal(body(`${nic}/ipv4-associations/172.24.4.10`), '10.20.0.5');
    assert.equal(body(`${nic}/security-group-ids`), 'sg-00000000000000001\nsg-00000000000000002');
    assert.equal(body(`${nic}/security-groups`), 'default\nweb');
    assert.equal(body(`${nic}/owner-id`), 'p1');
    const doc = JSON.parse(body('/latest/dynamic/instance-identity/document')) as Record<
      string,
      unknown
    >;
    assert.equal(doc.instanceId, md.instanceId);
    assert.equal(doc.region, 'RegionOne');
    // A leaf asked for as a directory, and a directory's child that is not there, are 404.
    assert.equal(answer('GET', '/latest/meta-data/instance-id/', md).status, 404);
    assert.equal(answer('GET', `${nic}/nothing`, md).status, 404);
    assert.equal(answer('GET', '/latest/meta-data/tags/instance/', md).status, 404);
  });

  it('serve the instance tags only when the instance lets its guest see them', () => {
    const tags = [
      { key: 'Name', value: 'web-1' },
      { key: 'team', value: 'blue' },
      { key: 'a/b', value: 'no path for it' },
      { key: 'with space', value: 'x' },
    ];
    const off = { ...md, tags: [] };
    assert.equal(answer('GET', '/latest/meta-data/tags/instance/Name', off).status, 404);
    assert.equal(body('/latest/meta-data/').split('\n').includes('tags/'), false);
    const on = {
      ...md,
      instance: { ...md.instance, metadataTags: 'enabled' as const },
      tags,
    };
    assert.ok(
      String(answer('GET', '/latest/meta-data/', on).body)
        .split('\n')
        .includes('tags/'),
    );
    assert.equal(
      String(answer('GET', '/latest/meta-data/tags/instance/', on).body),
      'Name\nteam\nwith space',
    );
    assert.equal(String(answer('GET', '/latest/meta-data/tags/instance/Name', on).body), 'web-1');
    assert.equal(
      String(answer('GET', '/latest/meta-data/tags/instance/with%20space', on).body),
      'x',
    );
    // A file tree cannot hold a key with a space: user mode leaves it out.
    const files = metadataFiles(on);
    assert.equal(files['/latest/meta-data/tags/instance/team'], 'blue');
    assert.equal('/latest/meta-data/tags/instance/with space' in files, false);
  });

  it('are no files for a guest in user mode when the endpoint is off or tokens are required', () => {
    for (const instance of [
      { ...md.instance, metadataHttpEndpoint: 'disabled' as const },
      { ...md.instance, metadataHttpTokens: 'required' as const },
    ]) {
      assert.deepEqual(metadataFiles({ ...md, instance }), {});
    }
  });

  it('answer 404 for what does not exist and 405 for other methods', () => {
    assert.equal(answer('GET', '/latest/meta-data/nothing', md).status, 404);
    assert.equal(answer('GET', '/../../etc/passwd', md).status, 404);
    assert.equal(answer('POST', '/latest/meta-data/instance-id', md).status, 405);
    assert.equal(answer('PUT', '/latest/api/token', md).status, 405, "tokens are the server's");
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
