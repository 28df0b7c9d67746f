// Several compute hosts on one flat guest segment and one public segment (multi-host
// FlatDHCP). Two hosts run in this process as main.ts runs a compute host: a compute manager
// (fake driver) with its network agent and data plane, over one network service and the bus.
// The segments are namespaces with a bridge each; every host namespace is joined to them by
// veths made inside the namespaces (`flat0`, `pub0`), which the data planes find there, as
// they would a host's NICs. Guests are busybox namespaces; a client namespace on the public
// segment plays another machine. Shown: each host is the DHCP server, gateway and metadata
// service of its own guests only; guests reach each other across hosts by private IP with
// security groups held on the receiving host; group membership follows launches and
// terminations on other hosts within a second; floating IPs live on the guest's host, are
// reachable from the client, from both hosts and from guests on both hosts, and follow the
// guest to another host; IPAM does not hand out an address another host's dnsmasq still
// leases; and a data plane whose flat interface is nowhere refuses to start before changing
// anything.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InProcessBus } from '../src/bus/index.js';
import { MetadataServer, MetadataService } from '../src/api/metadata/index.js';
import { ComputeClient, ComputeManager, InstanceMetadataReader } from '../src/compute/index.js';
import { systemContext, userContext, type RequestContext } from '../src/context.js';
import {
  FixedIpLeaseRepo,
  InstanceRepo,
  type Database,
  type InstanceRow,
} from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { ImageStore } from '../src/image/index.js';
import { silentLogger } from '../src/log.js';
import { loadConfig } from '../src/config/index.js';
import { floatingIpHook, floatingIpsToAgents } from '../src/main.js';
import { HostDataPlane, Namespace, REFUSAL_PATTERNS } from '../src/network/dataplane/index.js';
import {
  NetworkAgent,
  NetworkAgentClient,
  NetworkClient,
  NetworkManager,
} from '../src/network/index.js';
import { ServiceRunner } from '../src/service/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { needs } from './support/capabilities.js';
import { openTestDatabase, sqliteBackend } from './support/databases.js';
import { instanceRow } from './support/instances.js';
import {
  BUSYBOX,
  Cleanup,
  FakeGuest,
  httpGet,
  listen,
  rootLinks,
  tcpProbe,
  tempDir,
  uniqueName,
  waitFor,
} from './support/netns.js';

const FIXED = '10.62.0.0/24';
const GATEWAY = '10.62.0.1';
const PUBLIC = '172.29.4.0/24';
const CLIENT = '172.29.4.250';

interface Host {
  name: string;
  /** The region its metadata server names (hosts get different ones, to tell who answered). */
  region: string;
  publicAddress: string;
  agent: NetworkAgent;
  /** Guest namespaces waiting for an instance, and the instance each one plays. */
  pool: FakeGuest[];
  guests: Map<string, FakeGuest>;
}

interface Launched {
  row: InstanceRow;
  guest: FakeGuest;
  ip: string;
}

describe('several hosts on one flat network', needs('root', 'netns', 'busybox', 'arping'), () => {
  const cleanup = new Cleanup();
  let database: Database;
  let bus: InProcessBus;
  let network: NetworkClient;
  let compute: ComputeClient;
  let flatSegment: Namespace;
  let publicSegment: Namespace;
  let client: FakeGuest;
  const hosts: Host[] = [];
  let web: string;
  let app: string;
  let project: string;
  let ctx: RequestContext;
  const running: Record<'g1' | 'g2' | 'g4', Launched> = {} as never;

  async function ip(ns: Namespace, args: string[]): Promise<string> {
    return (await ns.ip(args)).stdout;
  }

  async function macOf(ns: Namespace, ifname: string): Promise<string> {
    const m = /link\/ether ([0-9a-f:]{17})/.exec(await ip(ns, ['link', 'show', 'dev', ifname]));
    return m?.[1] ?? '';
  }

  async function table(h: Host): Promise<string> {
    return (await h.agent.dataPlane.ns.exec('nft', ['list', 'table', 'inet', 'stratus'])).stdout;
  }

  async function startHost(index: number): Promise<Host> {
    const name = uniqueName('mh-host-');
    // The host namespace exists before its data plane starts, holding the links the host's
    // "NICs" are: made inside the segment namespaces, their far ends put straight into it.
    const ns = cleanup.namespace(uniqueName('st-h'));
    await ns.create();
    for (const [segment, bridge, far, near] of [
      [flatSegment, 'flat', `f${index}`, 'flat0'],
      [publicSegment, 'pub', `p${index}`, 'pub0'],
    ] as const) {
      await segment.ip([
        'link',
        'add',
        far,
        'type',
        'veth',
        'peer',
        'name',
        near,
        'netns',
        ns.name,
      ]);
      await segment.ip(['link', 'set', 'dev', far, 'master', bridge]);
      await segment.ip(['link', 'set', 'dev', far, 'up']);
    }
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const region = `mh-region-${index}`;
    const socket = path.join(dir, 'metadata.sock');
    const metadata = new MetadataServer(
      new MetadataService(new InstanceMetadataReader(database.db), region),
    );
    await metadata.listen(socket);
    cleanup.add(() => metadata.close());
    const host: Host = {
      name,
      region,
      publicAddress: `172.29.4.${200 + index}`,
      agent: undefined as never,
      pool: [],
      guests: new Map(),
    };
    for (let i = 0; i < 4; i++) host.pool.push(await new FakeGuest(cleanup).create());
    host.agent = new NetworkAgent({
      host: name,
      network: await network.hostNetwork(systemContext(), name),
      service: network,
      namespace: ns.name,
      flatInterface: 'flat0',
      publicInterface: 'pub0',
      publicAddress: `${host.publicAddress}/24`,
      leaseSeconds: 120,
      stateDir: dir,
      metadataSocket: socket,
      portFor: (args) => {
        const guest = host.pool.shift();
        if (!guest) throw new Error(`no guest namespace left on ${name}`);
        host.guests.set(args.instanceId, guest);
        return guest.port;
      },
    });
    const db = database.db;
    const manager = new ComputeManager({
      db,
      images: new ImageStore({ db, stateDir: dir }),
      host: name,
      availabilityZone: 'nova',
      driver: new FakeDriver(),
      network,
      guestPort: host.agent,
      logger: silentLogger(),
      powerSyncMs: 60_000,
    });
    const runner = new ServiceRunner({
      db,
      bus,
      logger: silentLogger(),
      host: name,
      heartbeatMs: 1000,
      downAfterMs: 60_000,
    });
    cleanup.add(() => host.agent.teardown());
    cleanup.add(() => runner.stop());
    await runner.start(host.agent.hostService(manager.service()));
    return host;
  }

  /** Places an instance on `host` in `groups` (as the scheduler would) and waits for its DHCP. */
  async function launchOn(host: Host, groups: string[]): Promise<Launched> {
    const instances = new InstanceRepo(database.db);
    const row = instanceRow({
      projectId: project,
      host: host.name,
      vmState: 'building',
      taskState: 'scheduling',
      powerState: 'nostate',
      launchedAt: null,
    });
    await instances.insert(
      [row],
      groups.map((groupId) => ({ instanceId: row.id, groupId })),
    );
    await compute.buildInstance(systemContext(), host.name, row.id);
    const active = await waitFor('the instance to run', async () => {
      const r = await instances.get(row.id);
      return r.vmState === 'active' ? r : undefined;
    });
    const guest = host.guests.get(row.id) as FakeGuest;
    const got = await guest.dhcp();
    assert.equal(got, active.privateIp, `the guest on ${host.name} gets its fixed IP by DHCP`);
    return { row: active, guest, ip: active.privateIp as string };
  }

  before(async () => {
    assert.ok(BUSYBOX);
    database = await openTestDatabase(sqliteBackend);
    cleanup.add(() => database.close());
    bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs: 10_000 });
    cleanup.add(() => bus.close());
    const agents = new NetworkAgentClient(bus);
    // The network service as main.ts wires it for a cloud with namespace data planes.
    const networkService = new NetworkManager({
      db: database.db,
      host: 'mh-network',
      logger: silentLogger(),
      fixedRange: FIXED,
      floatingRange: PUBLIC,
      leaseSeconds: 120,
      quota: {
        instances: 20,
        cores: 40,
        ramMb: 51_200,
        addresses: 5,
        securityGroups: 10,
        securityGroupRules: 20,
        keypairs: 10,
        serverGroups: 10,
        serverGroupMembers: 10,
        volumes: 10,
        gigabytes: 1000,
        snapshots: 10,
      },
      onFloatingIpChange: floatingIpHook(bus),
      onSecurityGroupsChanged: (ids) => agents.securityGroupsChanged(systemContext(), ids),
    }).service();
    const netRunner = new ServiceRunner({
      db: database.db,
      bus,
      logger: silentLogger(),
      host: 'mh-network',
      heartbeatMs: 1000,
      downAfterMs: 60_000,
    });
    cleanup.add(() => netRunner.stop());
    await netRunner.start(networkService);
    network = new NetworkClient(bus);
    compute = new ComputeClient(bus);
    project = (await new IdentityService(database.db).createProject({ name: 'multihost' })).id;
    ctx = userContext({ userId: 'mh-user', projectId: project, roles: ['member'] });

    // The two segments, each a bridge in a namespace of its own, and a client machine.
    flatSegment = cleanup.namespace(uniqueName('st-f'));
    publicSegment = cleanup.namespace(uniqueName('st-p'));
    for (const [segment, bridge] of [
      [flatSegment, 'flat'],
      [publicSegment, 'pub'],
    ] as const) {
      await segment.create();
      await segment.ip([
        'link',
        'add',
        bridge,
        'type',
        'bridge',
        'stp_state',
        '0',
        'forward_delay',
        '0',
      ]);
      await segment.ip(['link', 'set', 'dev', bridge, 'up']);
    }
    client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await publicSegment.ip([
      'link',
      'add',
      'pc',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      client.ns.name,
    ]);
    await publicSegment.ip(['link', 'set', 'dev', 'pc', 'master', 'pub']);
    await publicSegment.ip(['link', 'set', 'dev', 'pc', 'up']);
    await client.ns.ip(['addr', 'add', `${CLIENT}/24`, 'dev', 'eth0']);
    await client.ns.ip(['link', 'set', 'dev', 'eth0', 'up']);

    hosts.push(await startHost(1), await startHost(2));

    web = (await network.createSecurityGroup(ctx, { name: 'web', description: 'web' })).id;
    app = (await network.createSecurityGroup(ctx, { name: 'app', description: 'app' })).id;
    await network.authorizeSecurityGroupIngress(ctx, { name: 'app' }, [
      { protocol: 'tcp', fromPort: 22, toPort: 22, sourceGroups: [{ name: 'web' }] },
      { protocol: 'tcp', fromPort: 80, toPort: 80, ipRanges: [{ cidr: '0.0.0.0/0' }] },
    ]);
    await network.authorizeSecurityGroupIngress(ctx, { name: 'web' }, [
      { protocol: 'tcp', fromPort: 80, toPort: 80, ipRanges: [{ cidr: '0.0.0.0/0' }] },
    ]);
    const [a, b] = hosts as [Host, Host];
    running.g1 = await launchOn(a, [web]);
    running.g2 = await launchOn(b, [app]);
    running.g4 = await launchOn(b, [web]);
    for (const [g, text] of [
      [running.g1, 'g1'],
      [running.g2, 'g2'],
      [running.g4, 'g4'],
    ] as const) {
      listen(g.guest, 22, `${text}-ssh`);
      listen(g.guest, 80, `${text}-web`);
    }
    for (const g of Object.values(running)) {
      await waitFor('the listener', () => tcpProbe(g.guest.ns, '127.0.0.1', 80));
    }
  });
  after(() => cleanup.run());

  it('each host is the DHCP server, gateway and metadata service of its own guests only', async () => {
    const [a, b] = hosts as [Host, Host];
    const { g1, g2 } = running;
    const logA = a.agent.dataPlane.dnsmasqLog.text();
    const logB = b.agent.dataPlane.dnsmasqLog.text();
    const acked = (log: string, g: Launched) =>
      log.split('\n').some((l) => l.includes('DHCPACK') && l.includes(g.row.macAddress as string));
    assert.ok(acked(logA, g1) && !acked(logA, g2), "host 1's dnsmasq answers only its guest");
    assert.ok(acked(logB, g2) && !acked(logB, g1), "host 2's dnsmasq answers only its guest");
    // Both bridges carry the gateway address; each guest finds its own host's.
    for (const [h, g] of [
      [a, g1],
      [b, g2],
    ] as const) {
      assert.match(
        await ip(h.agent.dataPlane.ns, ['addr', 'show', 'dev', 'br100']),
        /10\.62\.0\.1\/24/,
      );
      await g.guest.ns.exec(BUSYBOX as string, ['ping', '-c', '1', '-W', '2', GATEWAY]);
      const neigh = await ip(g.guest.ns, ['neigh', 'show', GATEWAY]);
      assert.ok(
        neigh.includes(await macOf(h.agent.dataPlane.ns, 'br100')),
        `the guest on ${h.name} resolves the gateway to its own host's bridge: ${neigh}`,
      );
    }
    // Metadata too: each guest's request is answered by its own host's proxy and server.
    for (const [h, g] of [
      [a, g1],
      [b, g2],
    ] as const) {
      assert.equal(
        await httpGet(g.guest.ns, 'http://169.254.169.254/latest/meta-data/hostname'),
        `ip-${g.ip.replace(/\./g, '-')}.${h.region}.compute.internal`,
      );
    }
    const flat = (
      await a.agent.dataPlane.ns.exec('nft', ['list', 'table', 'bridge', 'stratus_flat'])
    ).stdout;
    assert.match(flat, /iifname "flat0" arp saddr ip 10\.62\.0\.1 drop/);
    assert.match(flat, /oifname "flat0" udp dport \{ 67, 68 \} drop/);
  });

  it('guests on different hosts reach each other by private IP; the receiving host holds their groups', async () => {
    const { g1, g2, g4 } = running;
    assert.equal(
      await tcpProbe(g1.guest.ns, g2.ip, 22, 3),
      'g2-ssh',
      'web on host 1 -> app on host 2',
    );
    assert.equal(await tcpProbe(g1.guest.ns, g2.ip, 80, 3), 'g2-web');
    assert.equal(await tcpProbe(g4.guest.ns, g1.ip, 80, 3), 'g1-web', 'host 2 -> web on host 1');
    assert.equal(await tcpProbe(g2.guest.ns, g1.ip, 22), undefined, 'web takes no ssh from app');
    assert.equal(await tcpProbe(g2.guest.ns, g4.ip, 22), undefined, 'nor on the same host');
  });

  it('a launch or a termination on one host changes group rules on the other within a second', async () => {
    const [a, b] = hosts as [Host, Host];
    const instances = new InstanceRepo(database.db);
    /** The sources host 2 admits to port 22 (its app guest's chain). */
    const members = async () =>
      [...(await table(b)).matchAll(/ip saddr (\S+) tcp dport 22 accept/g)].map((m) => m[1]);
    assert.ok((await members()).includes(running.g1.ip));

    // Measured from the moment the network service handed the address out or took it back
    // (the membership change), as it recorded it, to the rule on the other host.
    const leases = new FixedIpLeaseRepo(database.db);
    const { networkId } = await network.hostNetwork(systemContext(), a.name);
    const started = Date.now();
    const g3 = launchOn(a, [web]);
    const address = await waitFor('an address for the new instance', async () => {
      const rows = await instances.list({});
      const row = rows.find((r) => r.host === a.name && r.privateIp && r.id !== running.g1.row.id);
      return row?.privateIp ?? undefined;
    });
    await waitFor('host 2 to admit it', async () => (await members()).includes(address), 5000);
    const admitted = Date.now();
    const allocatedAt = (await leases.byAddress(networkId, address))?.allocatedAt ?? 0;
    const launched = await g3;
    assert.equal(await tcpProbe(launched.guest.ns, running.g2.ip, 22, 3), 'g2-ssh');

    const stopping = Date.now();
    await compute.terminateInstance(systemContext(), a.name, launched.row.id);
    await waitFor('host 2 to forget it', async () => !(await members()).includes(address), 5000);
    const forgotten = Date.now();
    const releasedAt = (await leases.byAddress(networkId, address))?.releasedAt ?? 0;
    console.log(
      `group membership across hosts: admitted ${admitted - allocatedAt} ms after the address was handed out (${admitted - started} ms after the build was asked for), forgotten ${forgotten - releasedAt} ms after it was given back (${forgotten - stopping} ms after the terminate was asked for)`,
    );
    assert.ok(admitted - allocatedAt < 1000, 'admitted within a second');
    assert.ok(forgotten - releasedAt < 1000, 'forgotten within a second');
    assert.ok((await members()).includes(running.g1.ip), 'the other member stays');
  });

  it('a floating IP lives on its guest’s host, is reachable from everywhere and follows the guest', async () => {
    const [a, b] = hosts as [Host, Host];
    const { g1, g2, g4 } = running;
    const floating = (await network.allocateFloatingIp(ctx, 'standard')).address;
    const ref = (g: Launched) => ({ idPrefix: g.row.id.slice(0, 8), shown: g.row.id });
    await network.associateFloatingIp(ctx, { address: floating }, ref(g2), {
      allowReassociation: true,
      fixedAddress: null,
    });
    assert.match(
      await ip(b.agent.dataPlane.ns, ['addr', 'show', 'dev', 'pub0']),
      new RegExp(`${floating}/32`),
    );
    assert.doesNotMatch(
      await ip(a.agent.dataPlane.ns, ['addr', 'show', 'dev', 'pub0']),
      new RegExp(`${floating}/`),
    );

    assert.equal(await tcpProbe(client.ns, floating, 80, 3), 'g2-web', 'from the public segment');
    assert.equal(
      await tcpProbe(b.agent.dataPlane.ns, floating, 80, 3),
      'g2-web',
      'from its own host',
    );
    assert.equal(
      await tcpProbe(a.agent.dataPlane.ns, floating, 80, 3),
      'g2-web',
      'from the other host',
    );
    assert.equal(
      await tcpProbe(g4.guest.ns, floating, 80, 3),
      'g2-web',
      'from a guest on its host',
    );
    assert.equal(
      await tcpProbe(g1.guest.ns, floating, 80, 3),
      'g2-web',
      'from a guest on the other host',
    );

    // What leaves by the public interface: as the guest's floating IP, or as its host's address.
    await client.ns.exec('nft', ['-f', '-'], {
      input: [
        'table inet probe {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    tcp dport 7000 ip saddr ${floating} counter`,
        `    tcp dport 7000 ip saddr ${a.publicAddress} counter`,
        '  }',
        '}',
      ].join('\n'),
    });
    listen(client, 7000, 'client');
    await waitFor('the client listener', () => tcpProbe(client.ns, '127.0.0.1', 7000));
    assert.equal(await tcpProbe(g2.guest.ns, CLIENT, 7000, 3), 'client');
    assert.equal(await tcpProbe(g1.guest.ns, CLIENT, 7000, 3), 'client');
    const counted = (await client.ns.exec('nft', ['list', 'table', 'inet', 'probe'])).stdout;
    for (const source of [floating, a.publicAddress]) {
      const m = new RegExp(`ip saddr ${source.replace(/\./g, '\\.')} counter packets (\\d+)`).exec(
        counted,
      );
      assert.ok(Number(m?.[1] ?? 0) > 0, `traffic came from ${source}: ${counted}`);
    }

    // Re-associated to a guest on the other host: the old host lets go, the new one announces it.
    const macB = await macOf(b.agent.dataPlane.ns, 'pub0');
    const macA = await macOf(a.agent.dataPlane.ns, 'pub0');
    assert.ok((await ip(client.ns, ['neigh', 'show', floating])).includes(macB));
    const moved = Date.now();
    await network.associateFloatingIp(ctx, { address: floating }, ref(g1), {
      allowReassociation: true,
      fixedAddress: null,
    });
    await waitFor(
      "the client's neighbour entry to follow",
      async () => (await ip(client.ns, ['neigh', 'show', floating])).includes(macA),
      1000,
    );
    console.log(
      `floating IP moved between hosts: the client's neighbour entry followed in ${Date.now() - moved} ms`,
    );
    assert.doesNotMatch(
      await ip(b.agent.dataPlane.ns, ['addr', 'show', 'dev', 'pub0']),
      new RegExp(`${floating}/`),
    );
    assert.equal(
      await tcpProbe(client.ns, floating, 80, 3),
      'g1-web',
      'the client reaches the guest on host 1',
    );
    assert.equal(
      await tcpProbe(g4.guest.ns, floating, 80, 3),
      'g1-web',
      'and so does a guest on host 2',
    );
    assert.equal(
      await tcpProbe(a.agent.dataPlane.ns, floating, 80, 3),
      'g1-web',
      'and host 1 itself',
    );
    // A guest with a floating IP of its own reaches it from the other host as that address.
    const own = (await network.allocateFloatingIp(ctx, 'standard')).address;
    await network.associateFloatingIp(ctx, { address: own }, ref(g2), {
      allowReassociation: true,
      fixedAddress: null,
    });
    await g1.guest.ns.exec('nft', ['-f', '-'], {
      input: `table inet probe { chain input { type filter hook input priority 0; policy accept; tcp dport 80 ip saddr ${own} counter; }; }\n`,
    });
    assert.equal(await tcpProbe(g2.guest.ns, floating, 80, 3), 'g1-web');
    const seen = (await g1.guest.ns.exec('nft', ['list', 'table', 'inet', 'probe'])).stdout;
    assert.ok(Number(/counter packets (\d+)/.exec(seen)?.[1] ?? 0) > 0, `g1 saw ${own}: ${seen}`);
    await network.disassociateFloatingIp(ctx, { address: own });
    await network.disassociateFloatingIp(ctx, { address: floating });
    assert.equal(await tcpProbe(client.ns, floating, 80), undefined, 'gone after disassociate');
  });

  it('does not hand out an address another host’s dnsmasq still leases', async () => {
    const [a, b] = hosts as [Host, Host];
    const instances = new InstanceRepo(database.db);
    const leases = new FixedIpLeaseRepo(database.db);
    const { networkId } = await network.hostNetwork(systemContext(), a.name);
    /** An instance on `host` with its address and port, as the compute host's build makes it. */
    async function place(host: Host) {
      const row = instanceRow({ projectId: project, host: host.name });
      await instances.insert([row], []);
      const net = await network.allocateForInstance(systemContext(), row.id, host.name);
      await instances.update(row.id, { privateIp: net.address, macAddress: net.macAddress });
      await host.agent.plugInstance({
        instanceId: row.id,
        mac: net.macAddress,
        fixedIp: net.address,
        hostname: `x-${row.id.slice(0, 8)}`,
      });
      const guest = host.guests.get(row.id) as FakeGuest;
      return { id: row.id, net, got: await guest.dhcp() };
    }

    const x = await place(a);
    assert.equal(x.got, x.net.address);
    await waitFor(
      'the lease on host 1',
      async () => (await leases.byAddress(networkId, x.net.address))?.leasedAt,
    );
    const knownTo = async (h: Host) =>
      (await network.knownLeases(systemContext(), h.name)).map((l) => l.ip);
    assert.ok((await knownTo(a)).includes(x.net.address));
    assert.ok(
      !(await knownTo(b)).includes(x.net.address),
      "host 2's dnsmasq is not handed host 1's lease",
    );
    // Host 2's dnsmasq restarts (the agent restarted): it takes back only its own leases.
    await b.agent.stop();
    await b.agent.start();

    // The instance ends without host 1's dnsmasq hearing of it: its lease stays live there.
    await a.agent.dataPlane.unplugGuest(x.id, { releaseLease: false });
    await network.deallocateForInstance(systemContext(), x.id, a.name);
    await instances.update(x.id, { vmState: 'deleted', terminatedAt: Date.now() });
    // Host 2 reporting that lease gone means nothing: it never held it.
    await network.recordLeaseEvent(systemContext(), b.name, {
      action: 'del',
      mac: x.net.macAddress,
      ip: x.net.address,
      hostname: null,
      expiresAt: null,
    });
    assert.ok(
      ((await leases.byAddress(networkId, x.net.address))?.reusableAt ?? 0) > Date.now() + 60_000,
    );

    const y = await place(b);
    assert.notEqual(y.net.address, x.net.address, 'host 1 still leases it');
    assert.equal(y.got, y.net.address);

    // Host 1's dnsmasq lets go of it: now host 2's guest may have it.
    await a.agent.dataPlane.releaseLease(x.net.address, x.net.macAddress);
    await waitFor('the address to be free', async () => {
      const row = await leases.byAddress(networkId, x.net.address);
      return row !== undefined && row.reusableAt <= Date.now();
    });
    const z = await place(b);
    assert.equal(z.net.address, x.net.address, 'the lowest free address is the one host 1 let go');
    assert.equal(z.got, x.net.address, "and host 2's dnsmasq gives it to its guest");
    const log = b.agent.dataPlane.dnsmasqLog.text();
    assert.deepEqual(
      log.split('\n').filter((l) => REFUSAL_PATTERNS.some((p) => p.test(l))),
      [],
    );
  });

  it('refuses to start, naming the interface, when the flat interface is nowhere, before changing anything', async () => {
    const missing = uniqueName('stx').slice(0, 11);
    const before = await rootLinks();
    assert.ok(!before.includes(missing));
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const dp = new HostDataPlane({
      namespace: uniqueName(),
      bridge: 'br100',
      network: {
        cidr: FIXED,
        gateway: GATEWAY,
        dhcpStart: '10.62.0.2',
        dhcpEnd: '10.62.0.254',
        dns: '',
      },
      leaseSeconds: 120,
      stateDir: dir,
      leases: { onEvent: async () => undefined, knownLeases: async () => [] },
      flatInterface: missing,
    });
    cleanup.add(() => dp.teardown());
    await assert.rejects(dp.start(), (err: Error) => {
      assert.match(err.message, new RegExp(`'${missing}' \\(--flat-interface\\) is neither in`));
      return true;
    });
    assert.equal(dp.ns.exists(), false, 'no namespace was made');
    assert.deepEqual(await rootLinks(), before, 'nothing changed in the root namespace');
  });
});

describe('who sends floating IPs to the hosts', () => {
  const config = (flags: Record<string, string>) =>
    loadConfig({ env: {}, flags: { 'state-dir': '/tmp/stratus-unused', ...flags } });

  it('a controller sends them for qemu hosts, whatever its own machine can run', () => {
    const user = { mode: 'user' as const, why: 'no root here' };
    assert.equal(floatingIpsToAgents(config({ virt: 'qemu' }), ['network', 'api'], user), true);
    assert.equal(floatingIpsToAgents(config({ virt: 'fake' }), ['network'], user), false);
    assert.equal(
      floatingIpsToAgents(config({ virt: 'qemu', 'data-plane': 'user' }), ['network'], user),
      false,
    );
  });

  it('beside a compute service, that host’s own data plane decides (the all-in-one)', () => {
    const all = ['network', 'scheduler', 'compute', 'api'] as const;
    assert.equal(floatingIpsToAgents(config({ virt: 'qemu' }), all, { mode: 'namespace' }), true);
    assert.equal(
      floatingIpsToAgents(config({ virt: 'qemu' }), all, { mode: 'user', why: 'no root' }),
      false,
    );
  });
});
