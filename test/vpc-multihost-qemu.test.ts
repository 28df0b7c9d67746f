// Project networks across hosts with real guests (issue 16, point 4): `stratus lab --virt qemu
// --overlay` with two compute hosts, lab-node1 also the network host. Two projects each make a
// VPC with the same CIDR, an internet gateway and a guest on each host. Each project's guests
// reach each other by private IP across hosts (VXLAN); neither reaches the other's guests, by
// ping or by ARP; an Elastic IP reaches each guest (ssh) from a client namespace on the public
// segment; guests reach that segment through their router's SNAT; and the metadata service
// answers each guest with its own instance id, also two guests with one address on two
// networks.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  DisassociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  type _InstanceType,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Database } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { readState, type LabState } from '../src/lab/index.js';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { needs } from './support/capabilities.js';
import { readRcFile, stratus } from './support/cli.js';
import { ec2Client } from './support/ec2.js';
import { eventually, makeKey } from './support/guest.js';

const NEEDS = needs(
  'root',
  'netns',
  'arping',
  'qemu',
  'qemu-img',
  'guest-image',
  'ssh',
  'postgres',
  'rabbitmq',
);

const ec2IdOf = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
/** Both projects' VPC and subnet: the same addresses on purpose. */
const VPC_CIDR = '10.20.0.0/16';
const SUBNET_CIDR = '10.20.1.0/24';
/** ssh from anywhere, the one rule the guests' group gets. */
const SSH = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
/** The client namespace's address on the public segment (the lab's first client). */
const CLIENT_IP = '172.24.4.100';
const LISTEN_PORT = 9099;
/** Each guest tells the listener on the public segment its name, every 2 s. */
const USER_DATA = `#!/bin/sh\n(while true; do hostname | timeout 3 nc ${CLIENT_IP} ${LISTEN_PORT}; sleep 2; done) &\n`;

interface Guest {
  project: 'a' | 'b';
  uuid: string;
  ec2Id: string;
  host: string;
  mac: string;
  privateIp: string;
  floatingIp: string;
  associationId: string;
}

describe('project networks across two qemu hosts: two projects, one CIDR, isolated', NEEDS, () => {
  const name = `ov${randomBytes(4).toString('hex')}`;
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-'));
  const dir = path.join(top, 'lab');
  let state: LabState;
  let database: Database;
  const ec2: Record<'a' | 'b', EC2Client> = {} as Record<'a' | 'b', EC2Client>;
  let key: { keyFile: string; publicKey: string };
  let clientNs: string;
  let listener: ChildProcess | undefined;
  /** Source address -> what it said, as the listener in the client namespace saw it. */
  const heard: { from: string; said: string }[] = [];
  let guests: Guest[] = [];

  const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);

  /** Runs `command` on a guest over ssh from the client namespace; never throws. */
  const ssh = (
    address: string,
    command: string,
    timeoutMs = 20_000,
  ): Promise<{ ok: boolean; stdout: string; stderr: string }> => {
    const [file, args] = sshCommandLine(
      { host: address, user: 'root', netns: clientNs },
      key.keyFile,
      command,
      3,
    );
    return new Promise((resolve) =>
      execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
        resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
      ),
    );
  };
  const sshUntil = async (address: string, command: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let last = { ok: false, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      last = await ssh(address, command);
      if (last.ok) return last.stdout;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`ssh root@${address} did not succeed within ${timeoutMs} ms: ${last.stderr}`);
  };
  const guest = (project: 'a' | 'b', i: number) =>
    guests.filter((g) => g.project === project)[i] as Guest;

  before(async () => {
    const up = await lab(
      'up',
      '--hosts',
      '2',
      '--virt',
      'qemu',
      '--overlay',
      '--name',
      name,
      '--heartbeat-seconds',
      '1',
      '--down-after-seconds',
      '6',
    );
    assert.equal(up.code, 0, `lab up failed: ${up.stdout}\n${up.stderr}`);
    state = readState(dir) as LabState;
    database = await openDatabase(state.plan.databaseUrl, { migrate: false });
    const rc = readRcFile(path.join(dir, 'stratusrc'));
    const region = rc.AWS_DEFAULT_REGION as string;
    ec2.a = ec2Client(rc.EC2_URL as string, region, {
      accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
    });
    // The second project, made as an operator does (on the database).
    const identity = new IdentityService(database.db);
    const project = await identity.createProject({ name: 'ov-b' });
    const user = await identity.createUser({ name: 'ov-b-user' });
    await identity.grantRole(user.id, project.id, 'member');
    const cred = await identity.createEc2Credential(user.id, project.id);
    ec2.b = ec2Client(rc.EC2_URL as string, region, {
      accessKeyId: cred.accessKey,
      secretAccessKey: cred.secretKey,
    });
    const client = await lab('client', 'add', 'c1');
    assert.equal(client.code, 0, client.stderr);
    clientNs = `${state.plan.segments?.public}-client-c1`;
    key = makeKey(top, 'vpc-multihost');
    // The listener on the public segment: each line is the source address and what it said.
    listener = spawn(
      'ip',
      [
        'netns',
        'exec',
        clientNs,
        process.execPath,
        '-e',
        `require('net').createServer((s) => { const from = String(s.remoteAddress).replace(/^::ffff:/, ''); let d = ''; s.on('data', (c) => (d += c)); s.on('close', () => console.log(from + ' ' + d.trim())); s.on('error', () => {}); }).listen(${LISTEN_PORT}, '${CLIENT_IP}');`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let rest = '';
    listener.stdout?.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [from, ...said] = line.split(' ');
        heard.push({ from: from ?? '', said: said.join(' ') });
      }
    });
  });

  after(async () => {
    if (listener?.pid !== undefined) listener.kill('SIGTERM');
    ec2.a?.destroy();
    ec2.b?.destroy();
    await database?.close();
    if (fs.existsSync(dir)) {
      const down = await lab('down');
      if (down.code !== 0) console.error(`lab down failed: ${down.stdout}\n${down.stderr}`);
    }
    fs.rmSync(top, { recursive: true, force: true });
  });

  it('launches a guest of each project on each host, each in its VPC of the same CIDR', async (t) => {
    const t0 = Date.now();
    const images = await ec2.a.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const imageId = images.Images?.[0]?.ImageId as string;
    assert.ok(imageId);
    const launch = async (project: 'a' | 'b') => {
      const c = ec2[project];
      await c.send(
        new ImportKeyPairCommand({ KeyName: 'ov', PublicKeyMaterial: Buffer.from(key.publicKey) }),
      );
      const vpcId = (await c.send(new CreateVpcCommand({ CidrBlock: VPC_CIDR }))).Vpc
        ?.VpcId as string;
      const subnetId = (
        await c.send(
          new CreateSubnetCommand({
            VpcId: vpcId,
            CidrBlock: SUBNET_CIDR,
            // The lab's hosts are all in its first zone.
            AvailabilityZone: 'lab-zone1',
          }),
        )
      ).Subnet?.SubnetId as string;
      const igw = (await c.send(new CreateInternetGatewayCommand({}))).InternetGateway
        ?.InternetGatewayId as string;
      await c.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
      const table = (
        await c.send(
          new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
        )
      ).RouteTables?.[0]?.RouteTableId as string;
      await c.send(
        new CreateRouteCommand({
          RouteTableId: table,
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: igw,
        }),
      );
      // The guests are in their project's default group (no SecurityGroupId given): ping
      // within the VPC and ssh from anywhere need rules.
      await c.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'default',
          IpPermissions: [
            SSH,
            { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: VPC_CIDR }] },
          ],
        }),
      );
      // Project b's guests start one address later, so that b's first guest has a's second
      // guest's address (metadata must tell them apart) and b's second has one a lacks.
      if (project === 'b') await c.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }));
      const r = await c.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 2,
          MaxCount: 2,
          KeyName: 'ov',
          SubnetId: subnetId,
          UserData: Buffer.from(USER_DATA).toString('base64'),
        }),
      );
      return (r.Instances ?? []).map((i) => ({ project, ec2Id: i.InstanceId as string }));
    };
    const launched = (await Promise.all([launch('a'), launch('b')])).flat();
    assert.equal(launched.length, 4);
    const described = new Map<string, { privateIp: string; eniIp: string; state: string }>();
    await eventually(
      async () => {
        for (const project of ['a', 'b'] as const) {
          const d = await ec2[project].send(new DescribeInstancesCommand({}));
          for (const i of (d.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
            if (['terminated', 'shutting-down'].includes(i.State?.Name ?? '')) {
              throw new Error(`${i.InstanceId} ended: ${i.StateReason?.Message}`);
            }
            described.set(i.InstanceId as string, {
              privateIp: i.PrivateIpAddress as string,
              eniIp: i.NetworkInterfaces?.[0]?.PrivateIpAddress as string,
              state: i.State?.Name as string,
            });
          }
        }
        return [...described.values()].filter((d) => d.state === 'running').length === 4
          ? true
          : undefined;
      },
      180_000,
      '4 guests to be running',
      500,
    );
    const rows = await database.db
      .selectFrom('instances')
      .select(['id', 'host', 'macAddress'])
      .execute();
    guests = launched.map((l) => {
      const row = rows.find((r) => ec2IdOf(r.id) === l.ec2Id);
      const d = described.get(l.ec2Id);
      assert.ok(row && d, l.ec2Id);
      // Both views of the instance agree: its private address is its interface's.
      assert.equal(d.privateIp, d.eniIp, `${l.ec2Id}: instance and interface addresses`);
      assert.match(d.privateIp, /^10\.20\.1\.\d+$/);
      return {
        project: l.project,
        uuid: row.id,
        ec2Id: l.ec2Id,
        host: row.host as string,
        mac: row.macAddress as string,
        privateIp: d.privateIp,
        floatingIp: '',
        associationId: '',
      };
    });
    for (const project of ['a', 'b'] as const) {
      const hosts = new Set(guests.filter((g) => g.project === project).map((g) => g.host));
      assert.equal(hosts.size, 2, `project ${project}'s guests are on both hosts`);
    }
    assert.equal(guest('b', 0).privateIp, guest('a', 1).privateIp, 'the shared address');
    t.diagnostic(
      `running after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${guests.map((g) => `${g.project} ${g.privateIp}@${g.host}`).join(', ')}`,
    );
  });

  it('reaches each guest at an Elastic IP from the public segment (ssh)', async () => {
    for (const g of guests) {
      const c = ec2[g.project];
      const alloc = await c.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      const assoc = await c.send(
        new AssociateAddressCommand({ AllocationId: alloc.AllocationId, InstanceId: g.ec2Id }),
      );
      g.floatingIp = alloc.PublicIp as string;
      g.associationId = assoc.AssociationId as string;
    }
    const names = await Promise.all(
      guests.map((g) => sshUntil(g.floatingIp, 'ip -4 -o addr show dev eth0', 120_000)),
    );
    for (const [i, g] of guests.entries()) {
      assert.match(names[i] as string, new RegExp(`inet ${g.privateIp.replace(/\./g, '\\.')}/24`));
    }
  });

  it("enforces the guests' security groups on the overlay: no ssh without the rule, and back with it", async () => {
    const g = guest('a', 0);
    await ec2.a.send(
      new RevokeSecurityGroupIngressCommand({ GroupName: 'default', IpPermissions: [SSH] }),
    );
    // The rule change reaches the port on its host: ssh stops being accepted.
    await eventually(
      async () => ((await ssh(g.floatingIp, 'true', 6_000)).ok ? undefined : true),
      60_000,
      'ssh to be refused once the rule is revoked',
      500,
    );
    // The other project's group still has its rule: its guest still answers.
    assert.ok((await ssh(guest('b', 0).floatingIp, 'true')).ok, "project b's guest");
    await ec2.a.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupName: 'default', IpPermissions: [SSH] }),
    );
    await sshUntil(g.floatingIp, 'true', 60_000);
  });

  it('answers each guest its own metadata, also two guests with one address on two networks', async () => {
    for (const g of guests) {
      const out = await sshUntil(
        g.floatingIp,
        'timeout 10 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id',
        30_000,
      );
      assert.equal(out.trim(), g.ec2Id, `${g.project} ${g.privateIp}`);
    }
  });

  it("reaches its own project's guest on the other host by private IP, and never the other project's", async () => {
    for (const project of ['a', 'b'] as const) {
      const [one, two] = [guest(project, 0), guest(project, 1)];
      const out = await sshUntil(
        one.floatingIp,
        `ping -c 3 -W 2 ${two.privateIp} >/dev/null && ip neigh show ${two.privateIp}`,
        30_000,
      );
      // The answer came from the right guest: its MAC is in the neighbour table.
      assert.match(
        out,
        new RegExp(two.mac, 'i'),
        `${project}: ${one.privateIp} -> ${two.privateIp}`,
      );
    }
    // b's second guest has an address a has none at: neither ping nor ARP finds it from a.
    const stranger = guest('b', 1).privateIp;
    assert.ok(!guests.some((g) => g.project === 'a' && g.privateIp === stranger));
    for (const g of guests.filter((x) => x.project === 'a')) {
      const ping = await ssh(g.floatingIp, `ping -c 2 -W 2 ${stranger}`);
      assert.equal(ping.ok, false, `${g.privateIp} of a pinged b's ${stranger}: ${ping.stdout}`);
      const arp = await ssh(
        g.floatingIp,
        `arping -c 2 -w 3 -I eth0 ${stranger}; ip neigh show ${stranger}`,
      );
      assert.doesNotMatch(arp.stdout, new RegExp(guest('b', 1).mac, 'i'));
      assert.doesNotMatch(arp.stdout, /Unicast reply|lladdr/);
    }
    // And b's first guest, at a's second guest's address, is not the one a's first reaches.
    const same = await ssh(guest('a', 0).floatingIp, `ip neigh show ${guest('b', 0).privateIp}`);
    assert.doesNotMatch(same.stdout, new RegExp(guest('b', 0).mac, 'i'));
  });

  it('takes guests to the public segment through their router: as their Elastic IP, else as the router', async () => {
    await eventually(
      async () =>
        guests.every((g) => heard.some((h) => h.from === g.floatingIp)) ? true : undefined,
      30_000,
      'every guest to reach the listener as its Elastic IP',
      500,
    );
    // Without its Elastic IP, a guest leaves as its router's own external address.
    const g = guest('b', 1);
    await ec2.b.send(new DisassociateAddressCommand({ AssociationId: g.associationId }));
    const routers = await database.db
      .selectFrom('floatingIps')
      .select(['address', 'projectId'])
      .where('projectId', 'like', 'router:%')
      .execute();
    assert.equal(routers.length, 2, 'each project router holds an external address');
    const since = heard.length;
    const seen = await eventually(
      async () =>
        heard
          .slice(since)
          .find((h) => routers.some((r) => r.address === h.from) && h.from !== g.floatingIp),
      30_000,
      "a guest without an Elastic IP to reach the listener as its router's address",
      500,
    );
    assert.ok(seen);
    assert.ok(!guests.some((x) => x.privateIp === seen.from));
  });

  it('stratus smoke passes in a VPC of its own (not the default one), from the public segment', async (t) => {
    const t0 = Date.now();
    const smoke = await stratus([
      'smoke',
      '--rc',
      path.join(dir, 'stratusrc'),
      '--instance-type',
      'm1.nano',
      '--vpc',
      '10.77.0.0/16',
      '--netns',
      clientNs,
      '--boot-timeout',
      '120',
      '--ssh-timeout',
      '120',
    ]);
    assert.equal(smoke.code, 0, `${smoke.stdout}\n${smoke.stderr}`);
    // It ran in its own VPC: the steps that make and remove it passed, and ssh went to an
    // Elastic IP (the guest's address in 10.77.0.0/24 is not reachable from the client).
    assert.match(smoke.stdout, /create-vpc .* ok .*10\.77\.0\.0\/16/);
    assert.match(smoke.stdout, /delete-vpc .* ok/);
    assert.match(smoke.stdout, /\n1 passed, 0 failed\n/);
    t.diagnostic(`stratus smoke --vpc passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});
