// The network service's overlay sync against the records the EC2 API makes (fake driver, on
// SQLite and PostgreSQL), with stand-in agents that record what each host is sent: a VPC
// subnet's route table decides whether its router takes it out (SNAT, Elastic IPs) as
// CreateRoute, DeleteRoute, ReplaceRoute, AssociateRouteTable, ReplaceRouteTableAssociation
// and DisassociateRouteTable change it; and the overlay hosts are kept in the database, so a
// network service started again plans for them at once, and a host that stops registering
// ages out.
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteRouteCommand,
  DescribeRouteTablesCommand,
  DisassociateRouteTableCommand,
  ReplaceRouteCommand,
  ReplaceRouteTableAssociationCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RequestContext } from '../src/context.js';
import { silentLogger } from '../src/log.js';
import type { RouterSpec } from '../src/network/dataplane/index.js';
import { DEFAULT_FLOATING_POOL, ProjectNetworkService } from '../src/network/index.js';
import { OverlaySync, type OverlayAgents } from '../src/network/overlay-sync.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';

/** Stand-in agents: the last router spec and peers each host was sent. */
class RecordingAgents implements OverlayAgents {
  readonly routers = new Map<string, RouterSpec>();
  readonly peers = new Map<string, string[]>();
  readonly networks = new Map<string, Set<string>>();
  async setOverlayPeers(_c: RequestContext, host: string, peers: { host: string }[]) {
    this.peers.set(host, peers.map((p) => p.host).sort());
  }
  async ensureProjectNetwork(_c: RequestContext, host: string, spec: { networkId: string }) {
    const set = this.networks.get(host) ?? new Set<string>();
    set.add(spec.networkId);
    this.networks.set(host, set);
  }
  async removeProjectNetwork(_c: RequestContext, host: string, networkId: string) {
    this.networks.get(host)?.delete(networkId);
  }
  async ensureProjectRouter(_c: RequestContext, _host: string, spec: RouterSpec) {
    this.routers.set(spec.routerId, spec);
  }
  async removeProjectRouter(_c: RequestContext, _host: string, routerId: string) {
    this.routers.delete(routerId);
  }
}

const NETWORK_HOST = {
  host: 'sync-net',
  underlayIp: '10.98.0.1',
  networkHost: true,
  publicAddress: '172.24.4.2/24',
  bootId: 'boot-net-1',
};
const COMPUTE_HOST = {
  host: 'sync-cmp',
  underlayIp: '10.98.0.2',
  networkHost: false,
  publicAddress: null,
  bootId: 'boot-cmp-1',
};

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `route tables on the overlay, and its hosts kept, on ${backend.name}`,
    needs(...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let agents: RecordingAgents;
      let sync: OverlaySync;
      let clock = Date.now();
      const made = { vpc: '', subnet: '', igw: '', main: '', other: '', assoc: '' };
      const newSync = (a: RecordingAgents) =>
        new OverlaySync({
          db: t.cloud.database.db,
          agents: a,
          model: new ProjectNetworkService({
            db: t.cloud.database.db,
            floatingPool: DEFAULT_FLOATING_POOL,
          }),
          pool: DEFAULT_FLOATING_POOL,
          logger: silentLogger(),
          now: () => clock,
        });
      /** The leg of the VPC's router after a convergence. */
      const leg = async () => {
        const failed = await sync.converge();
        assert.equal(failed.size, 0, [...failed.values()].join('; '));
        const router = [...agents.routers.values()].find((r) =>
          r.interfaces.some((i) => i.cidr === '10.30.1.0/24'),
        );
        assert.ok(router, 'the VPC router is on the network host');
        return { router, egress: router.interfaces[0]?.egress };
      };

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url });
        agents = new RecordingAgents();
        sync = newSync(agents);
      });
      after(async () => {
        await t.stop();
        await database.remove();
      });

      it('takes a subnet out only while its table routes 0.0.0.0/0 to the attached gateway', async () => {
        const c = t.admin;
        await sync.hostUp(NETWORK_HOST);
        await sync.hostUp(COMPUTE_HOST);
        made.vpc = (await c.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc
          ?.VpcId as string;
        made.subnet = (
          await c.send(new CreateSubnetCommand({ VpcId: made.vpc, CidrBlock: '10.30.1.0/24' }))
        ).Subnet?.SubnetId as string;
        made.igw = (await c.send(new CreateInternetGatewayCommand({}))).InternetGateway
          ?.InternetGatewayId as string;
        await c.send(
          new AttachInternetGatewayCommand({ InternetGatewayId: made.igw, VpcId: made.vpc }),
        );
        made.main = (
          await c.send(
            new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [made.vpc] }] }),
          )
        ).RouteTables?.[0]?.RouteTableId as string;
        // The gateway is attached, but no route leads to it yet: the subnet is private.
        assert.deepEqual((await leg()).egress, []);
        await c.send(
          new CreateRouteCommand({
            RouteTableId: made.main,
            DestinationCidrBlock: '0.0.0.0/0',
            GatewayId: made.igw,
          }),
        );
        assert.deepEqual((await leg()).egress, ['0.0.0.0/0']);
      });

      it('closes the way out when the default route is deleted, and opens it when made again', async () => {
        const c = t.admin;
        await c.send(
          new DeleteRouteCommand({ RouteTableId: made.main, DestinationCidrBlock: '0.0.0.0/0' }),
        );
        assert.deepEqual((await leg()).egress, []);
        await c.send(
          new CreateRouteCommand({
            RouteTableId: made.main,
            DestinationCidrBlock: '0.0.0.0/0',
            GatewayId: made.igw,
          }),
        );
        assert.deepEqual((await leg()).egress, ['0.0.0.0/0']);
      });

      it("follows the subnet's own table: associated, replaced, disassociated", async () => {
        const c = t.admin;
        made.other = (await c.send(new CreateRouteTableCommand({ VpcId: made.vpc }))).RouteTable
          ?.RouteTableId as string;
        made.assoc = (
          await c.send(
            new AssociateRouteTableCommand({ RouteTableId: made.other, SubnetId: made.subnet }),
          )
        ).AssociationId as string;
        // Its own table has no route to the gateway: the main table's no longer counts.
        assert.deepEqual((await leg()).egress, []);
        await c.send(
          new CreateRouteCommand({
            RouteTableId: made.other,
            DestinationCidrBlock: '198.51.100.0/24',
            GatewayId: made.igw,
          }),
        );
        assert.deepEqual((await leg()).egress, ['198.51.100.0/24']);
        await c.send(
          new ReplaceRouteCommand({
            RouteTableId: made.other,
            DestinationCidrBlock: '198.51.100.0/24',
            GatewayId: made.igw,
          }),
        );
        assert.deepEqual((await leg()).egress, ['198.51.100.0/24']);
        made.assoc = (
          await c.send(
            new ReplaceRouteTableAssociationCommand({
              AssociationId: made.assoc,
              RouteTableId: made.main,
            }),
          )
        ).NewAssociationId as string;
        assert.deepEqual((await leg()).egress, ['0.0.0.0/0']);
        await c.send(new DisassociateRouteTableCommand({ AssociationId: made.assoc }));
        // Back on the main table, which routes 0.0.0.0/0 to the gateway.
        assert.deepEqual((await leg()).egress, ['0.0.0.0/0']);
      });

      it('plans at once after a restart from the hosts in the database, and ages out a silent host', async () => {
        // A network service started again: nothing registered with it yet.
        const fresh = new RecordingAgents();
        const restarted = newSync(fresh);
        await restarted.loadHosts();
        assert.ok(restarted.carries(COMPUTE_HOST.host));
        assert.equal(restarted.networkHost, NETWORK_HOST.host);
        const failed = await restarted.converge();
        assert.equal(failed.size, 0);
        assert.deepEqual(fresh.peers.get(COMPUTE_HOST.host), [
          COMPUTE_HOST.host,
          NETWORK_HOST.host,
        ]);
        const router = [...fresh.routers.values()].find((r) =>
          r.interfaces.some((i) => i.cidr === '10.30.1.0/24'),
        );
        assert.deepEqual(router?.interfaces[0]?.egress, ['0.0.0.0/0']);
        // The network host keeps registering; the compute host goes silent past the limit.
        clock += 100_000;
        await restarted.hostUp(NETWORK_HOST);
        clock += 60_000;
        await restarted.converge();
        assert.ok(!restarted.carries(COMPUTE_HOST.host), 'the silent host aged out');
        assert.ok(restarted.carries(NETWORK_HOST.host));
        assert.deepEqual(fresh.peers.get(NETWORK_HOST.host), [NETWORK_HOST.host]);
        const rows = await t.cloud.database.db.selectFrom('overlayHosts').select('host').execute();
        assert.deepEqual(
          rows.map((r) => r.host),
          [NETWORK_HOST.host],
        );
        // It registers again: back in the overlay.
        await restarted.hostUp(COMPUTE_HOST);
        await restarted.converge();
        assert.deepEqual(fresh.peers.get(NETWORK_HOST.host), [
          COMPUTE_HOST.host,
          NETWORK_HOST.host,
        ]);
      });
    },
  );
}
