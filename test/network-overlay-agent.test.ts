// The network agent with an overlay: two hosts' agents on one bus, each with its flat data
// plane and its overlay (underlay segment between them made here). The network service is a
// stand-in that names the project-network port of some instances, as the network model will;
// the project network and the peers reach the hosts over the bus as the service will send
// them. Shown: an instance the service places on a project network is plugged into the
// overlay, one it does not is plugged into the flat network as before, on the same host and
// with the same address range; project guests reach each other across hosts and not the flat
// guest with their own address; a host without a public interface refuses a router over the
// bus with the domain's error; unplugging removes the port.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InProcessBus } from '../src/bus/index.js';
import { systemContext } from '../src/context.js';
import { silentLogger } from '../src/log.js';
import type { ProjectNetworkSpec } from '../src/network/dataplane/index.js';
import {
  Namespace,
  NetworkAgent,
  NetworkAgentClient,
  type PlugArgs,
  type OverlayPort,
} from '../src/network/index.js';
import { needs } from './support/capabilities.js';
import {
  BUSYBOX,
  Cleanup,
  FakeGuest,
  listen,
  tcpProbe,
  tempDir,
  uniqueName,
} from './support/netns.js';

const NET: ProjectNetworkSpec = {
  networkId: 'net-agent-1',
  vni: 2001,
  cidr: '10.0.0.0/24',
  gatewayIp: '10.0.0.1',
  dhcpIp: '10.0.0.2',
  mtu: 1450,
  dhcpRange: { start: '10.0.0.10', end: '10.0.0.200' },
  ports: [
    { mac: 'fa:16:3e:20:00:11', ip: '10.0.0.11', hostname: 'p0' },
    { mac: 'fa:16:3e:20:00:12', ip: '10.0.0.12', hostname: 'p1' },
  ],
};

describe('the network agent with project networks', needs('root', 'netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  const agents: NetworkAgent[] = [];
  let client: NetworkAgentClient;
  const ctx = systemContext();
  /** instance -> its project port (what the network model would answer). */
  const projectPorts = new Map<string, OverlayPort>();
  /** instance -> the namespace standing in for its VM. */
  const vms = new Map<string, FakeGuest>();
  const plugs: Record<'p0' | 'p1' | 'f1', PlugArgs> = {
    p0: { instanceId: 'inst-p0', mac: 'fa:16:3e:20:00:11', fixedIp: '10.0.0.11', hostname: 'p0' },
    p1: { instanceId: 'inst-p1', mac: 'fa:16:3e:20:00:12', fixedIp: '10.0.0.12', hostname: 'p1' },
    // On the flat network, with p0's address.
    f1: { instanceId: 'inst-f1', mac: 'fa:16:3e:30:00:11', fixedIp: '10.0.0.11', hostname: 'f1' },
  };
  const plugged: Record<string, { namespace: string; ifname: string }> = {};

  before(async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const bus = new InProcessBus({ logger: silentLogger(), callTimeoutMs: 20_000 });
    cleanup.add(() => bus.close());
    client = new NetworkAgentClient(bus);
    const underlay = cleanup.namespace(uniqueName('st-ul'));
    await underlay.create();
    await underlay.ip(['link', 'add', 'br0', 'type', 'bridge']);
    await underlay.ip(['link', 'set', 'br0', 'up']);
    projectPorts.set('inst-p0', {
      networkId: NET.networkId,
      portId: 'a0a0a0a0a0a0',
      mac: plugs.p0.mac,
      fixedIp: plugs.p0.fixedIp,
    });
    projectPorts.set('inst-p1', {
      networkId: NET.networkId,
      portId: 'b1b1b1b1b1b1',
      mac: plugs.p1.mac,
      fixedIp: plugs.p1.fixedIp,
    });
    for (const name of ['p0', 'p1', 'f1'] as const) {
      vms.set(plugs[name].instanceId, await new FakeGuest(cleanup).create());
    }
    for (const i of [0, 1]) {
      const overlayNs = cleanup.namespace(uniqueName('st-ov'));
      await overlayNs.create();
      await underlay.ip([
        'link',
        'add',
        `u${i}`,
        'type',
        'veth',
        'peer',
        'name',
        'ul0',
        'netns',
        overlayNs.name,
      ]);
      await underlay.ip(['link', 'set', `u${i}`, 'master', 'br0', 'up']);
      const flatNs = uniqueName();
      cleanup.add(() => new Namespace(flatNs).destroy());
      const agent = new NetworkAgent({
        host: `ov-agent-${i}`,
        // The flat network has the project network's range: they never meet.
        network: {
          cidr: '10.0.0.0/24',
          gateway: '10.0.0.1',
          dhcpStart: '10.0.0.2',
          dhcpEnd: '10.0.0.254',
          dns: '',
        },
        service: {
          recordLeaseEvent: async () => undefined,
          knownLeases: async () => [],
          rulesForInstances: async () => [],
          projectPortOf: async (_ctx, instanceId) => projectPorts.get(instanceId),
        },
        namespace: flatNs,
        leaseSeconds: 120,
        stateDir: path.join(dir, `flat${i}`),
        portFor: (args) => (vms.get(args.instanceId) as FakeGuest).port,
        overlay: {
          namespace: overlayNs.name,
          underlayInterface: 'ul0',
          underlayAddress: `10.98.0.${i + 1}/24`,
          serveNetworks: i === 0,
          stateDir: path.join(dir, `overlay${i}`),
        },
      });
      cleanup.add(() => agent.teardown());
      await agent.start();
      for (const t of agent.topics()) {
        const sub = await bus.serve(t.topic, t.handler, { fanout: t.fanout ?? false });
        cleanup.add(() => sub.close());
      }
      agents.push(agent);
    }
    const peers = agents.map((a, i) => ({
      host: `ov-agent-${i}`,
      underlayIp: a.overlay?.underlayIp as string,
    }));
    for (const i of [0, 1]) {
      await client.setOverlayPeers(ctx, `ov-agent-${i}`, peers);
      await client.ensureProjectNetwork(ctx, `ov-agent-${i}`, NET);
    }
    const [a0, a1] = agents as [NetworkAgent, NetworkAgent];
    plugged.p0 = await a0.plugInstance(plugs.p0);
    plugged.p1 = await a1.plugInstance(plugs.p1);
    plugged.f1 = await a1.plugInstance(plugs.f1);
  });

  after(() => cleanup.run());

  it('plugs an instance on a project network into the overlay, and others into the flat network', () => {
    const [a0, a1] = agents as [NetworkAgent, NetworkAgent];
    assert.equal(plugged.p0?.namespace, a0.overlay?.ns.name);
    assert.equal(plugged.p1?.namespace, a1.overlay?.ns.name);
    assert.equal(plugged.f1?.namespace, a1.dataPlane.namespace);
  });

  it("gives project and flat guests their addresses from their own networks' DHCP", async () => {
    for (const name of ['p0', 'p1', 'f1'] as const) {
      const got = await vms.get(plugs[name].instanceId)?.dhcp(6);
      assert.equal(got, plugs[name].fixedIp, `${name} gets ${plugs[name].fixedIp}`);
    }
  });

  it('lets project guests reach each other across hosts, never the flat guest with the same address', async () => {
    const p0 = vms.get('inst-p0') as FakeGuest;
    const p1 = vms.get('inst-p1') as FakeGuest;
    const f1 = vms.get('inst-f1') as FakeGuest;
    listen(p0, 7000, 'p0');
    listen(f1, 7000, 'f1');
    await p1.ns.exec('timeout', [
      '10',
      BUSYBOX as string,
      'ping',
      '-c',
      '1',
      '-W',
      '3',
      '10.0.0.11',
    ]);
    // p1 sits on the same host as f1, which holds 10.0.0.11 on the flat network.
    assert.equal(await tcpProbe(p1.ns, '10.0.0.11', 7000, 3), 'p0');
    await assert.rejects(
      f1.ns.exec('timeout', ['5', BUSYBOX as string, 'ping', '-c', '1', '-W', '2', '10.0.0.12']),
    );
  });

  it("refuses a router on a host that cannot carry one, in the domain's terms, over the bus", async () => {
    await assert.rejects(
      client.ensureProjectRouter(ctx, 'ov-agent-1', {
        routerId: 'router-x',
        externalIp: '172.29.8.10',
        externalPrefix: 24,
        interfaces: [{ networkId: NET.networkId, gatewayIp: '10.0.0.1', cidr: NET.cidr }],
        floatingIps: [],
      }),
      (err: Error & { kind?: string }) =>
        err.kind === 'invalid' && /cannot carry router/.test(err.message),
    );
  });

  it('removes the port when the instance is unplugged', async () => {
    const a1 = agents[1] as NetworkAgent;
    await a1.unplugInstance({ instanceId: 'inst-p1' });
    const links = (await (a1.overlay as { ns: Namespace }).ns.ip(['-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, new RegExp(plugged.p1?.ifname as string));
  });
});
