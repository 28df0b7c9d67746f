// Project networks across hosts with real guests (issue 16, point 4): `stratus lab --virt qemu
// --overlay` with two compute hosts, lab-node1 also the network host. Two projects each make a
// VPC with the same CIDR, an internet gateway and a guest on each host. Each project's guests
// reach each other by private IP across hosts (VXLAN); neither reaches the other's guests, by
// ping or by ARP; an Elastic IP reaches each guest (ssh) from a client namespace on the public
// segment; guests reach that segment through their router's SNAT; and the metadata service
// answers each guest with its own instance id, also two guests with one address on two
// networks. The route table is enforced: without its default route to the internet gateway
// a VPC's guests neither reach the public segment nor are reached at their Elastic IPs. A
// launch without a subnet goes on the wire in its project's default VPC: the guest has its
// interface's 172.31 address, and reaches and is reached from the public segment.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVpcsCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DisassociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupIngressCommand,
  ReleaseAddressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../src/db/index.js';
import { stratus } from './support/cli.js';
import { eventually } from './support/guest.js';
import {
  CLIENT_IP,
  OVERLAY_LAB_NEEDS,
  startOverlayLab,
  makeLabVpc,
  stopOverlayLab,
  type OverlayLab,
} from './support/overlay-lab.js';

const ec2IdOf = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
/** Both projects' VPC and subnet: the same addresses on purpose. */
const VPC_CIDR = '10.20.0.0/16';
const SUBNET_CIDR = '10.20.1.0/24';
/** ssh from anywhere, the one rule the guests' group gets. */
const SSH = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
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

describe(
  'project networks across two qemu hosts: two projects, one CIDR, isolated',
  OVERLAY_LAB_NEEDS,
  () => {
    let lab: OverlayLab;
    let guests: Guest[] = [];
    /** Each project's VPC's default security group, which its guests are in. */
    const vpcGroup: Record<'a' | 'b', string> = { a: '', b: '' };
    // Shorthands for what the lab gives.
    let database: Database;
    let ec2: Record<'a' | 'b', EC2Client>;
    let key: { keyFile: string; publicKey: string };
    let clientNs: string;
    let heard: OverlayLab['heard'];
    let dir: string;
    const ssh: OverlayLab['ssh'] = (...args) => lab.ssh(...args);
    const sshUntil: OverlayLab['sshUntil'] = (...args) => lab.sshUntil(...args);
    const guest = (project: 'a' | 'b', i: number) =>
      guests.filter((g) => g.project === project)[i] as Guest;

    before(async () => {
      lab = await startOverlayLab({ prefix: 'ov', listenPort: LISTEN_PORT });
      ({ database, ec2, key, clientNs, heard, dir } = lab);
    });

    after(() => stopOverlayLab(lab));

    it('launches a guest of each project on each host, each in its VPC of the same CIDR', async (t) => {
      const t0 = Date.now();
      const imageId = lab.imageId;
      const launch = async (project: 'a' | 'b') => {
        const c = ec2[project];
        await c.send(
          new ImportKeyPairCommand({
            KeyName: 'ov',
            PublicKeyMaterial: Buffer.from(key.publicKey),
          }),
        );
        // The guests are in their VPC's default group (no SecurityGroupId given): ping within
        // the VPC and ssh from anywhere need rules. The project's default VPC's group gets them
        // too, for the guest launched there later.
        const { subnetId, defaultGroupId } = await makeLabVpc(c, VPC_CIDR, SUBNET_CIDR);
        vpcGroup[project] = defaultGroupId;
        for (const group of [{ GroupId: vpcGroup[project] }, { GroupName: 'default' }]) {
          await c.send(
            new AuthorizeSecurityGroupIngressCommand({
              ...group,
              IpPermissions: [
                SSH,
                { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: VPC_CIDR }] },
              ],
            }),
          );
        }
        // Project b's guests start one address later, so that b's first guest has a's second
        // guest's address (metadata must tell them apart) and b's second has one a lacks.
        if (project === 'b')
          await c.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }));
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
        assert.match(
          names[i] as string,
          new RegExp(`inet ${g.privateIp.replace(/\./g, '\\.')}/24`),
        );
      }
    });

    it("enforces the guests' security groups on the overlay: no ssh without the rule, and back with it", async () => {
      const g = guest('a', 0);
      await ec2.a.send(
        new RevokeSecurityGroupIngressCommand({ GroupId: vpcGroup.a, IpPermissions: [SSH] }),
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
        new AuthorizeSecurityGroupIngressCommand({ GroupId: vpcGroup.a, IpPermissions: [SSH] }),
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

    it("follows the VPC's route table: no way out nor in without its default route, and back with it", async (t) => {
      const c = ec2.a;
      const vpcId = (
        await c.send(
          new DescribeSubnetsCommand({ Filters: [{ Name: 'cidr-block', Values: [SUBNET_CIDR] }] }),
        )
      ).Subnets?.[0]?.VpcId as string;
      const table = (
        await c.send(
          new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
        )
      ).RouteTables?.[0];
      const igw = table?.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.GatewayId;
      assert.ok(table?.RouteTableId && igw, "project a's table routes 0.0.0.0/0 to its gateway");
      const { routerId } = await database.db
        .selectFrom('vpcs')
        .select('routerId')
        .where('projectId', '=', lab.projectIds.a)
        .where('cidr', '=', VPC_CIDR)
        .executeTakeFirstOrThrow();
      const routerIp = (
        await database.db
          .selectFrom('floatingIps')
          .select('address')
          .where('projectId', '=', `router:${routerId}`)
          .executeTakeFirstOrThrow()
      ).address;
      const ofA = new Set([
        routerIp,
        ...guests.filter((g) => g.project === 'a').map((g) => g.floatingIp),
      ]);
      const ofB = new Set(guests.filter((g) => g.project === 'b').map((g) => g.floatingIp));
      const g = guest('a', 0);
      const t0 = Date.now();
      await c.send(
        new DeleteRouteCommand({
          RouteTableId: table.RouteTableId,
          DestinationCidrBlock: '0.0.0.0/0',
        }),
      );
      // Within the resync, its Elastic IP stops answering from the public segment.
      await eventually(
        async () => ((await ssh(g.floatingIp, 'true', 6_000)).ok ? undefined : true),
        60_000,
        'ssh to the Elastic IP to fail once the default route is deleted',
        500,
      );
      t.diagnostic(`closed ${((Date.now() - t0) / 1000).toFixed(1)} s after DeleteRoute`);
      // Nor do its guests reach the listener, while project b's keep reaching it: from here on
      // b's guests are heard three times, a's never.
      const since = heard.length;
      await eventually(
        async () => {
          const window = heard.slice(since);
          const fromB = window.filter((h) => ofB.has(h.from) || !ofA.has(h.from)).length;
          return fromB >= 3 * ofB.size ? window : undefined;
        },
        60_000,
        "project b's guests to be heard three times each",
        500,
      );
      const window = heard.slice(since);
      assert.ok(
        !window.some((h) => ofA.has(h.from)),
        `project a's guests were heard without their default route: ${JSON.stringify(window)}`,
      );
      await c.send(
        new CreateRouteCommand({
          RouteTableId: table.RouteTableId,
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: igw,
        }),
      );
      await sshUntil(g.floatingIp, 'true', 60_000);
      const again = heard.length;
      await eventually(
        async () => (heard.slice(again).some((h) => h.from === g.floatingIp) ? true : undefined),
        60_000,
        "project a's guest to reach the listener as its Elastic IP again",
        500,
      );
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

    it('puts a launch without a subnet on the wire in its default VPC: one address everywhere', async (t) => {
      const t0 = Date.now();
      const c = ec2.a;
      const run = await c.send(
        new RunInstancesCommand({
          ImageId: lab.imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          KeyName: 'ov',
        }),
      );
      const id = run.Instances?.[0]?.InstanceId as string;
      const defaultVpc = (
        await c.send(
          new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
        )
      ).Vpcs?.[0]?.VpcId;
      assert.ok(defaultVpc, 'the project has its default VPC');
      const inst = await eventually(
        async () => {
          const d = await c.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
          const i = d.Reservations?.[0]?.Instances?.[0];
          if (['terminated', 'shutting-down'].includes(i?.State?.Name ?? '')) {
            throw new Error(`${id} ended: ${i?.StateReason?.Message}`);
          }
          return i?.State?.Name === 'running' ? i : undefined;
        },
        180_000,
        'the default-VPC guest to be running',
        500,
      );
      const privateIp = inst.PrivateIpAddress as string;
      assert.match(privateIp, /^172\.31\.\d+\.\d+$/);
      assert.equal(inst.VpcId, defaultVpc);
      assert.equal(inst.NetworkInterfaces?.[0]?.PrivateIpAddress, privateIp);
      const enis = (
        await c.send(
          new DescribeNetworkInterfacesCommand({
            Filters: [{ Name: 'attachment.instance-id', Values: [id] }],
          }),
        )
      ).NetworkInterfaces;
      assert.deepEqual(
        enis?.map((e) => e.PrivateIpAddress),
        [privateIp],
      );
      const row = await database.db
        .selectFrom('instances')
        .select(['id', 'host'])
        .execute()
        .then((rows) => rows.find((r) => ec2IdOf(r.id) === id));
      // The Networking API's port is bound to the guest's host.
      const port = await database.db
        .selectFrom('projectPorts')
        .select(['bindingHost'])
        .where('deviceId', '=', row?.id ?? '')
        .executeTakeFirst();
      assert.equal(port?.bindingHost, row?.host);

      const alloc = await c.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      await c.send(
        new AssociateAddressCommand({ AllocationId: alloc.AllocationId, InstanceId: id }),
      );
      const eip = alloc.PublicIp as string;
      // Inside the guest: the interface's address, from the default VPC's DHCP.
      const addr = await sshUntil(eip, 'ip -4 -o addr show dev eth0', 120_000);
      assert.match(addr, new RegExp(`inet ${privateIp.replace(/\./g, '\\.')}/20`));
      const meta = await sshUntil(
        eip,
        'timeout 10 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id',
        30_000,
      );
      assert.equal(meta.trim(), id);
      // It reaches the public segment through the default VPC's router, as its Elastic IP.
      await sshUntil(eip, `echo defvpc | timeout 5 nc ${CLIENT_IP} ${LISTEN_PORT}`, 30_000);
      await eventually(
        async () => (heard.some((h) => h.from === eip && h.said === 'defvpc') ? true : undefined),
        15_000,
        'the default-VPC guest to reach the listener as its Elastic IP',
        500,
      );
      t.diagnostic(
        `default-VPC guest ${privateIp} reached in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );

      // Terminated, it gives everything back: its interface and its addresses.
      await c.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await eventually(
        async () => {
          const left = await c.send(
            new DescribeNetworkInterfacesCommand({
              Filters: [{ Name: 'private-ip-address', Values: [privateIp] }],
            }),
          );
          return (left.NetworkInterfaces ?? []).length === 0 ? true : undefined;
        },
        60_000,
        "the guest's interface to go",
        500,
      );
      // Its Elastic IP is disassociated as its host lets the guest go, and can be released.
      await eventually(
        async () => {
          const [a] =
            (
              await c.send(
                new DescribeAddressesCommand({ AllocationIds: [alloc.AllocationId as string] }),
              )
            ).Addresses ?? [];
          return a && !a.AssociationId && !a.InstanceId ? true : undefined;
        },
        60_000,
        "the guest's Elastic IP to be disassociated",
        500,
      );
      await c.send(new ReleaseAddressCommand({ AllocationId: alloc.AllocationId }));
    });
  },
);
