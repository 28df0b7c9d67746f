// planOverlay: which host gets which project network, router and peers, from the model.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkNetworkSpec,
  checkRouterSpec,
  type ProjectNetworkSpec,
  type RouterSpec,
} from './dataplane/overlay-spec.js';
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

/** Two networks of one project, a guest on each on two hosts, a router joining both. */
function eastWest(): OverlayModel {
  const base = model();
  return {
    ...base,
    networks: [
      { id: 'n1', vni: 1001, mtu: 1450 },
      { id: 'n2', vni: 1002, mtu: 1450 },
    ],
    subnets: [
      SUBNET,
      {
        ...SUBNET,
        id: 's2',
        networkId: 'n2',
        cidr: '10.30.1.0/24',
        gateway: '10.30.1.1',
        pools: [{ start: '10.30.1.4', end: '10.30.1.254' }],
      },
    ],
    ports: [
      ...base.ports,
      {
        id: 'p-router2',
        networkId: 'n2',
        mac: 'fa:16:3e:00:00:21',
        deviceOwner: 'network:router_interface',
        deviceId: 'r1',
        bindingHost: null,
        ips: [{ subnetId: 's2', address: '10.30.1.1' }],
      },
      {
        id: 'p-guest2',
        networkId: 'n2',
        mac: 'fa:16:3e:00:00:22',
        deviceOwner: 'compute:z1',
        deviceId: 'i2',
        bindingHost: 'h3',
        ips: [{ subnetId: 's2', address: '10.30.1.4' }],
      },
    ],
    routers: [
      {
        id: 'r1',
        externalIp: null,
        interfaces: [
          { subnetId: 's1', portId: 'p-router' },
          { subnetId: 's2', portId: 'p-router2' },
        ],
      },
    ],
    floatingIps: [],
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

  it("maps a floating IP to the instance's port with its address when the instance has two", () => {
    const base = model();
    const attached = {
      id: 'p-attached',
      networkId: 'n1',
      mac: 'fa:16:3e:00:00:03',
      deviceOwner: 'compute:z1',
      deviceId: 'i1',
      bindingHost: 'h2',
      ips: [{ subnetId: 's1', address: '10.20.1.5' }],
    };
    // The port attached later comes first in the model: the mapping still follows the address.
    const plan = planOverlay({ ...base, ports: [attached, ...base.ports] });
    assert.deepEqual(plan.routers[0]?.floatingIps, [
      { floatingIp: '172.24.4.131', fixedIp: '10.20.1.4', networkId: 'n1' },
    ]);
  });

  it('leaves out a network without a subnet, and its router interface', () => {
    const plan = planOverlay(
      model({
        networks: [
          { id: 'n1', vni: 1001, mtu: 1450 },
          { id: 'n2', vni: 1002, mtu: 1450 },
        ],
      }),
    );
    assert.deepEqual([...plan.skipped.keys()].sort(), ['n2']);
    assert.deepEqual(
      plan.networks.get('h1')?.map((s) => s.networkId),
      ['n1'],
    );
  });

  it('carries a router without an external gateway: it routes between its subnets (east-west)', () => {
    const plan = planOverlay(eastWest());
    assert.deepEqual(plan.routers, [
      {
        routerId: 'r1',
        interfaces: [
          { networkId: 'n1', gatewayIp: '10.20.1.1', cidr: '10.20.1.0/24' },
          { networkId: 'n2', gatewayIp: '10.30.1.1', cidr: '10.30.1.0/24' },
        ],
        floatingIps: [],
      },
    ]);
    assert.deepEqual(plan.skipped, new Map());
    // The network host has both networks (it carries the router's legs); each compute host the
    // one its guest is on.
    assert.deepEqual(
      [...plan.networks].map(([h, specs]) => [h, specs.map((s) => s.networkId)]),
      [
        ['h1', ['n1', 'n2']],
        ['h2', ['n1']],
        ['h3', ['n2']],
      ],
    );
  });

  it('takes a removed interface off the router, and a removed router off the plan', () => {
    const m = eastWest();
    const one = planOverlay({
      ...m,
      routers: [
        { id: 'r1', externalIp: null, interfaces: [{ subnetId: 's1', portId: 'p-router' }] },
      ],
      ports: m.ports.filter((p) => p.id !== 'p-router2'),
    });
    assert.deepEqual(
      one.routers.map((r) => r.interfaces.map((i) => i.cidr)),
      [['10.20.1.0/24']],
    );
    assert.deepEqual(planOverlay({ ...m, routers: [] }).routers, []);
  });

  it('joins only the first of two overlapping subnets on one router', () => {
    const m = eastWest();
    const plan = planOverlay({
      ...m,
      subnets: m.subnets.map((s) => (s.id === 's2' ? { ...s, cidr: '10.20.1.0/24' } : s)),
      ports: m.ports.map((p) =>
        p.id === 'p-router2'
          ? { ...p, ips: [{ subnetId: 's2', address: '10.20.1.1' }] }
          : p.id === 'p-guest2'
            ? { ...p, ips: [{ subnetId: 's2', address: '10.20.1.9' }] }
            : p,
      ),
    });
    assert.deepEqual(
      plan.routers.map((r) => r.interfaces.map((i) => i.networkId)),
      [['n1']],
    );
    assert.deepEqual([...plan.skipped.keys()], ['r1/s2']);
  });

  it("carries a network's further subnets: DHCP on each, guests on either, a router leg on each", () => {
    const s2: PlanSubnet = {
      id: 's1b',
      networkId: 'n1',
      cidr: '10.20.2.0/24',
      gateway: '10.20.2.1',
      pools: [{ start: '10.20.2.2', end: '10.20.2.254' }],
      dns: ['10.20.2.53'],
      createdAt: 2,
    };
    const base = model();
    const plan = planOverlay({
      ...base,
      subnets: [s2, SUBNET],
      ports: [
        ...base.ports,
        {
          id: 'p-router-b',
          networkId: 'n1',
          mac: 'fa:16:3e:00:00:11',
          deviceOwner: 'network:router_interface',
          deviceId: 'r1',
          bindingHost: null,
          ips: [{ subnetId: 's1b', address: '10.20.2.1' }],
        },
        {
          id: 'p-dhcp-b',
          networkId: 'n1',
          mac: 'fa:16:3e:00:00:12',
          deviceOwner: 'network:dhcp',
          deviceId: 'dhcpn1:s1b',
          bindingHost: null,
          ips: [{ subnetId: 's1b', address: '10.20.2.2' }],
        },
        {
          id: 'p-guest-b',
          networkId: 'n1',
          mac: 'fa:16:3e:00:00:13',
          deviceOwner: 'compute:z1',
          deviceId: 'i2',
          bindingHost: 'h3',
          ips: [{ subnetId: 's1b', address: '10.20.2.7' }],
        },
      ],
      routers: [
        {
          id: 'r1',
          externalIp: null,
          interfaces: [
            { subnetId: 's1', portId: 'p-router' },
            { subnetId: 's1b', portId: 'p-router-b' },
          ],
        },
      ],
    });
    const spec = plan.networks.get('h3')?.[0];
    assert.deepEqual(spec?.moreSubnets, [
      {
        cidr: '10.20.2.0/24',
        gatewayIp: '10.20.2.1',
        dhcpIp: '10.20.2.2',
        dhcpRange: { start: '10.20.2.2', end: '10.20.2.254' },
        dnsServers: ['10.20.2.53'],
      },
    ]);
    assert.equal(spec?.cidr, '10.20.1.0/24', 'the oldest subnet stays first');
    assert.deepEqual(spec?.ports, [
      { mac: 'fa:16:3e:00:00:02', ip: '10.20.1.4', hostname: 'host-10-20-1-4' },
      { mac: 'fa:16:3e:00:00:13', ip: '10.20.2.7', hostname: 'host-10-20-2-7' },
    ]);
    assert.deepEqual(plan.routers[0]?.interfaces, [
      { networkId: 'n1', gatewayIp: '10.20.1.1', cidr: '10.20.1.0/24' },
      { networkId: 'n1', gatewayIp: '10.20.2.1', cidr: '10.20.2.0/24' },
    ]);
    // The data plane accepts what the plan gives.
    assert.doesNotThrow(() => checkNetworkSpec(spec as ProjectNetworkSpec, 1450));
    assert.doesNotThrow(() =>
      checkRouterSpec(plan.routers[0] as RouterSpec, new Map([['n1', spec as ProjectNetworkSpec]])),
    );
  });

  it('leaves out a further subnet that has no address for DHCP, and keeps the network', () => {
    const full: PlanSubnet = {
      id: 's1c',
      networkId: 'n1',
      cidr: '10.20.3.0/30',
      gateway: '10.20.3.1',
      pools: [{ start: '10.20.3.2', end: '10.20.3.2' }],
      dns: [],
      createdAt: 3,
    };
    const plan = planOverlay(model({ subnets: [SUBNET, full] }));
    assert.deepEqual([...plan.skipped.keys()], ['s1c']);
    assert.equal(plan.networks.get('h1')?.[0]?.moreSubnets, undefined);
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
