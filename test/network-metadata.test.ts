// The metadata service as a guest sees it: a cloud on the fake driver launches an instance
// through the EC2 API, a namespace guest with the instance's MAC gets its fixed IP by DHCP
// and asks 169.254.169.254, through the host namespace's DNAT and proxy, for its metadata.
// An address the cloud did not give out gets nothing, whatever headers it sends.
import {
  CreateKeyPairCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  RunInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataServer, MetadataService } from '../src/api/metadata/index.js';
import { InstanceMetadataReader } from '../src/compute/index.js';
import { InstanceRepo, NetworkRepo } from '../src/db/index.js';
import { HostDataPlane } from '../src/network/dataplane/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { Cleanup, FakeGuest, httpError, httpGet, tempDir, uniqueName } from './support/netns.js';

const MD = 'http://169.254.169.254';

describe('the metadata service inside the host namespace', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let t: TestCloud;
  let dp: HostDataPlane;
  let guest: FakeGuest;
  let stranger: FakeGuest;
  let instance: Instance;
  let publicKey: string;
  let imageId: string;

  before(async () => {
    t = await startTestCloud();
    cleanup.add(() => t.stop());
    const image = await t.addImage({ name: 'md-image' });
    imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    await t.admin.send(new CreateKeyPairCommand({ KeyName: 'md-key' }));
    const run = await t.admin.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'md-key',
        UserData: Buffer.from('#!/bin/sh\necho from-user-data\n').toString('base64'),
      }),
    );
    const id = run.Instances?.[0]?.InstanceId as string;
    instance = await waitUntil(
      async () => {
        const d = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        const i = d.Reservations?.[0]?.Instances?.[0];
        return i?.State?.Name === 'running' && i.PrivateIpAddress ? i : undefined;
      },
      10_000,
      'the instance to run',
    );
    const [row] = await new InstanceRepo(t.cloud.database.db).list({});
    publicKey = row?.keyData?.trim() ?? '';
    const [net] = await new NetworkRepo(t.cloud.database.db).list();
    assert.ok(net && row?.macAddress);

    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'metadata.sock');
    const server = new MetadataServer(
      new MetadataService(new InstanceMetadataReader(t.cloud.database.db), t.cloud.config.region),
    );
    await server.listen(socket);
    cleanup.add(() => server.close());
    dp = new HostDataPlane({
      namespace: uniqueName(),
      bridge: 'br100',
      network: {
        cidr: net.cidr,
        gateway: net.gateway,
        dhcpStart: net.dhcpStart,
        dhcpEnd: net.dhcpEnd,
        dns: '',
      },
      leaseSeconds: 120,
      stateDir: dir,
      metadataSocket: socket,
      leases: { onEvent: async () => undefined, knownLeases: async () => [] },
    });
    cleanup.add(() => dp.teardown());
    await dp.start();
    guest = await new FakeGuest(cleanup).create();
    await dp.plugGuest({
      instanceId: row.id,
      mac: row.macAddress,
      fixedIp: instance.PrivateIpAddress as string,
      hostname: 'md',
      port: guest.port,
    });
    assert.equal(await guest.dhcp(), instance.PrivateIpAddress);
    stranger = await new FakeGuest(cleanup).create();
    await dp.plugGuest({
      instanceId: randomUUID(),
      mac: 'fa:16:3e:30:00:99',
      fixedIp: '10.20.15.200',
      hostname: 'stranger',
      port: stranger.port,
    });
    assert.equal(await stranger.dhcp(), '10.20.15.200');
  });
  after(() => cleanup.run());

  it('serves EC2 meta-data to the instance that holds the fixed IP', async () => {
    const get = (p: string) => httpGet(guest.ns, `${MD}${p}`);
    assert.equal(await get('/latest/meta-data/instance-id'), instance.InstanceId);
    assert.equal(await get('/latest/meta-data/ami-id'), imageId);
    assert.equal(await get('/latest/meta-data/local-ipv4'), instance.PrivateIpAddress);
    assert.equal(await get('/latest/meta-data/hostname'), instance.PrivateDnsName);
    assert.equal(
      await get('/latest/meta-data/placement/availability-zone'),
      instance.Placement?.AvailabilityZone,
    );
    assert.equal(await get('/latest/meta-data/security-groups'), 'default');
    assert.equal(await get('/latest/meta-data/public-keys/'), '0=md-key');
    assert.ok(publicKey.startsWith('ssh-rsa '));
    assert.equal(await get('/latest/meta-data/public-keys/0/openssh-key'), `${publicKey}\n`);
    assert.equal(await get('/latest/user-data'), '#!/bin/sh\necho from-user-data\n');
    const listing = (await get('/latest/meta-data/'))?.split('\n') ?? [];
    for (const k of ['instance-id', 'ami-id', 'local-ipv4', 'placement/', 'public-keys/']) {
      assert.ok(listing.includes(k), `the listing has ${k}`);
    }
    assert.equal(await get('/latest/meta-data/public-ipv4'), undefined, 'no floating IP yet');
  });

  it('serves OpenStack meta_data.json', async () => {
    const body = await httpGet(guest.ns, `${MD}/openstack/latest/meta_data.json`);
    const md = JSON.parse(body ?? '{}') as Record<string, unknown>;
    const [row] = await new InstanceRepo(t.cloud.database.db).list({});
    assert.equal(md.uuid, row?.id);
    assert.deepEqual(md.public_keys, { 'md-key': publicKey });
    assert.equal(md.availability_zone, instance.Placement?.AvailabilityZone);
  });

  it("counts the guest's metadata request as reachability in DescribeInstanceStatus", async () => {
    const r = await t.admin.send(
      new DescribeInstanceStatusCommand({ InstanceIds: [instance.InstanceId as string] }),
    );
    const s = r.InstanceStatuses?.[0];
    assert.equal(s?.SystemStatus?.Status, 'ok');
    assert.equal(s?.InstanceStatus?.Status, 'ok');
    assert.deepEqual(s?.InstanceStatus?.Details, [{ Name: 'reachability', Status: 'passed' }]);
    const [row] = await new InstanceRepo(t.cloud.database.db).list({});
    assert.ok(row?.metadataFetchedAt, 'the first metadata request is recorded');
  });

  it('serves nothing to an address it does not know, even with a forged header', async () => {
    assert.match(await httpError(stranger.ns, `${MD}/latest/meta-data/instance-id`), /404/);
    assert.match(
      await httpError(stranger.ns, `${MD}/latest/meta-data/instance-id`, [
        `X-Forwarded-For: ${instance.PrivateIpAddress}`,
      ]),
      /404/,
    );
    assert.match(await httpError(stranger.ns, `${MD}/openstack/latest/meta_data.json`), /404/);
  });
});
