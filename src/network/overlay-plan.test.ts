// planOverlay: which host gets which project network, router and peers, from the model.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dhcpAddress, planOverlay, type OverlayModel, type PlanSubnet } from './overlay-plan.js';

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
});
