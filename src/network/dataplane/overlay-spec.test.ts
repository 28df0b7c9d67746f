// The overlay's specs are checked before anything changes, and its tables render what they say.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderOverlayPortTable, renderRouterTable } from './overlay-nft.js';
import {
  checkNetworkSpec,
  checkRouterSpec,
  type ProjectNetworkSpec,
  type RouterSpec,
  type SubnetSpec,
} from './overlay-spec.js';
import { parseFloodPeers } from './vxlan.js';

const NET: ProjectNetworkSpec = {
  networkId: 'net-1',
  vni: 1001,
  cidr: '10.0.0.0/24',
  gatewayIp: '10.0.0.1',
  dhcpIp: '10.0.0.2',
  mtu: 1450,
  dhcpRange: { start: '10.0.0.10', end: '10.0.0.200' },
  ports: [
    { mac: 'fa:16:3e:00:00:11', ip: '10.0.0.11', hostname: 'one' },
    { mac: 'fa:16:3e:00:00:12', ip: '10.0.0.12', hostname: 'two' },
  ],
};

const ROUTER: RouterSpec = {
  routerId: 'router-1',
  externalIp: '172.24.4.10',
  externalPrefix: 24,
  interfaces: [{ networkId: 'net-1', gatewayIp: '10.0.0.1', cidr: '10.0.0.0/24' }],
  floatingIps: [{ floatingIp: '172.24.4.20', fixedIp: '10.0.0.12', networkId: 'net-1' }],
};

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: Error & { kind?: string }) => {
    assert.equal(err.kind, 'invalid');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('project network specs', () => {
  it('accepts a network that fits the underlay', () => {
    assert.deepEqual(checkNetworkSpec(NET, 1450), { base: 0x0a000000, prefix: 24, size: 256 });
  });

  it('refuses an MTU the VXLAN header does not leave room for', () => {
    refuses(() => checkNetworkSpec({ ...NET, mtu: 1500 }, 1450), /MTU 1500.*576 to 1450/);
  });

  it('refuses a VNI outside 24 bits, a bad CIDR and addresses outside the subnet', () => {
    refuses(() => checkNetworkSpec({ ...NET, vni: 0 }, 1450), /VNI 0/);
    refuses(() => checkNetworkSpec({ ...NET, vni: 2 ** 24 }, 1450), /VNI/);
    refuses(() => checkNetworkSpec({ ...NET, cidr: '10.0.0.1/24' }, 1450), /not a CIDR/);
    refuses(() => checkNetworkSpec({ ...NET, dhcpIp: '10.0.1.2' }, 1450), /DHCP address/);
    refuses(() => checkNetworkSpec({ ...NET, dhcpIp: '10.0.0.255' }, 1450), /DHCP address/);
    refuses(
      () => checkNetworkSpec({ ...NET, dhcpRange: { start: '10.0.0.50', end: '10.0.0.20' } }, 1450),
      /ends before it starts/,
    );
  });

  it("refuses ports that repeat a MAC or an address, or take the network's own", () => {
    const [one, two] = NET.ports as [
      ProjectNetworkSpec['ports'][0],
      ProjectNetworkSpec['ports'][0],
    ];
    refuses(
      () => checkNetworkSpec({ ...NET, ports: [one, { ...two, mac: one.mac }] }, 1450),
      /repeats/,
    );
    refuses(
      () => checkNetworkSpec({ ...NET, ports: [one, { ...two, ip: one.ip }] }, 1450),
      /repeats/,
    );
    refuses(
      () => checkNetworkSpec({ ...NET, ports: [{ ...one, ip: '10.0.0.2' }] }, 1450),
      /uses itself/,
    );
    refuses(
      () => checkNetworkSpec({ ...NET, ports: [{ ...one, mac: '01:00:5e:00:00:01' }] }, 1450),
      /unicast MAC/,
    );
  });
});

describe('router specs', () => {
  const nets = new Map([[NET.networkId, NET]]);

  it('accepts a router on a network that is here', () => {
    checkRouterSpec(ROUTER, nets);
  });

  it("refuses a leg on a network that is not here, or at the DHCP port's address", () => {
    refuses(
      () =>
        checkRouterSpec(
          { ...ROUTER, interfaces: [{ ...ROUTER.interfaces[0]!, networkId: 'other' }] },
          nets,
        ),
      /not here/,
    );
    refuses(
      () =>
        checkRouterSpec(
          { ...ROUTER, interfaces: [{ ...ROUTER.interfaces[0]!, gatewayIp: '10.0.0.2' }] },
          nets,
        ),
      /cannot be its address/,
    );
  });

  it('refuses two legs whose networks overlap', () => {
    const other: ProjectNetworkSpec = {
      ...NET,
      networkId: 'net-2',
      vni: 1002,
      cidr: '10.0.0.0/24',
    };
    refuses(
      () =>
        checkRouterSpec(
          {
            ...ROUTER,
            interfaces: [
              ...ROUTER.interfaces,
              { networkId: 'net-2', gatewayIp: '10.0.0.1', cidr: '10.0.0.0/24' },
            ],
          },
          new Map([...nets, ['net-2', other]]),
        ),
      /overlap/,
    );
  });

  it('refuses a floating IP to an address off its networks, or given twice', () => {
    refuses(
      () =>
        checkRouterSpec(
          { ...ROUTER, floatingIps: [{ ...ROUTER.floatingIps[0]!, fixedIp: '10.9.0.5' }] },
          nets,
        ),
      /not on a network/,
    );
    refuses(
      () =>
        checkRouterSpec(
          { ...ROUTER, floatingIps: [ROUTER.floatingIps[0]!, ROUTER.floatingIps[0]!] },
          nets,
        ),
      /given twice/,
    );
    refuses(
      () =>
        checkRouterSpec(
          { ...ROUTER, floatingIps: [{ ...ROUTER.floatingIps[0]!, floatingIp: '172.24.4.10' }] },
          nets,
        ),
      /cannot be a floating IP/,
    );
  });
});

describe('further subnets and routers without a gateway', () => {
  const TWO: ProjectNetworkSpec = {
    ...NET,
    moreSubnets: [
      {
        cidr: '10.0.1.0/24',
        gatewayIp: '10.0.1.1',
        dhcpIp: '10.0.1.2',
        dhcpRange: { start: '10.0.1.10', end: '10.0.1.200' },
      },
    ],
    ports: [...NET.ports, { mac: 'fa:16:3e:00:00:13', ip: '10.0.1.13', hostname: 'three' }],
  };

  it('accepts a port on a further subnet, and refuses overlapping subnets or a port outside all', () => {
    assert.doesNotThrow(() => checkNetworkSpec(TWO, 1450));
    refuses(
      () =>
        checkNetworkSpec(
          {
            ...TWO,
            moreSubnets: [{ ...(TWO.moreSubnets?.[0] as SubnetSpec), cidr: '10.0.0.0/23' }],
          },
          1450,
        ),
      /overlap/,
    );
    refuses(
      () =>
        checkNetworkSpec(
          { ...NET, ports: [{ mac: 'fa:16:3e:00:00:13', ip: '10.0.1.13', hostname: 'x' }] },
          1450,
        ),
      /not a host address of its subnets/,
    );
    refuses(
      () =>
        checkNetworkSpec(
          { ...TWO, ports: [{ mac: 'fa:16:3e:00:00:13', ip: '10.0.1.2', hostname: 'x' }] },
          1450,
        ),
      /which the network uses itself/,
    );
  });

  it('accepts a router without an external gateway on two subnets of one network', () => {
    const router: RouterSpec = {
      routerId: 'router-2',
      interfaces: [
        { networkId: 'net-1', gatewayIp: '10.0.0.1', cidr: '10.0.0.0/24' },
        { networkId: 'net-1', gatewayIp: '10.0.1.1', cidr: '10.0.1.0/24' },
      ],
      floatingIps: [],
    };
    assert.doesNotThrow(() => checkRouterSpec(router, new Map([['net-1', TWO]])));
    refuses(
      () =>
        checkRouterSpec({ ...router, floatingIps: ROUTER.floatingIps }, new Map([['net-1', TWO]])),
      /no external gateway/,
    );
    refuses(
      () =>
        checkRouterSpec(
          {
            ...router,
            interfaces: [{ networkId: 'net-1', gatewayIp: '10.0.2.1', cidr: '10.0.2.0/24' }],
          },
          new Map([['net-1', TWO]]),
        ),
      /not a subnet of the network/,
    );
  });

  it('renders only metadata for a router without a public leg: it forwards between its legs', () => {
    const text = renderRouterTable({
      legs: [
        { ifname: 'qr1001', cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', metadata: true },
        { ifname: 'qr1001', cidr: '10.0.1.0/24', gatewayIp: '10.0.1.1', metadata: true },
        { ifname: 'qr1002', cidr: '10.9.0.0/24', gatewayIp: '10.9.0.1', metadata: true },
      ],
      floating: new Map(),
    });
    assert.equal(
      [...text.matchAll(/dnat ip to (\S+)/g)].map((m) => m[1]).join(' '),
      '10.0.0.1:8775 10.9.0.1:8775',
    );
    assert.doesNotMatch(text, /snat|masquerade|drop|fip_/);
    assert.throws(() =>
      renderRouterTable({ legs: [], floating: new Map([['172.24.4.20', '10.0.0.12']]) }),
    );
  });
});

describe('overlay tables', () => {
  it('renders floating IPs, SNAT as the router, per-leg metadata and no way in from outside', () => {
    const text = renderRouterTable({
      external: { ifname: 'qg0', address: '172.24.4.10' },
      legs: [{ ifname: 'qr1001', cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', metadata: true }],
      floating: new Map([['172.24.4.20', '10.0.0.12']]),
    });
    assert.match(
      text,
      /map fip_dnat \{ type ipv4_addr : ipv4_addr; elements = \{ 172\.24\.4\.20 : 10\.0\.0\.12 \}/,
    );
    assert.match(text, /oifname "qg0" snat ip to ip saddr map @fip_snat/);
    assert.match(text, /oifname "qg0" ip saddr \{ 10\.0\.0\.0\/24 \} snat ip to 172\.24\.4\.10/);
    assert.match(
      text,
      /iifname "qr1001" ip daddr 169\.254\.169\.254 tcp dport 80 dnat ip to 10\.0\.0\.1:8775/,
    );
    assert.match(text, /iifname "qg0" ct status dnat accept\n {4}iifname "qg0" drop/);
  });

  it("closes the external leg to a leg without egress, and fences a leg's partial egress", () => {
    const text = renderRouterTable({
      external: { ifname: 'qg0', address: '172.24.4.10' },
      legs: [
        { ifname: 'qr1001', cidr: '10.0.0.0/24', gatewayIp: '10.0.0.1', metadata: false },
        {
          ifname: 'qr1002',
          cidr: '10.0.1.0/24',
          gatewayIp: '10.0.1.1',
          metadata: false,
          egress: [],
        },
        {
          ifname: 'qr1003',
          cidr: '10.0.2.0/24',
          gatewayIp: '10.0.2.1',
          metadata: false,
          egress: ['198.51.100.0/24', '198.51.100.128/25', '203.0.113.7/32'],
        },
        {
          ifname: 'qr1004',
          cidr: '10.0.3.0/24',
          gatewayIp: '10.0.3.1',
          metadata: false,
          egress: ['0.0.0.0/0'],
        },
      ],
      floating: new Map(),
    });
    // SNAT as the router: the open legs fully, the partial one to its destinations only.
    assert.match(
      text,
      /oifname "qg0" ip saddr \{ 10\.0\.0\.0\/24, 10\.0\.3\.0\/24 \} snat ip to 172\.24\.4\.10/,
    );
    assert.match(
      text,
      /oifname "qg0" ip saddr 10\.0\.2\.0\/24 ip daddr \{ 198\.51\.100\.0\/24, 203\.0\.113\.7\/32 \} snat/,
    );
    assert.doesNotMatch(text, /10\.0\.1\.0\/24[^\n]*snat/);
    assert.match(text, /iifname "qr1002" oifname "qg0" drop/);
    assert.match(text, /iifname "qg0" oifname "qr1002" drop/);
    assert.match(
      text,
      /iifname "qr1003" oifname "qg0" ip daddr != \{ 198\.51\.100\.0\/24, 203\.0\.113\.7\/32 \} drop/,
    );
    // The fence comes before replies and floating IPs are let in.
    assert.ok(text.indexOf('oifname "qr1002" drop') < text.indexOf('ct state established'));
    assert.doesNotMatch(text, /"qr1001" oifname|"qr1004" oifname/);
  });

  it('refuses to render a table from input that is not an address or an interface name', () => {
    assert.throws(() =>
      renderRouterTable({
        external: { ifname: 'qg0; flush ruleset', address: '172.24.4.10' },
        legs: [],
        floating: new Map(),
      }),
    );
    assert.throws(() =>
      renderOverlayPortTable([{ ifname: 'otp1', mac: 'fa:16:3e:00:00:01', fixedIp: '10.0.0.300' }]),
    );
  });

  it('reads the flood entries of a VXLAN device', () => {
    const text = [
      '00:00:00:00:00:00 dst 10.99.0.2 self permanent',
      '00:00:00:00:00:00 dst 10.99.0.3 self permanent',
      'fa:16:3e:00:00:12 dst 10.99.0.2 self ',
    ].join('\n');
    assert.deepEqual(parseFloodPeers(text), ['10.99.0.2', '10.99.0.3']);
  });
});
