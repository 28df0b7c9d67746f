// A project router on the network host, in a namespace of its own: a leg on each of its
// networks' bridges (a veth holding its address on each of the network's subnets it joins;
// it forwards between its legs, east-west), and when it has an external gateway a leg on the
// public segment (a macvlan of the host's public interface holding the router's address and
// its floating IPs, announced by gratuitous ARP), and the router table (overlay-nft.ts) for
// SNAT, floating IPs and metadata. Each leg runs a metadata proxy on its gateway address
// that names the leg's network to the metadata service, for guests that send metadata
// requests to their default route. `ensure` makes it match a RouterSpec, whatever was there.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StratusError } from '../../errors.js';
import { parseCidr } from '../ipv4.js';
import { linkExists } from './bridge.js';
import { MetadataProxy } from './metadata-proxy-process.js';
import { Namespace } from './namespace.js';
import { applyNft } from './nftables.js';
import { ROUTER_METADATA_PORT, renderRouterTable, type RouterLeg } from './overlay-nft.js';
import { checkRouterSpec, type ProjectNetworkSpec, type RouterSpec } from './overlay-spec.js';
import { tryRun } from './run.js';
import { segmentBridge } from './vxlan.js';

/** The external leg inside a router namespace. */
const EXTERNAL = 'qg0';

export interface ProjectRouterOptions {
  overlay: Namespace;
  namespace: string;
  /**
   * The public interface in the overlay namespace the external leg is a macvlan of; only a
   * router with an external gateway needs it.
   */
  publicInterface?: string | undefined;
  stateDir: string;
  metadataSocket?: string | undefined;
  onError?: (err: unknown) => void;
}

/** A short, stable tag of a router id for namespace names (8 hex digits). */
export function routerTag(routerId: string): string {
  return createHash('sha256').update(routerId).digest('hex').slice(0, 8);
}

const legInside = (vni: number): string => `qr${vni}`;
const legOutside = (vni: number): string => `orl${vni}`;

export class ProjectRouter {
  readonly ns: Namespace;
  readonly #o: ProjectRouterOptions;
  readonly #proxies = new Map<number, MetadataProxy>();
  /** The legs made so far, by VNI. */
  readonly #legs = new Set<number>();
  readonly #announced = new Set<string>();

  constructor(options: ProjectRouterOptions) {
    this.#o = options;
    this.ns = new Namespace(options.namespace);
  }

  /**
   * Makes the router match `spec`; `networks` are the project networks on this host by id
   * (each leg's network must be among them, its segment already there). Legs, addresses,
   * floating IPs and proxies that the spec no longer has are removed. Idempotent; the NAT
   * changes as one nft transaction.
   */
  async ensure(spec: RouterSpec, networks: ReadonlyMap<string, ProjectNetworkSpec>): Promise<void> {
    checkRouterSpec(spec, networks);
    const ns = this.ns;
    const created = !ns.exists();
    try {
      await ns.create();
      await ns.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
      await ns.sysctl('net.ipv4.ip_forward', '1');
      // No ICMP redirects: between two subnets of one network (one leg) the router would tell
      // guests to go to each other directly, and they would keep doing so once the router is
      // gone. Traffic between subnets goes through the router, as the model says.
      await ns.sysctl('net.ipv4.conf.all.send_redirects', '0');
      await ns.sysctl('net.ipv4.conf.default.send_redirects', '0');
      const external = spec.externalIp !== undefined;
      if (external && this.#o.publicInterface === undefined) {
        throw new StratusError(
          'invalid',
          `The router ${spec.routerId} has an external gateway, but this host has no public interface.`,
        );
      }
      if (external && !(await linkExists(ns, EXTERNAL))) {
        await this.#o.overlay.ip([
          'link',
          'add',
          'link',
          this.#o.publicInterface as string,
          'name',
          EXTERNAL,
          'netns',
          ns.name,
          'type',
          'macvlan',
          'mode',
          'bridge',
        ]);
      } else if (!external && (await linkExists(ns, EXTERNAL))) {
        // The router lost its external gateway: it keeps routing between its networks.
        await ns.ip(['link', 'del', EXTERNAL]);
      }
      if (external) await ns.ip(['link', 'set', EXTERNAL, 'up']);

      // One leg a network, holding the router's address on each of the network's subnets it
      // joins.
      const byNetwork = new Map<string, (typeof spec.interfaces)[number][]>();
      for (const leg of spec.interfaces) {
        byNetwork.set(leg.networkId, [...(byNetwork.get(leg.networkId) ?? []), leg]);
      }
      const legs: RouterLeg[] = [];
      const wanted = new Set<number>();
      for (const [networkId, subnets] of byNetwork) {
        const net = networks.get(networkId) as ProjectNetworkSpec;
        wanted.add(net.vni);
        const inner = legInside(net.vni);
        const outer = legOutside(net.vni);
        if (!(await linkExists(ns, inner))) {
          if (await linkExists(this.#o.overlay, outer))
            await this.#o.overlay.ip(['link', 'del', outer]);
          await this.#o.overlay.ip([
            'link',
            'add',
            outer,
            'type',
            'veth',
            'peer',
            'name',
            inner,
            'netns',
            ns.name,
          ]);
        }
        await this.#o.overlay.ip(['link', 'set', outer, 'mtu', String(net.mtu)]);
        await this.#o.overlay.ip(['link', 'set', outer, 'master', segmentBridge(net.vni)]);
        await this.#o.overlay.ip(['link', 'set', outer, 'up']);
        await ns.ip(['link', 'set', inner, 'mtu', String(net.mtu)]);
        await ns.sysctl(`net.ipv4.conf.${inner}.send_redirects`, '0');
        await setOnlyAddresses(
          ns,
          inner,
          subnets.map(
            (leg) => `${leg.gatewayIp}/${(parseCidr(leg.cidr, 8) as { prefix: number }).prefix}`,
          ),
        );
        await ns.ip(['link', 'set', inner, 'up']);
        this.#legs.add(net.vni);
        for (const leg of subnets) {
          legs.push({
            ifname: inner,
            cidr: leg.cidr,
            gatewayIp: leg.gatewayIp,
            metadata: this.#o.metadataSocket !== undefined,
            ...(leg.egress !== undefined ? { egress: leg.egress } : {}),
          });
        }
      }
      for (const vni of [...this.#legs, ...(await this.#foundLegs())]) {
        if (wanted.has(vni)) continue;
        await this.#proxies.get(vni)?.stop();
        this.#proxies.delete(vni);
        if (await linkExists(ns, legInside(vni))) await ns.ip(['link', 'del', legInside(vni)]);
        this.#legs.delete(vni);
      }

      const addresses =
        spec.externalIp === undefined
          ? []
          : [spec.externalIp, ...spec.floatingIps.map((f) => f.floatingIp)];
      if (spec.externalIp !== undefined) {
        await setOnlyAddresses(ns, EXTERNAL, [
          `${spec.externalIp}/${spec.externalPrefix}`,
          ...spec.floatingIps.map((f) => `${f.floatingIp}/32`),
        ]);
        if (spec.externalGateway !== undefined) {
          await ns.ip([
            'route',
            'replace',
            'default',
            'via',
            spec.externalGateway,
            'dev',
            EXTERNAL,
          ]);
        }
      }
      await applyNft(
        ns,
        renderRouterTable({
          ...(spec.externalIp !== undefined
            ? { external: { ifname: EXTERNAL, address: spec.externalIp } }
            : {}),
          legs,
          floating: new Map(spec.floatingIps.map((f) => [f.floatingIp, f.fixedIp])),
        }),
      );
      // Neighbours that knew an address at another router (or host) follow at once.
      for (const a of addresses) if (!this.#announced.has(a)) this.#announce(a);
      this.#announced.clear();
      for (const a of addresses) this.#announced.add(a);

      if (this.#o.metadataSocket !== undefined) {
        for (const [networkId, subnets] of byNetwork) {
          const net = networks.get(networkId) as ProjectNetworkSpec;
          const leg = subnets[0] as (typeof subnets)[number];
          if (this.#proxies.get(net.vni)?.pid() !== undefined) continue;
          const dir = path.join(this.#o.stateDir, `metadata-${net.vni}`);
          fs.mkdirSync(dir, { recursive: true });
          const proxy = new MetadataProxy({
            ns,
            address: leg.gatewayIp,
            port: ROUTER_METADATA_PORT,
            upstreamSocket: this.#o.metadataSocket,
            stateDir: dir,
            networkId: net.networkId,
          });
          await proxy.start();
          this.#proxies.set(net.vni, proxy);
        }
      }
    } catch (err) {
      if (created) await this.remove().catch(() => undefined);
      throw err;
    }
  }

  /** Removes the router's namespace (legs, proxies and rules go with it). Idempotent. */
  async remove(): Promise<void> {
    for (const vni of [...this.#legs, ...(await this.#foundLegs())]) {
      if (await linkExists(this.#o.overlay, legOutside(vni))) {
        await this.#o.overlay.ip(['link', 'del', legOutside(vni)]).catch(() => undefined);
      }
    }
    await this.ns.destroy(200);
    fs.rmSync(this.#o.stateDir, { recursive: true, force: true });
    this.#legs.clear();
    this.#proxies.clear();
    this.#announced.clear();
  }

  /** The VNIs of the legs in the namespace now (after a restart, nothing is in memory). */
  async #foundLegs(): Promise<number[]> {
    if (!this.ns.exists()) return [];
    const { stdout } = await this.ns.ip(['-o', 'link', 'show']);
    const out: number[] = [];
    for (const m of stdout.matchAll(/^\d+: qr(\d+)[@:]/gm)) out.push(Number(m[1]));
    return out;
  }

  #announce(address: string): void {
    const found = ['/usr/sbin/arping', '/usr/bin/arping'].some((f) => fs.existsSync(f));
    if (!found) return;
    void tryRun('ip', [
      'netns',
      'exec',
      this.ns.name,
      'arping',
      '-U',
      '-c',
      '1',
      '-I',
      EXTERNAL,
      '-s',
      address,
      address,
    ]).then((ok) => {
      if (!ok) {
        this.#o.onError?.(
          new StratusError(
            'internal',
            `Announcing ${address} from router namespace ${this.ns.name} failed.`,
          ),
        );
      }
    });
  }
}

/** Gives `ifname` exactly these IPv4 addresses (`A.B.C.D/N`). */
async function setOnlyAddresses(
  ns: Namespace,
  ifname: string,
  want: readonly string[],
): Promise<void> {
  const { stdout } = await ns.ip(['-4', '-o', 'addr', 'show', 'dev', ifname]);
  const have = [...stdout.matchAll(/ inet (\d+\.\d+\.\d+\.\d+\/\d+) /g)].map((m) => m[1] as string);
  for (const a of want) if (!have.includes(a)) await ns.ip(['addr', 'add', a, 'dev', ifname]);
  for (const a of have) if (!want.includes(a)) await ns.ip(['addr', 'del', a, 'dev', ifname]);
}
