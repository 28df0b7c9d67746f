// The Compute API's `networks` at server create over the Networking API's model (issue 16):
// a project network makes a port bound to the server (with the fixed IP asked for), a port
// is bound as it is, the flat network keeps its behaviour; Nova's faults for a missing
// network, a port in use or another project's, a taken address; deleting the server deletes
// the ports made for it and unbinds the ones it was given. And the Networking API's faults for
// the bad input, each leaving nothing behind.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { sqliteBackend } from './support/databases.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';

type Json = Record<string, unknown>;
type Port = Json & { id: string; device_id: string; fixed_ips: { ip_address: string }[] };

describe(
  'Compute networks at server create, over project networks',
  needs(...sqliteBackend.needs),
  () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let netUrl: string;
    let computeUrl: string;
    let alice: string;
    let bob: string;
    let imageId: string;

    before(async () => {
      database = await sqliteBackend.create();
      t = await startTestCloud({ database: database.url });
      netUrl = t.cloud.urls?.network as string;
      computeUrl = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
      const identity = new IdentityService(t.cloud.database.db);
      await t.newProject('alice');
      await identity.setPassword('alice-user', PASSWORD);
      await identity.createUser({ name: 'bob', password: PASSWORD });
      await identity.createProject({ name: 'bob-project' });
      await identity.grantRole('bob', 'bob-project', 'member');
      const identityUrl = t.cloud.urls?.identity as string;
      alice = await login(identityUrl, 'alice-user', 'alice');
      bob = await login(identityUrl, 'bob', 'bob-project');
      imageId = (await t.addImage({ name: 'cirros' })).id;
    });
    after(async () => {
      await t.stop();
      await database.remove();
    });

    const call = async (
      base: string,
      token: string,
      method: string,
      path: string,
      body?: unknown,
    ) => {
      const r = await fetch(`${base}${path}`, {
        method,
        headers: {
          'x-auth-token': token,
          'openstack-api-version': 'compute 2.93',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : {}) as Json };
    };
    const net = (token: string, method: string, path: string, body?: unknown) =>
      call(netUrl, token, method, path, body);
    const compute = (token: string, method: string, path: string, body?: unknown) =>
      call(computeUrl, token, method, path, body);
    const made = async (token: string, path: string, body: Json) => {
      const r = await net(token, 'POST', path, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return Object.values(r.body)[0] as Json & { id: string };
    };
    const create = (token: string, networks: unknown, extra: Json = {}) =>
      compute(token, 'POST', '/v2.1/servers', {
        server: { name: 'vm', imageRef: imageId, flavorRef: 'm1.nano', networks, ...extra },
      });
    let network: string;
    let subnet: string;
    /** The caller's ports on project networks (instances' ports on the flat network come and go). */
    const ports = async (token: string) =>
      ((await net(token, 'GET', '/v2.0/ports')).body['ports'] as Port[]).filter(
        (p) => p['network_id'] === network,
      );
    const portsOf = async (token: string, serverId: string) =>
      (await net(token, 'GET', `/v2.0/ports?device_id=${serverId}`)).body['ports'] as Port[];
    const servers = async (token: string) =>
      ((await compute(token, 'GET', '/v2.1/servers')).body['servers'] as Json[]).length;
    const computeFault = (r: { status: number; body: Json }, status: number, message: RegExp) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      const fault = Object.values(r.body)[0] as { code: number; message: string };
      assert.equal(fault.code, status);
      assert.match(fault.message, message);
    };
    const neutronFault = (r: { status: number; body: Json }, status: number, type: string) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal((r.body['NeutronError'] as { type: string }).type, type, JSON.stringify(r.body));
    };

    it('makes a bound port on a project network, with the fixed IP asked for, and shows it in addresses', async () => {
      network = (await made(alice, '/v2.0/networks', { network: { name: 'blue' } })).id;
      subnet = (
        await made(alice, '/v2.0/subnets', {
          subnet: { network_id: network, cidr: '10.80.0.0/24', ip_version: 4 },
        })
      ).id;
      const r = await create(alice, [{ uuid: network }]);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = (r.body['server'] as { id: string }).id;
      const [port, ...more] = await portsOf(alice, id);
      assert.ok(port);
      assert.equal(more.length, 0);
      assert.match(String(port['device_owner']), /^compute:/);
      assert.equal(port.device_id, id);
      const shown = (await compute(alice, 'GET', `/v2.1/servers/${id}`)).body['server'] as {
        addresses: Record<string, { addr: string; 'OS-EXT-IPS:type': string }[]>;
      };
      assert.deepEqual(
        shown.addresses['blue']?.map((a) => [a.addr, a['OS-EXT-IPS:type']]),
        [[port.fixed_ips[0]?.ip_address, 'fixed']],
      );

      const fixed = await create(alice, [{ uuid: network, fixed_ip: '10.80.0.50' }]);
      assert.equal(fixed.status, 202, JSON.stringify(fixed.body));
      const fixedId = (fixed.body['server'] as { id: string }).id;
      assert.equal((await portsOf(alice, fixedId))[0]?.fixed_ips[0]?.ip_address, '10.80.0.50');

      // Deleting a server deletes the port made for it.
      assert.equal((await compute(alice, 'DELETE', `/v2.1/servers/${id}`)).status, 204);
      assert.equal((await portsOf(alice, id)).length, 0);
      assert.ok(!(await ports(alice)).some((p) => p.id === port.id));
    });

    it('binds a port passed in, refuses it once in use, and only unbinds it when the server goes', async () => {
      const port = await made(alice, '/v2.0/ports', { port: { network_id: network } });
      const r = await create(alice, [{ port: port.id }, { uuid: network }]);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const id = (r.body['server'] as { id: string }).id;
      const bound = await portsOf(alice, id);
      assert.equal(bound.length, 2);
      assert.ok(bound.some((p) => p.id === port.id));
      // os-interface lists and shows the server's ports; another project's server is not found.
      const attached = (await compute(alice, 'GET', `/v2.1/servers/${id}/os-interface`)).body[
        'interfaceAttachments'
      ] as { port_id: string; net_id: string; fixed_ips: unknown[] }[];
      for (const p of bound) {
        assert.ok(attached.some((a) => a.port_id === p.id && a.net_id === network));
      }
      const one = await compute(alice, 'GET', `/v2.1/servers/${id}/os-interface/${port.id}`);
      assert.equal(one.status, 200, JSON.stringify(one.body));
      assert.equal((one.body['interfaceAttachment'] as { port_id: string }).port_id, port.id);
      computeFault(
        await compute(bob, 'GET', `/v2.1/servers/${id}/os-interface`),
        404,
        /could not be found/,
      );
      computeFault(
        await compute(alice, 'GET', `/v2.1/servers/${id}/os-interface/${network}`),
        404,
        /not attached/,
      );
      const before = { ports: (await ports(alice)).length, servers: await servers(alice) };
      computeFault(await create(alice, [{ port: port.id }]), 409, /in use/);
      assert.deepEqual(
        { ports: (await ports(alice)).length, servers: await servers(alice) },
        before,
      );
      assert.equal((await compute(alice, 'DELETE', `/v2.1/servers/${id}`)).status, 204);
      const left = (await ports(alice)).find((p) => p.id === port.id);
      assert.ok(left, 'a port passed in stays');
      assert.equal(left.device_id, '');
      assert.equal(left['device_owner'], '');
      assert.equal((await portsOf(alice, id)).length, 0);
    });

    it('keeps the flat network as before and refuses what Nova refuses, leaving nothing behind', async () => {
      const flat = (
        (await net(alice, 'GET', '/v2.0/networks?shared=true')).body['networks'] as Json[]
      ).find((n) => n['router:external'] === false) as Json;
      const onFlat = await create(alice, [{ uuid: flat['id'] }]);
      assert.equal(onFlat.status, 202, JSON.stringify(onFlat.body));
      const flatId = (onFlat.body['server'] as { id: string }).id;
      await waitUntil(
        async () => {
          const s = (await compute(alice, 'GET', `/v2.1/servers/${flatId}`)).body['server'] as Json;
          return Object.keys(s['addresses'] as Json).length > 0;
        },
        10_000,
        'the flat server has its address',
      );

      const bobNet = (await made(bob, '/v2.0/networks', { network: { name: 'bobs' } })).id;
      await made(bob, '/v2.0/subnets', {
        subnet: { network_id: bobNet, cidr: '10.80.0.0/24', ip_version: 4 },
      });
      const bobPort = await made(bob, '/v2.0/ports', { port: { network_id: bobNet } });
      const pool = (
        (await net(alice, 'GET', '/v2.0/networks?router:external=true')).body['networks'] as Json[]
      )[0] as Json;
      const before = { ports: (await ports(alice)).length, servers: await servers(alice) };
      computeFault(
        await create(alice, [{ uuid: '3e5a4b9c-0000-4000-8000-000000000000' }]),
        400,
        /network/,
      );
      computeFault(await create(alice, [{ uuid: bobNet }]), 400, /network/);
      computeFault(await create(alice, [{ port: bobPort.id }]), 400, /[Pp]ort/);
      computeFault(await create(alice, [{ uuid: pool['id'] }]), 403, /external network/);
      computeFault(await create(alice, [{ uuid: 'x' }]), 400, /networks/);
      const bare = (await made(alice, '/v2.0/networks', { network: { name: 'bare' } })).id;
      computeFault(await create(alice, [{ uuid: bare }]), 400, /requires a subnet/);
      computeFault(
        await create(alice, [{ uuid: network, fixed_ip: '10.80.0.999' }]),
        400,
        /fixed_ip/,
      );
      computeFault(
        await create(alice, [{ uuid: network, fixed_ip: '10.81.0.5' }]),
        400,
        /10\.81\.0\.5/,
      );
      // An address in use: 409, and the server's other port is not left behind.
      computeFault(
        await create(alice, [{ uuid: network }, { uuid: network, fixed_ip: '10.80.0.50' }]),
        409,
        /10\.80\.0\.50/,
      );
      computeFault(
        await create(alice, [{ uuid: network, fixed_ip: '10.80.0.60' }], { max_count: 2 }),
        400,
        /one instance/,
      );
      assert.deepEqual(
        { ports: (await ports(alice)).length, servers: await servers(alice) },
        before,
      );
      // Several servers at once on a network: a port each.
      const two = await create(alice, [{ uuid: network }], { min_count: 2, max_count: 2 });
      assert.equal(two.status, 202, JSON.stringify(two.body));
      assert.equal((await ports(alice)).length, before.ports + 2);
    });

    it("answers Neutron's faults for the issue's bad input and leaves nothing behind", async () => {
      const count = async () => {
        const n = async (path: string, key: string) =>
          ((await net(alice, 'GET', path)).body[key] as Json[]).length;
        return {
          networks: await n('/v2.0/networks', 'networks'),
          subnets: await n('/v2.0/subnets', 'subnets'),
          ports: await n(`/v2.0/ports?network_id=${network}`, 'ports'),
          routers: await n('/v2.0/routers', 'routers'),
          floatingips: await n('/v2.0/floatingips', 'floatingips'),
        };
      };
      const router = (await made(alice, '/v2.0/routers', { router: { name: 'r' } })).id;
      const attached = await net(alice, 'PUT', `/v2.0/routers/${router}/add_router_interface`, {
        subnet_id: subnet,
      });
      assert.equal(attached.status, 200, JSON.stringify(attached.body));
      const bobNet = (
        ((await net(bob, 'GET', '/v2.0/networks')).body['networks'] as Json[]).find(
          (n) => n['name'] === 'bobs',
        ) as Json
      )['id'];
      const before = await count();
      const sub = (cidr: string) => ({ subnet: { network_id: network, cidr, ip_version: 4 } });
      neutronFault(
        await net(alice, 'POST', '/v2.0/subnets', sub('10.80.0.128/25')),
        400,
        'InvalidInput',
      );
      neutronFault(
        await net(alice, 'POST', '/v2.0/subnets', sub('10.82.0.0/31')),
        400,
        'InvalidInput',
      );
      neutronFault(
        await net(alice, 'POST', '/v2.0/subnets', sub('10.82.0/24')),
        400,
        'InvalidInput',
      );
      neutronFault(
        await net(alice, 'POST', '/v2.0/ports', { port: { network_id: bobNet } }),
        404,
        'NetworkNotFound',
      );
      const again = await net(alice, 'PUT', `/v2.0/routers/${router}/add_router_interface`, {
        subnet_id: subnet,
      });
      assert.equal(again.status, 400, JSON.stringify(again.body));
      neutronFault(await net(alice, 'DELETE', `/v2.0/networks/${network}`), 409, 'NetworkInUse');
      neutronFault(
        await net(alice, 'POST', '/v2.0/floatingips', {
          floatingip: { floating_network_id: network },
        }),
        400,
        'BadRequest',
      );
      assert.deepEqual(await count(), before);
    });

    it("gives a server an address from a network's second subnet, through a port or a fixed IP", async () => {
      const green = (await made(alice, '/v2.0/networks', { network: { name: 'green' } })).id;
      const first = { network_id: green, ip_version: 4 };
      await made(alice, '/v2.0/subnets', { subnet: { ...first, cidr: '10.83.0.0/24' } });
      const second = (
        await made(alice, '/v2.0/subnets', { subnet: { ...first, cidr: '10.83.1.0/24' } })
      ).id;
      const port = await made(alice, '/v2.0/ports', {
        port: { network_id: green, fixed_ips: [{ subnet_id: second }] },
      });
      const viaPort = await create(alice, [{ port: port.id }]);
      assert.equal(viaPort.status, 202, JSON.stringify(viaPort.body));
      const viaIp = await create(alice, [{ uuid: green, fixed_ip: '10.83.1.40' }]);
      assert.equal(viaIp.status, 202, JSON.stringify(viaIp.body));
      for (const [r, want] of [
        [viaPort, /^10\.83\.1\.\d+$/],
        [viaIp, /^10\.83\.1\.40$/],
      ] as const) {
        const id = (r.body['server'] as { id: string }).id;
        const shown = (await compute(alice, 'GET', `/v2.1/servers/${id}`)).body['server'] as {
          addresses: Record<string, { addr: string }[]>;
        };
        assert.equal(shown.addresses['green']?.length, 1, JSON.stringify(shown.addresses));
        assert.match(shown.addresses['green']?.[0]?.addr ?? '', want);
      }
    });
  },
);
