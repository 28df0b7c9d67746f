// planOverlay: which host gets which project network, router and peers, from the model.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dhcpAddress,
  planOverlay,
  subnetEgress,
  type OverlayModel,
  type PlanSubnet,
  type PlanVpc,
} from './overlay-plan.js';

const SUBNET: PlanSubnet = {
  id: 's1',
  networkId: 'n1',
  cidr: '10.20.1.0/24',
  gateway: '10.20.1.1',
  pools: [{ start: '10.20.1.4', end: '10.20.1.254' }],
  dns: [],
  createdAt: 1,
};

function model(over: Partial<OverlayModel> = {}): OverlayModel {
  return {
    hosts: [
      { host: 'h1', underlayIp: '10.99.0.11', networkHost: true, publicAddress: '172.24.4.11/24' },
      { host: 'h2', underlayIp: '10.99.0.12', networkHost: false, publicAddress: null },
      { host: 'h3', underlayIp: '10.99.0.13', networkHost: false, publicAddress: null },
    ],
    networks: [{ id: 'n1', vni: 1001, mtu: 1450 }],
    subnets: [SUBNET],
    ports: [
      {
        id: 'p-router',
        networkId: 'n1',
        mac: 'fa:16:3e:00:00:01',
        deviceOwner: 'network:router_interface',
        deviceId: 'r1',
        bindingHost: null,
        ips: [{ subnetId: 's1', address: '10.20.1.1' }],
      },
      {
        id: 'p-guest',
        networkId: 'n1',
        mac: 'fa:16:3e:00:00:02',
        deviceOwner: 'compute:z1',
        deviceId: 'i1',
        bindingHost: 'h2',
        ips: [{ subnetId: 's1', address: '10.20.1.4' }],
      },
    ],
    routers: [
      {
        id: 'r1',
        externalIp: '172.24.4.130',
        interfaces: [{ subnetId: 's1', portId: 'p-router' }],
      },
    ],
    floatingIps: [{ address: '172.24.4.131', fixedAddress: '10.20.1.4', instanceId: 'i1' }],
    ...over,
  };
}

describe('planOverlay', () => {
  it('gives a network to the hosts of its bound ports and to the network host, with every port for DHCP', () => {
    const plan = planOverlay(model());
    assert.deepEqual(
      [...plan.networks].map(([h, specs]) => [h, specs.map((s) => s.networkId)]),
      [
        ['h1', ['n1']],
        ['h2', ['n1']],
        ['h3', []],
      ],
    );
    const spec = plan.networks.get('h2')?.[0];
    assert.deepEqual(spec, {
      networkId: 'n1',
      vni: 1001,
      cidr: '10.20.1.0/24',
      gatewayIp: '10.20.1.1',
      // EC2's reserved second address, outside the pools.
      dhcpIp: '10.20.1.2',
      mtu: 1450,
      dhcpRange: { start: '10.20.1.4', end: '10.20.1.254' },
      ports: [{ mac: 'fa:16:3e:00:00:02', ip: '10.20.1.4', hostname: 'host-10-20-1-4' }],
    });
    assert.deepEqual(
      plan.peers.map((p) => p.underlayIp),
      ['10.99.0.11', '10.99.0.12', '10.99.0.13'],
    );
  });

  it("puts the router on the network host with its legs, the public prefix and its networks' floating IPs", () => {
    const plan = planOverlay(model());
    assert.equal(plan.networkHost, 'h1');
    assert.deepEqual(plan.routers, [
      {
        routerId: 'r1',
        externalIp: '172.24.4.130',
        externalPrefix: 24,
        interfaces: [{ networkId: 'n1', gatewayIp: '10.20.1.1', cidr: '10.20.1.0/24' }],
        floatingIps: [{ floatingIp: '172.24.4.131', fixedIp: '10.20.1.4', networkId: 'n1' }],
      },
    ]);
  });

  it('leaves out a router without an external gateway, and a network without a subnet', () => {
    const plan = planOverlay(
      model({
        networks: [
          { id: 'n1', vni: 1001, mtu: 1450 },
          { id: 'n2', vni: 1002, mtu: 1450 },
        ],
        routers: [
          { id: 'r1', externalIp: null, interfaces: [{ subnetId: 's1', portId: 'p-router' }] },
        ],
      }),
    );
    assert.deepEqual(plan.routers, []);
    assert.deepEqual([...plan.skipped.keys()].sort(), ['n2', 'r1']);
    assert.deepEqual(
      plan.networks.get('h1')?.map((s) => s.networkId),
      ['n1'],
    );
  });

  it('takes a network:dhcp port’s address, and finds none when the pools fill the subnet', () => {
    const full = { ...SUBNET, pools: [{ start: '10.20.1.2', end: '10.20.1.254' }] };
    assert.equal(dhcpAddress(full, []), undefined);
    assert.equal(
      dhcpAddress(full, [
        {
          id: 'd',
          networkId: 'n1',
          mac: 'fa:16:3e:00:00:03',
          deviceOwner: 'network:dhcp',
          deviceId: 'dhcpn1',
          bindingHost: null,
          ips: [{ subnetId: 's1', address: '10.20.1.2' }],
        },
      ]),
      '10.20.1.2',
    );
  });

  describe("a VPC's router follows its subnets' route tables", () => {
    // n1 is a VPC whose router r1 is its main table; s1 its subnet; igw1 attached.
    const vpc = (over: Partial<PlanVpc> = {}): PlanVpc => ({
      networkId: 'n1',
      routerId: 'r1',
      gatewayId: 'igw1',
      mainTable: 'r1',
      associations: {},
      routes: [{ table: 'r1', destination: '0.0.0.0/0', gatewayId: 'igw1' }],
      ...over,
    });
    const legOf = (v: PlanVpc) => planOverlay(model({ vpcs: [v] })).routers[0];

    it('SNAT and Elastic IPs for a subnet whose main table routes 0.0.0.0/0 to the gateway', () => {
      const r = legOf(vpc());
      assert.deepEqual(r?.interfaces, [
        { networkId: 'n1', gatewayIp: '10.20.1.1', cidr: '10.20.1.0/24', egress: ['0.0.0.0/0'] },
      ]);
      assert.deepEqual(r?.floatingIps, [
        { floatingIp: '172.24.4.131', fixedIp: '10.20.1.4', networkId: 'n1' },
      ]);
    });

    it('neither once the default route is deleted: the subnet is private', () => {
      const r = legOf(vpc({ routes: [] }));
      assert.deepEqual(r?.interfaces[0]?.egress, []);
      assert.deepEqual(r?.floatingIps, []);
      // The router stays (its address is kept), only its way out for the subnet is closed.
      assert.equal(r?.externalIp, '172.24.4.130');
    });

    it("the subnet's own table decides over the main one, either way", () => {
      const routes = [{ table: 'r1', destination: '0.0.0.0/0', gatewayId: 'igw1' }];
      const privateTable = legOf(vpc({ routes, associations: { s1: 'rtb-private' } }));
      assert.deepEqual(privateTable?.interfaces[0]?.egress, []);
      assert.deepEqual(privateTable?.floatingIps, []);
      const publicTable = legOf(
        vpc({
          routes: [{ table: 'rtb-public', destination: '0.0.0.0/0', gatewayId: 'igw1' }],
          associations: { s1: 'rtb-public' },
        }),
      );
      assert.deepEqual(publicTable?.interfaces[0]?.egress, ['0.0.0.0/0']);
      assert.equal(publicTable?.floatingIps.length, 1);
    });

    it('another table made main serves the subnets without an association', () => {
      const v = vpc({
        mainTable: 'rtb-main',
        routes: [
          { table: 'r1', destination: '0.0.0.0/0', gatewayId: 'igw1' },
          { table: 'rtb-main', destination: '198.51.100.0/24', gatewayId: 'igw1' },
        ],
      });
      assert.deepEqual(subnetEgress(v, 's1'), ['198.51.100.0/24']);
      // Part of the internet only: still SNAT there, and its Elastic IP answers from there.
      const r = legOf(v);
      assert.deepEqual(r?.interfaces[0]?.egress, ['198.51.100.0/24']);
      assert.equal(r?.floatingIps.length, 1);
    });

    it('a route to a gateway that is not attached (blackhole) leads nowhere', () => {
      assert.deepEqual(subnetEgress(vpc({ gatewayId: null }), 's1'), []);
      assert.deepEqual(
        subnetEgress(
          vpc({ routes: [{ table: 'r1', destination: '0.0.0.0/0', gatewayId: 'igw-old' }] }),
          's1',
        ),
        [],
      );
    });

    it('a Neutron router (no VPC) takes all its subnets out, as before', () => {
      const r = planOverlay(model({ vpcs: [vpc({ networkId: 'n9', routerId: 'r9' })] })).routers[0];
      assert.equal(r?.interfaces[0]?.egress, undefined);
      assert.equal(r?.floatingIps.length, 1);
    });
  });
});
