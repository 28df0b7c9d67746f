// openstackclient against the Networking API (issue 16), as a project member runs it:
// `network`, `subnet`, `port`, `router`, `security group` (and rules, egress ones too) and `floating ip`
// create/list/show/delete, a router's external gateway and subnet interfaces, and
// `server add floating ip` onto an instance of the flat network; errors come back as
// NeutronError messages that the client prints.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, openstack, PASSWORD } from './support/openstack.js';

type Row = Record<string, unknown>;

describe('openstackclient on the Networking API', needs('openstackclient'), () => {
  let t: TestCloud;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    t = await startTestCloud();
    const identity = new IdentityService(t.cloud.database.db);
    await identity.createUser({ name: 'carol', password: PASSWORD });
    await identity.createProject({ name: 'carol-project' });
    await identity.grantRole('carol', 'carol-project', 'member');
    env = { ...adminEnv(t), OS_USERNAME: 'carol', OS_PROJECT_NAME: 'carol-project' };
  });
  after(async () => {
    await t.stop();
  });

  const os = async (...args: string[]): Promise<unknown> => {
    const r = await openstack(env, args);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
    return r.out.trim() ? (JSON.parse(r.out) as unknown) : undefined;
  };
  const json = async (...args: string[]) => (await os(...args, '-f', 'json')) as Row;
  const rows = async (...args: string[]) => (await os(...args, '-f', 'json')) as Row[];
  const refused = async (pattern: RegExp, ...args: string[]) => {
    const r = await openstack(env, args);
    assert.notEqual(r.code, 0, `openstack ${args.join(' ')} should fail`);
    assert.match(r.err, pattern);
  };

  it('makes, lists, shows and deletes networks, subnets and ports', async () => {
    const net = await json('network', 'create', '--description', 'app tier', 'app');
    assert.equal(net['name'], 'app');
    assert.equal(net['mtu'], 1450);
    const subnet = await json(
      'subnet',
      'create',
      '--network',
      'app',
      '--subnet-range',
      '192.168.50.0/24',
      '--allocation-pool',
      'start=192.168.50.10,end=192.168.50.20',
      '--dns-nameserver',
      '192.168.50.2',
      '--host-route',
      'destination=10.30.0.0/16,gateway=192.168.50.254',
      'app-subnet',
    );
    assert.equal(subnet['cidr'], '192.168.50.0/24');
    assert.equal(subnet['gateway_ip'], '192.168.50.1');
    const names = (await rows('network', 'list')).map((n) => n['Name']);
    assert.ok(names.includes('app'), JSON.stringify(names));
    const subnets = await rows('subnet', 'list', '--network', 'app');
    assert.deepEqual(
      subnets.map((s) => s['Subnet']),
      ['192.168.50.0/24'],
    );
    const shownNet = await json('network', 'show', 'app');
    assert.deepEqual(shownNet['subnets'], [subnet['id']]);

    const port = await json(
      'port',
      'create',
      '--network',
      'app',
      '--fixed-ip',
      'subnet=app-subnet,ip-address=192.168.50.15',
      '--allowed-address',
      'ip-address=192.168.50.99',
      'app-port',
    );
    assert.deepEqual(port['fixed_ips'], [{ subnet_id: subnet['id'], ip_address: '192.168.50.15' }]);
    const ports = await rows('port', 'list', '--network', 'app');
    assert.deepEqual(
      ports.map((p) => p['Name']),
      ['app-port'],
    );
    const byAddress = await rows('port', 'list', '--fixed-ip', 'ip-address=192.168.50.15');
    assert.deepEqual(
      byAddress.map((p) => p['ID']),
      [port['id']],
    );
    const shownPort = await json('port', 'show', 'app-port');
    assert.equal(shownPort['mac_address'], port['mac_address']);
    await os('port', 'set', '--name', 'renamed-port', 'app-port');
    assert.equal((await json('port', 'show', 'renamed-port'))['id'], port['id']);

    // Deleting the network with a port on it is refused with the API's message.
    await refused(/ports still in use|in use/i, 'network', 'delete', 'app');
    await refused(
      /overlaps with another subnet/,
      'subnet',
      'create',
      '--network',
      'app',
      '--subnet-range',
      '192.168.50.128/25',
      'clash',
    );
    await os('port', 'delete', 'renamed-port');
    await os('subnet', 'delete', 'app-subnet');
    await os('network', 'delete', 'app');
    await refused(/No Network found|not found/i, 'network', 'show', 'app');
  });

  it('makes a router with an external gateway and a subnet interface', async () => {
    await json('network', 'create', 'inner');
    await json(
      'subnet',
      'create',
      '--network',
      'inner',
      '--subnet-range',
      '10.91.0.0/24',
      'inner-subnet',
    );
    const router = await json('router', 'create', 'edge');
    assert.equal(router['name'], 'edge');
    await os('router', 'set', '--external-gateway', 'public', 'edge');
    const withGateway = await json('router', 'show', 'edge');
    assert.equal(
      (withGateway['external_gateway_info'] as Row)['enable_snat'],
      true,
      JSON.stringify(withGateway),
    );
    await os('router', 'add', 'subnet', 'edge', 'inner-subnet');
    const interfacePorts = await rows('port', 'list', '--router', 'edge');
    assert.equal(interfacePorts.length, 1);
    await refused(/already|in use/i, 'router', 'add', 'subnet', 'edge', 'inner-subnet');
    await refused(/still has ports|in use/i, 'router', 'delete', 'edge');
    assert.deepEqual(
      (await rows('router', 'list')).map((r) => r['Name']),
      ['edge'],
    );
    await os('router', 'remove', 'subnet', 'edge', 'inner-subnet');
    await os('router', 'unset', '--external-gateway', 'edge');
    await os('router', 'delete', 'edge');
    await os('subnet', 'delete', 'inner-subnet');
    await os('network', 'delete', 'inner');
  });

  it('makes and deletes egress rules, the allow-all one included', async () => {
    await json('security', 'group', 'create', 'out', '--description', 'narrow egress');
    const before = await rows('security', 'group', 'rule', 'list', '--egress', 'out');
    assert.equal(before.length, 1, JSON.stringify(before));
    const allowAll = await json('security', 'group', 'rule', 'show', String(before[0]?.['ID']));
    assert.equal(allowAll['direction'], 'egress');
    assert.equal(allowAll['protocol'], null);
    const https = await json(
      'security',
      'group',
      'rule',
      'create',
      '--egress',
      '--protocol',
      'tcp',
      '--dst-port',
      '443',
      '--remote-ip',
      '192.0.2.0/24',
      'out',
    );
    assert.equal(https['direction'], 'egress');
    assert.equal(https['port_range_min'], 443);
    await os('security', 'group', 'rule', 'delete', String(allowAll['id']));
    const after = await rows('security', 'group', 'rule', 'list', '--egress', 'out');
    assert.deepEqual(
      after.map((r) => r['ID']),
      [https['id']],
    );
    await os('security', 'group', 'delete', 'out');
  });

  it('makes security groups and rules, and points a floating IP at a server', async () => {
    const group = await json('security', 'group', 'create', 'ssh', '--description', 'ssh in');
    assert.equal(group['name'], 'ssh');
    const rule = await json(
      'security',
      'group',
      'rule',
      'create',
      '--protocol',
      'tcp',
      '--dst-port',
      '22',
      '--remote-ip',
      '0.0.0.0/0',
      'ssh',
    );
    assert.equal(rule['port_range_min'], 22);
    const rules = await rows('security', 'group', 'rule', 'list', 'ssh');
    assert.ok(
      rules.some((r) => r['ID'] === rule['id']),
      JSON.stringify(rules),
    );
    assert.ok((await rows('security', 'group', 'list')).some((g) => g['Name'] === 'ssh'));
    await refused(
      /protocol|not supported/i,
      'security',
      'group',
      'rule',
      'create',
      '--protocol',
      'gre',
      'ssh',
    );
    await os('security', 'group', 'rule', 'delete', String(rule['id']));

    const image = await t.addImage({ name: 'fip-image' });
    const server = await json(
      'server',
      'create',
      '--image',
      image.id,
      '--flavor',
      'm1.nano',
      '--security-group',
      'ssh',
      '--wait',
      'vm1',
    );
    const ports = await waitUntil(
      async () => {
        const p = await rows('port', 'list', '--server', 'vm1');
        return p.length === 1 ? p : undefined;
      },
      30_000,
      'the server port',
    );
    const fip = await json('floating', 'ip', 'create', 'public');
    const address = String(fip['floating_ip_address']);
    await os('server', 'add', 'floating', 'ip', 'vm1', address);
    const shown = await json('floating', 'ip', 'show', address);
    assert.equal(shown['port_id'], ports[0]?.['ID']);
    const listed = await rows('floating', 'ip', 'list');
    assert.deepEqual(
      listed.map((f) => f['Floating IP Address']),
      [address],
    );
    await os('server', 'remove', 'floating', 'ip', 'vm1', address);
    assert.equal((await json('floating', 'ip', 'show', address))['port_id'], null);
    await os('floating', 'ip', 'delete', address);
    assert.deepEqual(await rows('floating', 'ip', 'list'), []);
    await os('server', 'delete', '--wait', String(server['id']));
    await os('security', 'group', 'delete', 'ssh');
  });

  it('puts servers on project networks and ports with server create --network and --nic', async () => {
    await json('network', 'create', 'web');
    await json(
      'subnet',
      'create',
      '--network',
      'web',
      '--subnet-range',
      '10.90.0.0/24',
      'web-subnet',
    );
    const given = await json(
      'port',
      'create',
      '--network',
      'web',
      '--fixed-ip',
      'ip-address=10.90.0.30',
      'given',
    );
    const image = await t.addImage({ name: 'nic-image' });
    const server = async (name: string, ...nics: string[]) =>
      json('server', 'create', '--image', image.id, '--flavor', 'm1.nano', ...nics, '--wait', name);
    const vm2 = await server(
      'vm2',
      '--nic',
      'net-id=web,v4-fixed-ip=10.90.0.20',
      '--nic',
      `port-id=${String(given['id'])}`,
    );
    const addressesOf = (p: Row[]) =>
      p
        .flatMap((x) => x['Fixed IP Addresses'] as { ip_address: string }[])
        .map((f) => f.ip_address)
        .filter((a) => a.startsWith('10.90.'))
        .sort();
    assert.deepEqual(addressesOf(await rows('port', 'list', '--server', 'vm2')), [
      '10.90.0.20',
      '10.90.0.30',
    ]);
    const shown = await json('server', 'show', 'vm2');
    const web = (shown['addresses'] as Record<string, string[]>)['web'];
    assert.deepEqual([...(web ?? [])].sort(), ['10.90.0.20', '10.90.0.30']);
    await refused(
      /in use/,
      'server',
      'create',
      '--image',
      image.id,
      '--flavor',
      'm1.nano',
      '--nic',
      `port-id=${String(given['id'])}`,
      'vm4',
    );
    const vm3 = await server('vm3', '--network', 'web');
    assert.equal(addressesOf(await rows('port', 'list', '--server', 'vm3')).length, 1);

    await os('server', 'delete', '--wait', String(vm2['id']), String(vm3['id']));
    const left = await rows('port', 'list', '--network', 'web', '--long');
    assert.deepEqual(
      left.map((p) => [p['ID'], p['Device Owner'] ?? '']),
      [[given['id'], '']],
    );
  });
});
