// A project router without an external gateway, and a network with two subnets, on the wire
// (the overlay data plane, without the network model: the specs are written here as the
// network plan hands them over). Two simulated hosts are namespaces on an underlay segment;
// host 0 is the network host (DHCP, metadata, routers) and has NO public interface: a router
// without a gateway needs none. Project network A has one subnet, network B two; guests
// (busybox namespaces) are on both hosts. Shown: DHCP answers each guest from its own subnet,
// the further subnet with its own gateway; the router routes between its subnets across
// hosts (A to B, and B's two subnets to each other); security groups still filter what
// reaches a port; taking an interface off the router, then the router, takes the route away.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Namespace,
  OverlayHost,
  type ProjectNetworkSpec,
  type RouterSpec,
} from '../src/network/dataplane/index.js';
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

interface Guest {
  name: string;
  host: 0 | 1;
  networkId: string;
  ip: string;
  gateway: string;
  mac: string;
  portId: string;
  guest: FakeGuest;
}

describe(
  'a router without a gateway and a network with two subnets (VXLAN overlay)',
  needs('root', 'netns', 'busybox'),
  () => {
    const cleanup = new Cleanup();
    const hosts: OverlayHost[] = [];
    let netA: ProjectNetworkSpec;
    let netB: ProjectNetworkSpec;
    let router: RouterSpec;
    const guests: Record<'a1' | 'b1' | 'b2', Guest> = {} as never;

    async function ping(g: Guest, ip: string): Promise<boolean> {
      try {
        await g.guest.ns.exec('timeout', [
          '10',
          BUSYBOX as string,
          'ping',
          '-c',
          '1',
          '-W',
          '2',
          ip,
        ]);
        return true;
      } catch {
        return false;
      }
    }

    before(async () => {
      const dir = tempDir();
      fs.chmodSync(dir, 0o755);
      cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
      const underlay = cleanup.namespace(uniqueName('st-ul'));
      await underlay.create();
      await underlay.ip(['link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
      await underlay.ip(['link', 'set', 'br0', 'up']);
      for (const i of [0, 1] as const) {
        const ns = cleanup.namespace(uniqueName('st-ov'));
        await ns.create();
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
          ns.name,
        ]);
        await underlay.ip(['link', 'set', `u${i}`, 'master', 'br0', 'up']);
        const h = new OverlayHost({
          host: `host${i}`,
          namespace: ns.name,
          underlayInterface: 'ul0',
          underlayAddress: `10.99.0.${i + 1}/24`,
          serveNetworks: i === 0,
          leaseSeconds: 120,
          stateDir: path.join(dir, `host${i}`),
        });
        cleanup.add(() => h.teardown());
        await h.start();
        hosts.push(h);
      }
      for (const h of hosts) {
        await h.setPeers(hosts.map((o, i) => ({ host: `host${i}`, underlayIp: o.underlayIp })));
      }
      const make = async (
        name: 'a1' | 'b1' | 'b2',
        host: 0 | 1,
        networkId: string,
        ip: string,
        gateway: string,
        mac: string,
      ): Promise<void> => {
        const guest = await new FakeGuest(cleanup, uniqueName('st-g')).create();
        guests[name] = { name, host, networkId, ip, gateway, mac, portId: randomUUID(), guest };
      };
      const a = `net-a-${randomUUID().slice(0, 8)}`;
      const b = `net-b-${randomUUID().slice(0, 8)}`;
      await make('a1', 1, a, '10.1.0.11', '10.1.0.1', 'fa:16:3e:1a:00:11');
      await make('b1', 0, b, '10.2.0.11', '10.2.0.1', 'fa:16:3e:1b:00:11');
      // On B's second subnet, on the other host.
      await make('b2', 1, b, '10.2.1.12', '10.2.1.1', 'fa:16:3e:1b:01:12');
      const port = (g: Guest) => ({ mac: g.mac, ip: g.ip, hostname: g.name });
      netA = {
        networkId: a,
        vni: 2101,
        cidr: '10.1.0.0/24',
        gatewayIp: '10.1.0.1',
        dhcpIp: '10.1.0.2',
        mtu: 1450,
        dhcpRange: { start: '10.1.0.10', end: '10.1.0.200' },
        ports: [port(guests.a1)],
      };
      netB = {
        networkId: b,
        vni: 2102,
        cidr: '10.2.0.0/24',
        gatewayIp: '10.2.0.1',
        dhcpIp: '10.2.0.2',
        mtu: 1450,
        dhcpRange: { start: '10.2.0.10', end: '10.2.0.200' },
        ports: [port(guests.b1), port(guests.b2)],
        moreSubnets: [
          {
            cidr: '10.2.1.0/24',
            gatewayIp: '10.2.1.1',
            dhcpIp: '10.2.1.2',
            dhcpRange: { start: '10.2.1.10', end: '10.2.1.200' },
          },
        ],
      };
      router = {
        routerId: `router-${randomUUID()}`,
        interfaces: [
          { networkId: a, gatewayIp: '10.1.0.1', cidr: '10.1.0.0/24' },
          { networkId: b, gatewayIp: '10.2.0.1', cidr: '10.2.0.0/24' },
          { networkId: b, gatewayIp: '10.2.1.1', cidr: '10.2.1.0/24' },
        ],
        floatingIps: [],
      };
      for (const [i, h] of hosts.entries()) {
        await h.ensureNetwork(netA);
        await h.ensureNetwork(netB);
        for (const g of Object.values(guests)) {
          if (g.host !== i) continue;
          await h.plugPort({
            networkId: g.networkId,
            portId: g.portId,
            mac: g.mac,
            fixedIp: g.ip,
            port: g.guest.port,
          });
        }
      }
      await hosts[0]?.ensureRouter(router);
      for (const g of Object.values(guests)) listen(g.guest, 7000, g.name);
    });

    after(() => cleanup.run());

    it('gives each guest its address by DHCP from its own subnet, with that subnet as its gateway', async () => {
      for (const g of Object.values(guests)) {
        assert.equal(await g.guest.dhcp(6), g.ip, `${g.name} gets ${g.ip}`);
        const routes = (await g.guest.ns.ip(['-4', 'route', 'show', 'default'])).stdout;
        assert.match(routes, new RegExp(`via ${g.gateway.replace(/\./g, '\\.')} `), g.name);
      }
    });

    it('routes between its subnets across hosts, with no public leg', async () => {
      const ns = new Namespace(hosts[0]?.routerNamespace(router.routerId) as string);
      assert.doesNotMatch((await ns.ip(['-o', 'link', 'show'])).stdout, /qg0/);
      assert.ok(await ping(guests.a1, guests.b1.ip), 'a1 (host 1, A) pings b1 (host 0, B)');
      assert.ok(await ping(guests.b1, guests.a1.ip), 'and back');
      assert.ok(await ping(guests.a1, guests.b2.ip), 'a1 pings b2 (B, second subnet)');
      assert.ok(await ping(guests.b2, guests.b1.ip), "B's two subnets reach each other");
      assert.equal(await tcpProbe(guests.a1.guest.ns, guests.b1.ip, 7000, 3), 'b1');
      assert.ok(await ping(guests.a1, '10.2.1.1'), "the router's address on B's second subnet");
    });

    it('still filters a port by its security groups', async () => {
      const b1 = guests.b1;
      const allow = (cidr: string) => ({
        ruleId: randomUUID(),
        groupId: 'g',
        protocol: 'tcp' as const,
        fromPort: 7000,
        toPort: 7000,
        cidr,
        sourceGroupId: null,
        sources: [cidr],
      });
      const overlay = hosts[0] as OverlayHost;
      await overlay.setPortSecurity(b1.portId, { ingress: [allow('10.2.1.0/24')], egress: [] });
      assert.equal(await tcpProbe(guests.b2.guest.ns, b1.ip, 7000, 3), 'b1', 'allowed subnet');
      assert.equal(await tcpProbe(guests.a1.guest.ns, b1.ip, 7000, 2), undefined, 'not from A');
      await overlay.setPortSecurity(b1.portId, undefined);
      assert.equal(await tcpProbe(guests.a1.guest.ns, b1.ip, 7000, 3), 'b1');
    });

    it('takes the route away when an interface, then the router, is removed', async () => {
      const h = hosts[0] as OverlayHost;
      await h.ensureRouter({
        ...router,
        interfaces: router.interfaces.filter((i) => i.networkId !== netA.networkId),
      });
      assert.equal(await ping(guests.a1, guests.b1.ip), false, 'A no longer reaches B');
      assert.ok(await ping(guests.b2, guests.b1.ip), "B's subnets still reach each other");
      await h.removeRouter(router.routerId);
      assert.equal(await ping(guests.b2, guests.b1.ip), false, 'nor, without the router, B');
    });
  },
);
