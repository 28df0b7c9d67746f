// Project networks isolated on the wire across hosts (the overlay data plane, without the
// network model: the specs are written here as the model would hand them over). Two
// simulated hosts are namespaces joined by an underlay segment (a bridge in a namespace of
// its own); host 1 is also the network host, with DHCP, metadata and the routers, and a leg
// on a public segment where a client namespace plays another machine. Two projects each have
// a network with the SAME CIDR, and guests (busybox namespaces) on both hosts. Shown: DHCP
// from the network host answers guests on both hosts with their fixed IPs and the VXLAN MTU;
// same-project guests reach each other across hosts, and the guest behind an address is the
// one of the asker's project; guests of the other project are not reachable by ping or ARP;
// floating IPs reach guests from the client; guests reach the client by SNAT as their
// router (or as their floating IP); a port's security groups filter what reaches it and what
// it sends; metadata answers each guest with its own data through
// the network's DHCP namespace or through the router; realising the same specs again
// changes nothing; and teardown leaves nothing behind. The metadata backend is a stand-in
// that answers by (network id, address): the real metadata service does not read the
// network id yet.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
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
  httpGet,
  listen,
  rootLinks,
  tcpProbe,
  tempDir,
  uniqueName,
  waitFor,
} from './support/netns.js';

const CIDR = '10.0.0.0/24';
const CLIENT = '172.29.9.250';
const SNAT_PORT = 7100;

interface Guest {
  name: string;
  project: 'a' | 'b';
  host: 0 | 1;
  ip: string;
  mac: string;
  portId: string;
  instanceId: string;
  /** Whether its DHCP client asks for (and applies) the classless routes and the MTU. */
  routes: boolean;
  guest: FakeGuest;
}

function network(project: 'a' | 'b', vni: number, ports: Guest[]): ProjectNetworkSpec {
  return {
    networkId: `net-${project}-${vni}`,
    vni,
    cidr: CIDR,
    gatewayIp: '10.0.0.1',
    dhcpIp: '10.0.0.2',
    mtu: 1450,
    dhcpRange: { start: '10.0.0.10', end: '10.0.0.200' },
    ports: ports.map((g) => ({ mac: g.mac, ip: g.ip, hostname: g.name })),
  };
}

/** A udhcpc script that applies the classless routes (option 121) and the MTU (option 26). */
function routesScript(dir: string): string {
  return `#!/bin/sh
BB=${BUSYBOX}
case "$1" in
  deconfig) $BB ip addr flush dev "$interface"; $BB ip link set "$interface" up ;;
  bound|renew)
    $BB ip addr flush dev "$interface"
    $BB ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$mtu" ]; then $BB ip link set "$interface" mtu "$mtu"; fi
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$1" = 0.0.0.0/0 ]; then $BB ip route replace default via "$2" dev "$interface"
        else $BB ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    fi
    echo "$ip" > ${dir}/ip
    echo "$mtu" > ${dir}/mtu
    echo "$staticroutes" > ${dir}/routes ;;
esac
exit 0
`;
}

describe(
  'project networks across hosts (VXLAN overlay)',
  needs('root', 'netns', 'busybox', 'arping'),
  () => {
    const cleanup = new Cleanup();
    const hosts: OverlayHost[] = [];
    const hostOptions: ConstructorParameters<typeof OverlayHost>[0][] = [];
    let client: Namespace;
    let linksBefore: string[];
    let netA: ProjectNetworkSpec;
    let netB: ProjectNetworkSpec;
    let routerA: RouterSpec;
    let routerB: RouterSpec;
    const guests: Record<'a1' | 'a2' | 'b1' | 'b2', Guest> = {} as never;
    /** What the stand-in metadata backend saw: network id and caller of each request. */
    const asked: { network: string | undefined; caller: string | undefined }[] = [];

    async function sh(ns: Namespace, cmd: string, args: string[]): Promise<boolean> {
      try {
        await ns.exec('timeout', ['10', cmd, ...args]);
        return true;
      } catch {
        return false;
      }
    }
    const ping = (g: Guest, ip: string) =>
      sh(g.guest.ns, BUSYBOX as string, ['ping', '-c', '1', '-W', '2', ip]);
    const arping = (g: Guest, ip: string) =>
      sh(g.guest.ns, BUSYBOX as string, ['arping', '-c', '2', '-w', '3', '-I', 'eth0', ip]);

    async function realise(): Promise<void> {
      for (const [i, h] of hosts.entries()) {
        await h.ensureNetwork(netA);
        await h.ensureNetwork(netB);
        for (const g of Object.values(guests)) {
          if (g.host !== i) continue;
          await h.plugPort({
            networkId: g.project === 'a' ? netA.networkId : netB.networkId,
            portId: g.portId,
            mac: g.mac,
            fixedIp: g.ip,
            port: g.guest.port,
          });
        }
      }
      await hosts[0]?.ensureRouter(routerA);
      await hosts[0]?.ensureRouter(routerB);
    }

    /** What the overlay made, as the kernel shows it, for comparing two realisations. */
    async function snapshot(): Promise<string> {
      const parts: string[] = [];
      for (const h of hosts) {
        parts.push(
          (await h.ns.ip(['-o', 'link', 'show'])).stdout.replace(/ link\/ether [0-9a-f:]+/g, ''),
        );
        parts.push(
          (await h.ns.exec('bridge', ['fdb', 'show'])).stdout
            .split('\n')
            .filter((l) => l.startsWith('00:00:00:00:00:00'))
            .sort()
            .join('\n'),
        );
        parts.push((await h.ns.exec('nft', ['list', 'ruleset'])).stdout);
      }
      for (const r of [routerA, routerB]) {
        const ns = new Namespace(hosts[0]?.routerNamespace(r.routerId) as string);
        parts.push((await ns.ip(['-o', '-4', 'addr', 'show'])).stdout);
        parts.push((await ns.exec('nft', ['list', 'ruleset'])).stdout);
      }
      return parts.join('\n---\n');
    }

    before(async () => {
      linksBefore = await rootLinks();
      const dir = tempDir();
      // dnsmasq drops its privileges and reads its hosts file below this directory.
      fs.chmodSync(dir, 0o755);
      cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));

      // The stand-in metadata backend: an instance id per (network, fixed IP).
      const ids = new Map<string, string>();
      const socket = path.join(dir, 'metadata.sock');
      const server = http.createServer((req, res) => {
        const network = req.headers['x-stratus-network-id'] as string | undefined;
        const caller = (req.headers['x-forwarded-for'] as string | undefined)
          ?.split(',')[0]
          ?.trim();
        asked.push({ network, caller });
        const id = ids.get(`${network}/${caller}`);
        if (req.url !== '/latest/meta-data/instance-id' || id === undefined) {
          res.writeHead(404).end('not found\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end(id);
      });
      await new Promise<void>((r) => server.listen(socket, r));
      cleanup.add(() => new Promise<void>((r) => server.close(() => r())));

      // The segments, and the hosts' namespaces with their "NICs" made from the segment side.
      const underlay = cleanup.namespace(uniqueName('st-ul'));
      const pub = cleanup.namespace(uniqueName('st-pb'));
      for (const seg of [underlay, pub]) {
        await seg.create();
        await seg.ip([
          'link',
          'add',
          'br0',
          'type',
          'bridge',
          'stp_state',
          '0',
          'forward_delay',
          '0',
        ]);
        await seg.ip(['link', 'set', 'br0', 'up']);
      }
      const plug = async (seg: Namespace, far: string, target: Namespace, near: string) => {
        await seg.ip([
          'link',
          'add',
          far,
          'type',
          'veth',
          'peer',
          'name',
          near,
          'netns',
          target.name,
        ]);
        await seg.ip(['link', 'set', far, 'master', 'br0', 'up']);
      };
      for (const i of [0, 1] as const) {
        const ns = cleanup.namespace(uniqueName('st-ov'));
        await ns.create();
        await plug(underlay, `u${i}`, ns, 'ul0');
        if (i === 0) await plug(pub, 'p0', ns, 'pub1');
        const state = path.join(dir, `host${i}`);
        const options = {
          host: `host${i}`,
          namespace: ns.name,
          underlayInterface: 'ul0',
          underlayAddress: `10.99.0.${i + 1}/24`,
          publicInterface: i === 0 ? 'pub1' : undefined,
          serveNetworks: i === 0,
          metadataSocket: i === 0 ? socket : undefined,
          leaseSeconds: 120,
          stateDir: state,
        };
        hostOptions.push(options);
        const h = new OverlayHost(options);
        cleanup.add(() => h.teardown());
        await h.start();
        hosts.push(h);
      }
      for (const h of hosts) {
        await h.setPeers(hosts.map((o, i) => ({ host: `host${i}`, underlayIp: o.underlayIp })));
      }
      client = cleanup.namespace(uniqueName('st-cl'));
      await client.create();
      await plug(pub, 'c0', client, 'eth0');
      await client.ip(['addr', 'add', `${CLIENT}/24`, 'dev', 'eth0']);
      await client.ip(['link', 'set', 'eth0', 'up']);

      const make = async (
        name: 'a1' | 'a2' | 'b1' | 'b2',
        host: 0 | 1,
        ip: string,
        mac: string,
        routes: boolean,
      ): Promise<void> => {
        const guest = await new FakeGuest(cleanup, uniqueName('st-g')).create();
        const g: Guest = {
          name,
          project: name[0] as 'a' | 'b',
          host,
          ip,
          mac,
          portId: randomUUID(),
          instanceId: `i-${name}-${randomUUID().slice(0, 8)}`,
          routes,
          guest,
        };
        guests[name] = g;
      };
      // a1 and b1 share an address, on different projects' networks.
      await make('a1', 0, '10.0.0.11', 'fa:16:3e:0a:00:11', true);
      await make('a2', 1, '10.0.0.12', 'fa:16:3e:0a:00:12', true);
      await make('b1', 0, '10.0.0.11', 'fa:16:3e:0b:00:11', true);
      // b2 takes only the router option, as the project's guest image does: its metadata
      // requests go to its router.
      await make('b2', 1, '10.0.0.13', 'fa:16:3e:0b:00:13', false);

      netA = network('a', 1001, [guests.a1, guests.a2]);
      netB = network('b', 1002, [guests.b1, guests.b2]);
      for (const g of Object.values(guests)) {
        ids.set(`${g.project === 'a' ? netA.networkId : netB.networkId}/${g.ip}`, g.instanceId);
      }
      routerA = {
        routerId: `router-a-${randomUUID()}`,
        externalIp: '172.29.9.10',
        externalPrefix: 24,
        interfaces: [{ networkId: netA.networkId, gatewayIp: '10.0.0.1', cidr: CIDR }],
        floatingIps: [
          { floatingIp: '172.29.9.20', fixedIp: '10.0.0.12', networkId: netA.networkId },
        ],
      };
      routerB = {
        routerId: `router-b-${randomUUID()}`,
        externalIp: '172.29.9.11',
        externalPrefix: 24,
        interfaces: [{ networkId: netB.networkId, gatewayIp: '10.0.0.1', cidr: CIDR }],
        floatingIps: [
          { floatingIp: '172.29.9.21', fixedIp: '10.0.0.13', networkId: netB.networkId },
        ],
      };
      await realise();

      for (const g of Object.values(guests)) listen(g.guest, 7000, g.name);
      const snat = spawn(
        'ip',
        [
          'netns',
          'exec',
          client.name,
          process.execPath,
          '-e',
          `require('node:net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${SNAT_PORT}, '${CLIENT}')`,
        ],
        { stdio: 'ignore' },
      );
      cleanup.add(async () => {
        if (snat.exitCode === null) snat.kill('SIGKILL');
      });
    });

    after(() => cleanup.run());

    it('gives each guest its fixed IP by DHCP from its own network, on both hosts, with the VXLAN MTU', async () => {
      for (const g of Object.values(guests)) {
        let got: string | undefined;
        if (g.routes) {
          fs.writeFileSync(path.join(g.guest.dir, 'routes.sh'), routesScript(g.guest.dir), {
            mode: 0o755,
          });
          await g.guest.ns
            .exec('timeout', [
              '30',
              BUSYBOX as string,
              'udhcpc',
              '-i',
              'eth0',
              '-f',
              '-q',
              '-n',
              '-t',
              '5',
              '-T',
              '2',
              '-O',
              'staticroutes',
              '-O',
              'mtu',
              '-s',
              path.join(g.guest.dir, 'routes.sh'),
            ])
            .catch((err: unknown) => {
              throw new Error(
                `${g.name}: ${String(err)}\n${hosts[0]?.dnsmasqLog(g.project === 'a' ? netA.networkId : netB.networkId)}`,
              );
            });
          got = fs.readFileSync(path.join(g.guest.dir, 'ip'), 'utf8').trim();
          assert.equal(fs.readFileSync(path.join(g.guest.dir, 'mtu'), 'utf8').trim(), '1450');
          assert.match(
            fs.readFileSync(path.join(g.guest.dir, 'routes'), 'utf8'),
            /169\.254\.169\.254\/32 10\.0\.0\.2/,
          );
        } else {
          got = await g.guest.dhcp(6);
        }
        assert.equal(got, g.ip, `${g.name} on host ${g.host} gets ${g.ip}`);
        const link = (await g.guest.ns.ip(['link', 'show', 'dev', 'eth0'])).stdout;
        assert.match(link, /mtu 1450 /, `${g.name}'s link has the network's MTU`);
      }
    });

    it("lets guests of one project reach each other across hosts, and only their own project's guest behind a shared address", async () => {
      assert.ok(await ping(guests.a1, guests.a2.ip), 'a1 (host 1) pings a2 (host 2)');
      assert.ok(await ping(guests.b2, guests.b1.ip), 'b2 (host 2) pings b1 (host 1)');
      assert.equal(await tcpProbe(guests.a2.guest.ns, '10.0.0.11', 7000, 3), 'a1');
      assert.equal(await tcpProbe(guests.b2.guest.ns, '10.0.0.11', 7000, 3), 'b1');
      assert.equal(await tcpProbe(guests.a1.guest.ns, '10.0.0.12', 7000, 3), 'a2');
    });

    it('keeps guests of different projects apart at the link layer: neither ping nor ARP crosses', async () => {
      // The probes work where they should (on the same network)...
      assert.ok(await arping(guests.a1, guests.a2.ip), 'a1 gets an ARP answer from a2');
      // ...and get nothing across projects, on the other host and on the same one.
      assert.equal(await ping(guests.a1, guests.b2.ip), false, 'a1 cannot ping b2');
      assert.equal(await arping(guests.a1, guests.b2.ip), false, 'a1 gets no ARP answer for b2');
      assert.equal(await ping(guests.b2, guests.a2.ip), false, 'b2 cannot ping a2 on its own host');
      assert.equal(await arping(guests.b2, guests.a2.ip), false, 'b2 gets no ARP answer for a2');
      const neigh = (await guests.a1.guest.ns.ip(['neigh', 'show'])).stdout;
      assert.doesNotMatch(neigh, /fa:16:3e:0b/, 'a1 never learned a MAC of project b');
      // Nothing on host 2 joins the two networks' bridges.
      const links = (await hosts[1]?.ns.ip(['-o', 'link', 'show']))?.stdout ?? '';
      const masters = [...links.matchAll(/master (\S+)/g)].map((m) => m[1]);
      assert.deepEqual([...new Set(masters)].sort(), ['obr1001', 'obr1002']);
    });

    it('reaches guests from the public segment by their floating IPs', async () => {
      assert.ok(await sh(client, BUSYBOX as string, ['ping', '-c', '1', '-W', '2', '172.29.9.20']));
      assert.equal(await tcpProbe(client, '172.29.9.20', 7000, 3), 'a2');
      assert.equal(await tcpProbe(client, '172.29.9.21', 7000, 3), 'b2');
      // The router itself offers nothing but ping to the public segment.
      assert.equal(await tcpProbe(client, '172.29.9.10', 8775, 2), undefined);
    });

    it('lets guests reach the public segment by SNAT, as their router or as their floating IP', async () => {
      await waitFor('the client listener', () => tcpProbe(client, CLIENT, SNAT_PORT), 20_000);
      assert.equal(await tcpProbe(guests.a1.guest.ns, CLIENT, SNAT_PORT, 3), '172.29.9.10');
      assert.equal(await tcpProbe(guests.b1.guest.ns, CLIENT, SNAT_PORT, 3), '172.29.9.11');
      assert.equal(await tcpProbe(guests.a2.guest.ns, CLIENT, SNAT_PORT, 3), '172.29.9.20');
    });

    it("answers each guest's metadata requests with its own data, by its network and address", async () => {
      const url = 'http://169.254.169.254/latest/meta-data/instance-id';
      for (const g of Object.values(guests)) {
        const got = await waitFor(`metadata for ${g.name}`, () => httpGet(g.guest.ns, url), 20_000);
        assert.equal(got, g.instanceId, `${g.name} gets its own instance id`);
      }
      // A guest naming another network in its request changes nothing.
      assert.equal(
        await httpGet(guests.a1.guest.ns, url, [`X-Stratus-Network-Id: ${netB.networkId}`]),
        guests.a1.instanceId,
      );
      // a1 came by its network's DHCP namespace, b2 (without the classless route) by its router.
      const routeA1 = (await guests.a1.guest.ns.ip(['route', 'get', '169.254.169.254'])).stdout;
      assert.match(routeA1, /via 10\.0\.0\.2/);
      const routeB2 = (await guests.b2.guest.ns.ip(['route', 'get', '169.254.169.254'])).stdout;
      assert.match(routeB2, /via 10\.0\.0\.1/);
      assert.ok(asked.some((a) => a.network === netB.networkId && a.caller === guests.b2.ip));
    });

    it('filters a port by its security groups: ingress and egress, replies and metadata aside', async () => {
      const overlay = hosts[1] as OverlayHost;
      const a2 = guests.a2;
      const allow = (protocol: 'tcp' | '-1', port: number | null, cidr: string) => ({
        ruleId: randomUUID(),
        groupId: 'g',
        protocol,
        fromPort: port,
        toPort: port,
        cidr,
        sourceGroupId: null,
        sources: [cidr],
      });
      // In: port 7000 from a1 only (a member of a remote group, by its address). Out: nothing.
      await overlay.setPortSecurity(a2.portId, {
        ingress: [allow('tcp', 7000, `${guests.a1.ip}/32`)],
        egress: [],
      });
      assert.equal(await tcpProbe(guests.a1.guest.ns, a2.ip, 7000, 3), 'a2', 'a1 across hosts');
      assert.equal(await tcpProbe(client, '172.29.9.20', 7000, 2), undefined, 'not the client');
      assert.equal(await tcpProbe(a2.guest.ns, guests.a1.ip, 7000, 2), undefined, 'egress closed');
      assert.equal(await ping(a2, guests.a1.ip), false, 'no ping out either');
      assert.ok(await ping(guests.a1, a2.ip), 'ICMP in is always allowed');
      const url = 'http://169.254.169.254/latest/meta-data/instance-id';
      assert.equal(await httpGet(a2.guest.ns, url), a2.instanceId, 'metadata stays open');

      // Out: port 7000 to a1 only; the public segment stays closed.
      await overlay.setPortSecurity(a2.portId, {
        ingress: [allow('tcp', 7000, `${guests.a1.ip}/32`)],
        egress: [allow('tcp', 7000, `${guests.a1.ip}/32`)],
      });
      assert.equal(await tcpProbe(a2.guest.ns, guests.a1.ip, 7000, 3), 'a1');
      assert.equal(await tcpProbe(a2.guest.ns, CLIENT, SNAT_PORT, 2), undefined);

      // The allow-all rules of a new group: everything in from anywhere and out.
      await overlay.setPortSecurity(a2.portId, {
        ingress: [allow('-1', null, '0.0.0.0/0')],
        egress: [allow('-1', null, '0.0.0.0/0')],
      });
      assert.equal(await tcpProbe(client, '172.29.9.20', 7000, 3), 'a2');
      assert.equal(await tcpProbe(a2.guest.ns, CLIENT, SNAT_PORT, 3), '172.29.9.20');

      // No groups (port security off): unfiltered, as the other tests expect.
      await overlay.setPortSecurity(a2.portId, undefined);
      assert.equal(await tcpProbe(client, '172.29.9.20', 7000, 3), 'a2');
      await assert.rejects(overlay.setPortSecurity(randomUUID(), undefined), /is not plugged/);
    });

    it('changes nothing when the same specs are realised again', async () => {
      const before = await snapshot();
      await realise();
      for (const h of hosts) {
        await h.setPeers(hosts.map((o, i) => ({ host: `host${i}`, underlayIp: o.underlayIp })));
      }
      assert.equal(await snapshot(), before);
      assert.ok(await ping(guests.a1, guests.a2.ip));
    });

    it('adopts what is there after a restart of the process, guests keeping their network', async () => {
      const fresh = hostOptions.map((o) => new OverlayHost(o));
      for (const h of fresh) {
        cleanup.add(() => h.teardown());
        await h.start();
        // The port filters are back before anything is plugged again.
        const ports = (await h.ns.exec('nft', ['list', 'table', 'bridge', 'stratus_overlay_ports']))
          .stdout;
        assert.equal((ports.match(/: jump p-otp/g) ?? []).length, 2);
      }
      hosts.splice(0, hosts.length, ...fresh);
      for (const h of hosts) {
        await h.setPeers(hosts.map((o, i) => ({ host: `host${i}`, underlayIp: o.underlayIp })));
      }
      await realise();
      assert.ok(await ping(guests.a1, guests.a2.ip));
      assert.equal(await tcpProbe(guests.b2.guest.ns, '10.0.0.11', 7000, 3), 'b1');
      assert.equal(await guests.b2.guest.dhcp(6), guests.b2.ip, 'b2 renews its address');
      assert.equal(
        await waitFor(
          'metadata after the restart',
          () => httpGet(guests.a2.guest.ns, 'http://169.254.169.254/latest/meta-data/instance-id'),
          20_000,
        ),
        guests.a2.instanceId,
      );
      assert.equal(await tcpProbe(client, '172.29.9.21', 7000, 3), 'b2');
    });

    it('refuses a network whose MTU does not fit the underlay, changing nothing', async () => {
      const h = hosts[1] as OverlayHost;
      const links = (await h.ns.ip(['-o', 'link', 'show'])).stdout;
      await assert.rejects(
        h.ensureNetwork({ ...netA, networkId: 'net-too-big', vni: 1003, mtu: 1500 }),
        (err: Error & { kind?: string }) => err.kind === 'invalid' && /MTU 1500/.test(err.message),
      );
      assert.equal((await h.ns.ip(['-o', 'link', 'show'])).stdout, links);
    });

    it('removes every namespace and link it made on teardown', async () => {
      const names = [
        ...hosts.map((h) => h.ns.name),
        hosts[0]?.dhcpNamespace(1001),
        hosts[0]?.routerNamespace(routerA.routerId),
      ] as string[];
      assert.ok(names.every((n) => new Namespace(n).exists()));
      for (const h of hosts) await h.teardown();
      for (const n of names) assert.equal(new Namespace(n).exists(), false, `${n} is gone`);
      const left = fs
        .readdirSync('/run/netns')
        .filter((n) => hosts.some((h) => n.startsWith(h.ns.name)));
      assert.deepEqual(left, []);
      assert.deepEqual(await rootLinks(), linksBefore, "the machine's own links are as they were");
    });
  },
);
