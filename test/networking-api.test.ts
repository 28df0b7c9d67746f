// The OpenStack Networking API v2.0 (issue 16) on SQLite and PostgreSQL, over raw HTTP checked
// against the API reference's schemas (test/support/schemas/networking.ts): networks, subnets,
// ports and routers of projects, the flat network as a shared provider network with its
// instances' ports, security groups and floating IPs that EC2 shows too, listing controls,
// quotas and IP availabilities, policy, and every bad input as a NeutronError with a 4xx.
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  DescribeAddressesCommand,
  DescribeSecurityGroupsCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import type { AnySchema } from 'ajv';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EndpointRepo, NetworkRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { assertSchema } from './support/api-schema.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { disconnected } from './support/expect.js';
import { login, PASSWORD } from './support/openstack.js';
import {
  extensionList,
  faultResponse,
  floatingIpList,
  floatingIpResponse,
  ipAvailabilityList,
  networkList,
  networkResponse,
  portList,
  portResponse,
  quotaDetailResponse,
  quotaResponse,
  routerInterfaceResponse,
  routerList,
  routerResponse,
  securityGroupList,
  securityGroupResponse,
  securityGroupRuleResponse,
  subnetList,
  subnetResponse,
  versionsResponse,
} from './support/schemas/networking.js';

type Json = Record<string, unknown>;

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(`Networking API on ${backend.name}`, needs(...backend.needs), () => {
    let t: TestCloud;
    let database: { url: string; remove(): Promise<void> };
    let url: string;
    let admin: string;
    let alice: string;
    let bob: string;
    let reader: string;
    let aliceProject: string;
    let bobProject: string;
    let aliceEc2: Awaited<ReturnType<TestCloud['newProject']>>;

    before(async () => {
      database = await backend.create();
      t = await startTestCloud({
        database: database.url,
        'quota-addresses': '3',
        'project-vni-min': '5000',
        'project-vni-max': '5999',
      });
      url = t.cloud.urls?.network as string;
      const identity = new IdentityService(t.cloud.database.db);
      await identity.setPassword('admin', PASSWORD);
      aliceEc2 = await t.newProject('alice');
      aliceProject = aliceEc2.projectId;
      await identity.setPassword('alice-user', PASSWORD);
      await identity.createUser({ name: 'bob', password: PASSWORD });
      bobProject = (await identity.createProject({ name: 'bob-project' })).id;
      await identity.grantRole('bob', 'bob-project', 'member');
      await identity.createUser({ name: 'rita', password: PASSWORD });
      await identity.grantRole('rita', 'alice', 'reader');
      const identityUrl = t.cloud.urls?.identity as string;
      admin = await login(identityUrl, 'admin', 'admin');
      alice = await login(identityUrl, 'alice-user', 'alice');
      bob = await login(identityUrl, 'bob', 'bob-project');
      reader = await login(identityUrl, 'rita', 'alice');
    });
    after(async () => {
      await t.stop();
      if (backend.name === 'postgres') await disconnected(database.url);
      await database.remove();
    });

    const call = async (
      token: string | undefined,
      method: string,
      path: string,
      body?: unknown,
    ) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(token ? { 'x-auth-token': token } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: text ? (JSON.parse(text) as Json) : {} };
    };
    const ok = async (
      token: string,
      method: string,
      path: string,
      body: unknown,
      status: number,
      schema?: AnySchema,
    ) => {
      const r = await call(token, method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      if (schema) assertSchema(schema, r.body, `${method} ${path}`);
      return r.body;
    };
    const fault = async (
      token: string | undefined,
      method: string,
      path: string,
      body: unknown,
      status: number,
      type: string,
    ) => {
      const r = await call(token, method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assertSchema(faultResponse, r.body, `${method} ${path} refused`);
      const e = (r.body as { NeutronError: { type: string; message: string } }).NeutronError;
      assert.equal(e.type, type, e.message);
      return e.message;
    };
    const newNetwork = async (token: string, fields: Json = {}) =>
      (
        (
          await ok(
            token,
            'POST',
            '/v2.0/networks',
            { network: { name: 'n', ...fields } },
            201,
            networkResponse,
          )
        ).network as Json
      ).id as string;
    const newSubnet = async (token: string, networkId: string, cidr: string, fields: Json = {}) =>
      (
        await ok(
          token,
          'POST',
          '/v2.0/subnets',
          { subnet: { network_id: networkId, cidr, ip_version: 4, ...fields } },
          201,
          subnetResponse,
        )
      ).subnet as Json;
    const newPort = async (token: string, networkId: string, fields: Json = {}) =>
      (
        await ok(
          token,
          'POST',
          '/v2.0/ports',
          { port: { network_id: networkId, ...fields } },
          201,
          portResponse,
        )
      ).port as Json & { fixed_ips: { subnet_id: string; ip_address: string }[] };

    it('is in the catalog as network and answers its version documents and extensions', async () => {
      const endpoints = new EndpointRepo(t.cloud.database.db);
      assert.equal(await endpoints.publicUrl('network', t.region), url);
      const root = await fetch(`${url}/`);
      assert.equal(root.status, 200);
      const versions = (await root.json()) as { versions: { id: string }[] };
      assertSchema(versionsResponse, versions, 'GET /');
      assert.equal(versions.versions[0]?.id, 'v2.0');
      const v2 = await call(undefined, 'GET', '/v2.0/');
      assert.equal(v2.status, 200);
      assert.ok((v2.body['resources'] as Json[]).some((r) => r['collection'] === 'networks'));
      const ext = await ok(alice, 'GET', '/v2.0/extensions', undefined, 200, extensionList);
      const aliases = (ext['extensions'] as { alias: string }[]).map((e) => e.alias);
      for (const a of [
        'external-net',
        'router',
        'security-group',
        'quotas',
        'network-ip-availability',
      ])
        assert.ok(aliases.includes(a), a);
      await ok(alice, 'GET', '/v2.0/extensions/router', undefined, 200);
      await fault(alice, 'GET', '/v2.0/extensions/nope', undefined, 404, 'HTTPNotFound');
      const anonymous = await call(undefined, 'GET', '/v2.0/networks');
      assert.equal(anonymous.status, 401);
      await fault(alice, 'GET', '/v2.0/nothing-here', undefined, 404, 'HTTPNotFound');
    });

    it('shows the flat network as a shared provider network and the pool as an external one', async () => {
      const list = await ok(alice, 'GET', '/v2.0/networks', undefined, 200, networkList);
      const networks = list['networks'] as Json[];
      const flat = networks.find((n) => n['shared'] === true);
      const pool = networks.find((n) => n['router:external'] === true);
      assert.ok(flat && pool, JSON.stringify(networks));
      assert.equal(flat['provider:network_type'], undefined, 'members do not see provider:*');
      const asAdmin = (
        await ok(
          admin,
          'GET',
          `/v2.0/networks/${String(flat['id'])}`,
          undefined,
          200,
          networkResponse,
        )
      ).network as Json;
      assert.equal(asAdmin['provider:network_type'], 'flat');
      assert.equal(asAdmin['provider:segmentation_id'], null);
      const subnets = (
        await ok(
          alice,
          'GET',
          `/v2.0/subnets?network_id=${String(flat['id'])}`,
          undefined,
          200,
          subnetList,
        )
      )['subnets'] as Json[];
      assert.equal(subnets.length, 1);
      const [row] = await new NetworkRepo(t.cloud.database.db).list();
      assert.equal(subnets[0]?.['cidr'], row?.cidr);
      assert.equal(subnets[0]?.['gateway_ip'], row?.gateway);
    });

    it('makes networks with unique VNIs, subnets with pools, and ports with addresses from them', async () => {
      const a = await newNetwork(alice, { name: 'alpha' });
      const b = await newNetwork(bob, { name: 'beta' });
      const shownA = (
        await ok(admin, 'GET', `/v2.0/networks/${a}`, undefined, 200, networkResponse)
      ).network as Json;
      const shownB = (
        await ok(admin, 'GET', `/v2.0/networks/${b}`, undefined, 200, networkResponse)
      ).network as Json;
      assert.equal(shownA['provider:network_type'], 'vxlan');
      assert.equal(shownA['mtu'], 1450);
      for (const n of [shownA, shownB]) {
        const vni = n['provider:segmentation_id'] as number;
        assert.ok(vni >= 5000 && vni <= 5999, String(vni));
      }
      assert.notEqual(shownA['provider:segmentation_id'], shownB['provider:segmentation_id']);
      assert.equal(shownA['project_id'], aliceProject);
      // An admin may choose a VNI, but not one another network has.
      await fault(
        admin,
        'POST',
        '/v2.0/networks',
        { network: { 'provider:segmentation_id': shownA['provider:segmentation_id'] } },
        409,
        'NetworkInUse',
      );
      // The same CIDR in two projects is fine.
      const sa = await newSubnet(alice, a, '192.168.10.0/24', {
        dns_nameservers: ['10.0.0.2'],
        host_routes: [{ destination: '10.9.0.0/16', nexthop: '192.168.10.254' }],
        allocation_pools: [{ start: '192.168.10.100', end: '192.168.10.102' }],
      });
      await newSubnet(bob, b, '192.168.10.0/24');
      assert.equal(sa['gateway_ip'], '192.168.10.1');
      assert.deepEqual(sa['allocation_pools'], [
        { start: '192.168.10.100', end: '192.168.10.102' },
      ]);
      assert.deepEqual(sa['dns_nameservers'], ['10.0.0.2']);
      const withSubnet = (
        await ok(alice, 'GET', `/v2.0/networks/${a}`, undefined, 200, networkResponse)
      ).network as Json;
      assert.deepEqual(withSubnet['subnets'], [sa['id']]);

      const p1 = await newPort(alice, a, {
        name: 'p1',
        device_owner: 'compute:nova',
        device_id: 'vm-1',
      });
      const p2 = await newPort(alice, a, {
        allowed_address_pairs: [{ ip_address: '192.168.10.200' }],
      });
      assert.equal(p1.fixed_ips[0]?.ip_address, '192.168.10.100');
      assert.equal(p2.fixed_ips[0]?.ip_address, '192.168.10.101');
      assert.match(String(p1['mac_address']), /^fa:16:3e:/);
      assert.equal(p1['device_owner'], 'compute:nova');
      assert.equal((p1['security_groups'] as string[]).length, 1, 'the default group');
      assert.deepEqual(p2['allowed_address_pairs'], [
        { ip_address: '192.168.10.200', mac_address: p2['mac_address'] },
      ]);
      // An address in use, by choice: 409; the gateway: 409.
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: a, fixed_ips: [{ ip_address: '192.168.10.100' }] } },
        409,
        'IpAddressInUse',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: a, fixed_ips: [{ ip_address: '192.168.10.1' }] } },
        409,
        'IpAddressInUse',
      );
      // All or nothing: a port asking for a free and a taken address leaves neither behind.
      const before = (
        (await ok(alice, 'GET', '/v2.0/ports', undefined, 200, portList))['ports'] as Json[]
      ).length;
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        {
          port: {
            network_id: a,
            fixed_ips: [{ ip_address: '192.168.10.50' }, { ip_address: '192.168.10.101' }],
          },
        },
        409,
        'IpAddressInUse',
      );
      assert.equal(
        ((await ok(alice, 'GET', '/v2.0/ports', undefined, 200, portList))['ports'] as Json[])
          .length,
        before,
      );
      const p3 = await newPort(alice, a, { fixed_ips: [{ ip_address: '192.168.10.50' }] });
      assert.equal(p3.fixed_ips[0]?.ip_address, '192.168.10.50');
      // The pool has one address left; after it, none: a released one rests, it is not reused.
      // Changing a port's addresses keeps those it names again; one it gives up rests.
      const moved = (
        await ok(
          alice,
          'PUT',
          `/v2.0/ports/${String(p3['id'])}`,
          {
            port: { fixed_ips: [{ ip_address: '192.168.10.50' }, { ip_address: '192.168.10.51' }] },
          },
          200,
          portResponse,
        )
      ).port as Json;
      assert.deepEqual((moved['fixed_ips'] as Json[]).map((f) => f['ip_address']).sort(), [
        '192.168.10.50',
        '192.168.10.51',
      ]);
      await ok(
        alice,
        'PUT',
        `/v2.0/ports/${String(p3['id'])}`,
        { port: { fixed_ips: [{ ip_address: '192.168.10.50' }] } },
        200,
        portResponse,
      );
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: a, fixed_ips: [{ ip_address: '192.168.10.51' }] } },
        409,
        'IpAddressInUse',
      );
      const p4 = await newPort(alice, a);
      assert.equal(p4.fixed_ips[0]?.ip_address, '192.168.10.102');
      await ok(alice, 'DELETE', `/v2.0/ports/${String(p4['id'])}`, undefined, 204);
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: a } },
        409,
        'IpAddressGenerationFailure',
      );

      const updated = (
        await ok(
          alice,
          'PUT',
          `/v2.0/ports/${String(p2['id'])}`,
          {
            port: {
              name: 'renamed',
              port_security_enabled: false,
              security_groups: [],
              allowed_address_pairs: [],
            },
          },
          200,
          portResponse,
        )
      ).port as Json;
      assert.equal(updated['name'], 'renamed');
      assert.equal(updated['port_security_enabled'], false);
      await fault(
        alice,
        'PUT',
        `/v2.0/ports/${String(p2['id'])}`,
        { port: { security_groups: [String((p1['security_groups'] as string[])[0])] } },
        409,
        'Conflict',
      );

      // Deleting a network with ports in use: 409; after the ports go, it goes with its subnet.
      await fault(alice, 'DELETE', `/v2.0/networks/${a}`, undefined, 409, 'NetworkInUse');
      await fault(
        alice,
        'DELETE',
        `/v2.0/subnets/${String(sa['id'])}`,
        undefined,
        409,
        'SubnetInUse',
      );
      for (const p of [p1, p2, p3])
        await ok(alice, 'DELETE', `/v2.0/ports/${String(p['id'])}`, undefined, 204);
      await ok(alice, 'DELETE', `/v2.0/networks/${a}`, undefined, 204);
      await fault(alice, 'GET', `/v2.0/networks/${a}`, undefined, 404, 'NetworkNotFound');
      await fault(
        alice,
        'GET',
        `/v2.0/subnets/${String(sa['id'])}`,
        undefined,
        404,
        'SubnetNotFound',
      );
    });

    it('gives every one of many concurrent ports its own address', async () => {
      const n = await newNetwork(alice, { name: 'busy' });
      await newSubnet(alice, n, '10.77.0.0/27');
      const ports = await Promise.all(Array.from({ length: 20 }, () => newPort(alice, n)));
      const addresses = ports.map((p) => p.fixed_ips[0]?.ip_address);
      assert.equal(new Set(addresses).size, 20, JSON.stringify(addresses));
      const macs = ports.map((p) => p['mac_address']);
      assert.equal(new Set(macs).size, 20);
    });

    it('refuses bad input with NeutronError faults', async () => {
      const n = await newNetwork(alice, { name: 'checks' });
      await newSubnet(alice, n, '10.50.0.0/24');
      const subnet = (cidr: string, more: Json = {}) => ({
        subnet: { network_id: n, ip_version: 4, cidr, ...more },
      });
      const overlap = await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        subnet('10.50.0.128/25'),
        400,
        'InvalidInput',
      );
      assert.match(overlap, /overlaps with another subnet/);
      await fault(alice, 'POST', '/v2.0/subnets', subnet('10.50.1.0/31'), 400, 'InvalidInput');
      await fault(alice, 'POST', '/v2.0/subnets', subnet('10.50.1.0/32'), 400, 'InvalidInput');
      await fault(alice, 'POST', '/v2.0/subnets', subnet('10.50.1.300/24'), 400, 'InvalidInput');
      await fault(alice, 'POST', '/v2.0/subnets', subnet('10.50.1.5/24'), 400, 'InvalidInput');
      await fault(alice, 'POST', '/v2.0/subnets', subnet('banana'), 400, 'InvalidInput');
      await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        subnet('10.51.0.0/24', { ip_version: 6 }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        subnet('10.51.0.0/24', { gateway_ip: '10.99.0.1' }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        subnet('10.51.0.0/24', { allocation_pools: [{ start: '10.51.0.1', end: '10.51.0.9' }] }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        subnet('10.51.0.0/24', { dns_nameservers: ['x'] }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: n, ip_version: 4 } },
        400,
        'HTTPBadRequest',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/networks',
        { network: { name: 'x', colour: 'red' } },
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/networks',
        { network: { admin_state_up: 'maybe' } },
        400,
        'InvalidInput',
      );
      await fault(alice, 'POST', '/v2.0/networks', { nets: {} }, 400, 'InvalidInput');
      const malformed = await fetch(`${url}/v2.0/networks`, {
        method: 'POST',
        headers: { 'x-auth-token': alice, 'content-type': 'application/json' },
        body: '{"network": ',
      });
      assert.equal(malformed.status, 400);
      assertSchema(faultResponse, await malformed.json(), 'malformed JSON');
      // Admin-only attributes.
      await fault(
        alice,
        'POST',
        '/v2.0/networks',
        { network: { shared: true } },
        403,
        'HTTPForbidden',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/networks',
        { network: { 'router:external': true } },
        403,
        'HTTPForbidden',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/networks',
        { network: { 'provider:segmentation_id': 5 } },
        403,
        'HTTPForbidden',
      );
      // Another project's network: invisible, for a port, a subnet or a show.
      await fault(bob, 'POST', '/v2.0/ports', { port: { network_id: n } }, 404, 'NetworkNotFound');
      await fault(bob, 'POST', '/v2.0/subnets', subnet('10.60.0.0/24'), 404, 'NetworkNotFound');
      await fault(bob, 'GET', `/v2.0/networks/${n}`, undefined, 404, 'NetworkNotFound');
      await fault(bob, 'DELETE', `/v2.0/networks/${n}`, undefined, 404, 'NetworkNotFound');
      // Ports cannot be made on the flat network by hand.
      const flat = (
        (await ok(alice, 'GET', '/v2.0/networks?shared=true', undefined, 200))['networks'] as Json[]
      )[0] as Json;
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: flat['id'] } },
        409,
        'Conflict',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: n, mac_address: 'nope' } },
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/ports',
        { port: { network_id: n, security_groups: ['00000000-0000-4000-8000-000000000000'] } },
        404,
        'SecurityGroupNotFound',
      );
      // A reader reads and changes nothing.
      await ok(reader, 'GET', '/v2.0/networks', undefined, 200, networkList);
      await fault(
        reader,
        'POST',
        '/v2.0/networks',
        { network: { name: 'r' } },
        403,
        'HTTPForbidden',
      );
      await fault(reader, 'DELETE', `/v2.0/networks/${n}`, undefined, 403, 'HTTPForbidden');
      // Listing controls: Neutron's HTTPBadRequest for a filter or sort it does not know.
      await fault(alice, 'GET', '/v2.0/networks?colour=red', undefined, 400, 'HTTPBadRequest');
      await fault(alice, 'GET', '/v2.0/networks?sort_key=colour', undefined, 400, 'HTTPBadRequest');
      await fault(
        alice,
        'GET',
        '/v2.0/networks?sort_key=name&sort_dir=up',
        undefined,
        400,
        'HTTPBadRequest',
      );
      // Neutron's BadRequest, as its api_common answers a limit that is not a whole number.
      assert.match(
        await fault(alice, 'GET', '/v2.0/networks?limit=x', undefined, 400, 'BadRequest'),
        /^Bad limit request: /,
      );
      await fault(
        alice,
        'GET',
        '/v2.0/networks?limit=1&marker=nope',
        undefined,
        404,
        'HTTPNotFound',
      );
    });

    it('filters, sorts, pages and picks fields as Neutron does', async () => {
      const ids: string[] = [];
      for (const name of ['page-c', 'page-a', 'page-b']) ids.push(await newNetwork(bob, { name }));
      const sorted = (
        await ok(
          bob,
          'GET',
          '/v2.0/networks?sort_key=name&sort_dir=asc&name=page-a&name=page-b&name=page-c',
          undefined,
          200,
          networkList,
        )
      )['networks'] as Json[];
      assert.deepEqual(
        sorted.map((n) => n['name']),
        ['page-a', 'page-b', 'page-c'],
      );
      const desc = (
        await ok(
          bob,
          'GET',
          '/v2.0/networks?sort_key=name&sort_dir=desc&name=page-a&name=page-b&name=page-c',
          undefined,
          200,
        )
      )['networks'] as Json[];
      assert.deepEqual(
        desc.map((n) => n['name']),
        ['page-c', 'page-b', 'page-a'],
      );
      const q = 'name=page-a&name=page-b&name=page-c&sort_key=name&sort_dir=asc';
      const first = await ok(
        bob,
        'GET',
        `/v2.0/networks?${q}&limit=2`,
        undefined,
        200,
        networkList,
      );
      assert.deepEqual(
        (first['networks'] as Json[]).map((n) => n['name']),
        ['page-a', 'page-b'],
      );
      const next = (first['networks_links'] as { rel: string; href: string }[]).find(
        (l) => l.rel === 'next',
      );
      assert.ok(next, JSON.stringify(first));
      const second = await ok(bob, 'GET', next.href.slice(url.length), undefined, 200, networkList);
      assert.deepEqual(
        (second['networks'] as Json[]).map((n) => n['name']),
        ['page-c'],
      );
      const links = second['networks_links'] as { rel: string; href: string }[];
      assert.deepEqual(
        links.map((l) => l.rel),
        ['previous'],
      );
      const back = await ok(
        bob,
        'GET',
        (links[0] as { href: string }).href.slice(url.length),
        undefined,
        200,
      );
      assert.deepEqual(
        (back['networks'] as Json[]).map((n) => n['name']),
        ['page-a', 'page-b'],
      );
      const fields = await ok(
        bob,
        'GET',
        '/v2.0/networks?fields=id&fields=name&name=page-a',
        undefined,
        200,
      );
      assert.deepEqual(Object.keys((fields['networks'] as Json[])[0] as Json).sort(), [
        'id',
        'name',
      ]);
      const one = await ok(
        bob,
        'GET',
        `/v2.0/networks/${ids[0] as string}?fields=name`,
        undefined,
        200,
      );
      assert.deepEqual(one['network'], { name: 'page-c' });
      const mine = (
        await ok(bob, 'GET', '/v2.0/networks?shared=false&router:external=false', undefined, 200)
      )['networks'] as Json[];
      assert.ok(mine.every((n) => n['shared'] === false));
      // Admins see every project's; members only theirs and the shared ones.
      const all = (await ok(admin, 'GET', '/v2.0/networks?name=page-a', undefined, 200))[
        'networks'
      ] as Json[];
      assert.equal(all.length, 1);
      assert.deepEqual(
        (await ok(alice, 'GET', '/v2.0/networks?name=page-a', undefined, 200))[
          'networks'
        ] as Json[],
        [],
      );
    });

    it('records routers with an external gateway and one interface per subnet', async () => {
      const nets = (await ok(alice, 'GET', '/v2.0/networks?router:external=true', undefined, 200))[
        'networks'
      ] as Json[];
      const external = String(nets[0]?.['id']);
      const n = await newNetwork(alice, { name: 'routed' });
      const s = await newSubnet(alice, n, '10.70.0.0/24');
      const s2 = await newSubnet(alice, n, '10.70.1.0/24', { gateway_ip: null });
      const router = (
        await ok(
          alice,
          'POST',
          '/v2.0/routers',
          { router: { name: 'r1', external_gateway_info: { network_id: external } } },
          201,
          routerResponse,
        )
      ).router as Json;
      assert.deepEqual(router['external_gateway_info'], {
        network_id: external,
        enable_snat: true,
        external_fixed_ips: [],
      });
      const other = (
        await ok(alice, 'POST', '/v2.0/routers', { router: { name: 'r2' } }, 201, routerResponse)
      ).router as Json;
      const r1 = String(router['id']);
      const added = await ok(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/add_router_interface`,
        { subnet_id: s['id'] },
        200,
        routerInterfaceResponse,
      );
      assert.equal(added['network_id'], n);
      const port = (
        await ok(
          alice,
          'GET',
          `/v2.0/ports/${String(added['port_id'])}`,
          undefined,
          200,
          portResponse,
        )
      ).port as Json;
      assert.equal(port['device_owner'], 'network:router_interface');
      assert.equal(port['device_id'], r1);
      assert.deepEqual(port['fixed_ips'], [{ subnet_id: s['id'], ip_address: '10.70.0.1' }]);
      // The same subnet again: 400 on this router, 409 on another.
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/add_router_interface`,
        { subnet_id: s['id'] },
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${String(other['id'])}/add_router_interface`,
        { subnet_id: s['id'] },
        409,
        'IpAddressInUse',
      );
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/add_router_interface`,
        { subnet_id: s2['id'] },
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/add_router_interface`,
        {},
        400,
        'InvalidInput',
      );
      await fault(
        bob,
        'PUT',
        `/v2.0/routers/${r1}/add_router_interface`,
        { subnet_id: s['id'] },
        404,
        'RouterNotFound',
      );
      // A gateway must be on an external network (Neutron's BadRequest).
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${r1}`,
        { router: { external_gateway_info: { network_id: n } } },
        400,
        'BadRequest',
      );
      await fault(
        alice,
        'DELETE',
        `/v2.0/ports/${String(added['port_id'])}`,
        undefined,
        409,
        'PortInUse',
      );
      await fault(alice, 'DELETE', `/v2.0/routers/${r1}`, undefined, 409, 'RouterInUse');
      await fault(alice, 'DELETE', `/v2.0/networks/${n}`, undefined, 409, 'NetworkInUse');
      const listed = (await ok(alice, 'GET', '/v2.0/routers?name=r1', undefined, 200, routerList))[
        'routers'
      ] as Json[];
      assert.equal(listed.length, 1);
      await ok(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/remove_router_interface`,
        { subnet_id: s['id'] },
        200,
        routerInterfaceResponse,
      );
      await fault(
        alice,
        'PUT',
        `/v2.0/routers/${r1}/remove_router_interface`,
        { subnet_id: s['id'] },
        404,
        'RouterNotFound',
      );
      const cleared = (
        await ok(
          alice,
          'PUT',
          `/v2.0/routers/${r1}`,
          { router: { external_gateway_info: {} } },
          200,
          routerResponse,
        )
      ).router as Json;
      assert.equal(cleared['external_gateway_info'], null);
      await ok(alice, 'DELETE', `/v2.0/routers/${r1}`, undefined, 204);
      await ok(alice, 'DELETE', `/v2.0/routers/${String(other['id'])}`, undefined, 204);
      await ok(alice, 'DELETE', `/v2.0/networks/${n}`, undefined, 204);
    });

    it('shows the same security groups as EC2, rules either way', async () => {
      const made = (
        await ok(
          alice,
          'POST',
          '/v2.0/security-groups',
          { security_group: { name: 'web', description: 'web servers' } },
          201,
          securityGroupResponse,
        )
      ).security_group as Json;
      const id = String(made['id']);
      const rules = made['security_group_rules'] as Json[];
      assert.deepEqual(
        rules.map((r) => [r['direction'], r['protocol']]),
        [['egress', null]],
      );
      const rule = (
        await ok(
          alice,
          'POST',
          '/v2.0/security-group-rules',
          {
            security_group_rule: {
              security_group_id: id,
              direction: 'ingress',
              protocol: 'tcp',
              port_range_min: 22,
              port_range_max: 22,
              remote_ip_prefix: '10.0.0.0/8',
            },
          },
          201,
          securityGroupRuleResponse,
        )
      ).security_group_rule as Json;
      assert.equal(rule['port_range_min'], 22);
      const ec2Id = `sg-${id.replace(/-/g, '').slice(0, 17)}`;
      const ec2 = await aliceEc2.client.send(
        new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id] }),
      );
      const perms = ec2.SecurityGroups?.[0]?.IpPermissions ?? [];
      assert.deepEqual(
        perms.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.[0]?.CidrIp]),
        [['tcp', 22, 22, '10.0.0.0/8']],
      );
      await aliceEc2.client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: ec2Id,
          IpPermissions: [
            { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
      const shown = (
        await ok(alice, 'GET', `/v2.0/security-groups/${id}`, undefined, 200, securityGroupResponse)
      ).security_group as Json;
      const icmp = (shown['security_group_rules'] as Json[]).find((r) => r['protocol'] === 'icmp');
      assert.ok(icmp);
      assert.equal(icmp['port_range_min'], null);
      // A rule from another group.
      const listed = (
        await ok(
          alice,
          'GET',
          '/v2.0/security-groups?name=default',
          undefined,
          200,
          securityGroupList,
        )
      )['security_groups'] as Json[];
      const def = String(listed[0]?.['id']);
      await ok(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        {
          security_group_rule: {
            security_group_id: id,
            direction: 'ingress',
            protocol: 'udp',
            port_range_min: 53,
            port_range_max: 53,
            remote_group_id: def,
          },
        },
        201,
        securityGroupRuleResponse,
      );
      const ruleBody = (x: Json) => ({
        security_group_rule: { security_group_id: id, direction: 'ingress', ...x },
      });
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ protocol: 'tcp', port_range_min: 30, port_range_max: 20 }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ protocol: 'tcp', port_range_min: 0, port_range_max: 70000 }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ protocol: 'gre' }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ ethertype: 'IPv6' }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ remote_ip_prefix: '10.0.0.0/8', remote_group_id: def }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ direction: 'sideways' }),
        400,
        'InvalidInput',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        ruleBody({ direction: 'egress' }),
        409,
        'Conflict',
      );
      await fault(
        alice,
        'POST',
        '/v2.0/security-group-rules',
        {
          security_group_rule: {
            security_group_id: '00000000-0000-4000-8000-000000000000',
            direction: 'ingress',
          },
        },
        404,
        'SecurityGroupNotFound',
      );
      await fault(
        bob,
        'GET',
        `/v2.0/security-groups/${id}`,
        undefined,
        404,
        'SecurityGroupNotFound',
      );
      // Egress rules: made and deleted here, seen by EC2, and the other way round.
      const out = (
        await ok(
          alice,
          'POST',
          '/v2.0/security-group-rules',
          ruleBody({
            direction: 'egress',
            protocol: 'tcp',
            port_range_min: 443,
            port_range_max: 443,
            remote_ip_prefix: '192.0.2.0/24',
          }),
          201,
          securityGroupRuleResponse,
        )
      ).security_group_rule as Json;
      assert.equal(out['direction'], 'egress');
      const allowAll = rules[0] as Json;
      await ok(
        alice,
        'DELETE',
        `/v2.0/security-group-rules/${String(allowAll['id'])}`,
        undefined,
        204,
      );
      const egressOf = async () =>
        (
          (await aliceEc2.client.send(new DescribeSecurityGroupsCommand({ GroupIds: [ec2Id] })))
            .SecurityGroups?.[0]?.IpPermissionsEgress ?? []
        ).map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.[0]?.CidrIp]);
      assert.deepEqual(await egressOf(), [['tcp', 443, 443, '192.0.2.0/24']]);
      await aliceEc2.client.send(
        new AuthorizeSecurityGroupEgressCommand({
          GroupId: ec2Id,
          IpPermissions: [
            {
              IpProtocol: 'udp',
              FromPort: 53,
              ToPort: 53,
              IpRanges: [{ CidrIp: '192.0.2.53/32' }],
            },
          ],
        }),
      );
      const egressRules = (
        (
          await ok(
            alice,
            'GET',
            `/v2.0/security-group-rules?security_group_id=${id}&direction=egress`,
            undefined,
            200,
          )
        )['security_group_rules'] as Json[]
      ).map((r) => [r['protocol'], r['port_range_min'], r['remote_ip_prefix']]);
      assert.deepEqual(egressRules.sort(), [
        ['tcp', 443, '192.0.2.0/24'],
        ['udp', 53, '192.0.2.53/32'],
      ]);
      await ok(alice, 'DELETE', `/v2.0/security-group-rules/${String(out['id'])}`, undefined, 204);
      assert.deepEqual(await egressOf(), [['udp', 53, 53, '192.0.2.53/32']]);
      await ok(alice, 'DELETE', `/v2.0/security-group-rules/${String(rule['id'])}`, undefined, 204);
      await fault(
        alice,
        'DELETE',
        `/v2.0/security-group-rules/${String(rule['id'])}`,
        undefined,
        404,
        'SecurityGroupRuleNotFound',
      );
      // The default group stays: a 4xx NeutronError, and it is still there.
      const refused = await call(alice, 'DELETE', `/v2.0/security-groups/${def}`);
      assert.ok(refused.status >= 400 && refused.status < 500, JSON.stringify(refused.body));
      assertSchema(faultResponse, refused.body, 'deleting the default group');
      assert.equal((await call(alice, 'GET', `/v2.0/security-groups/${def}`)).status, 200);
      await ok(
        alice,
        'PUT',
        `/v2.0/security-groups/${id}`,
        { security_group: { name: 'web2' } },
        200,
        securityGroupResponse,
      );
      await ok(alice, 'DELETE', `/v2.0/security-groups/${id}`, undefined, 204);
      const gone = await aliceEc2.client
        .send(new DescribeSecurityGroupsCommand({}))
        .then((r) => r.SecurityGroups?.map((g) => g.GroupId));
      assert.ok(!gone?.includes(ec2Id));
    });

    it('shows instances as ports of the flat network and points floating IPs at them', async () => {
      const image = await t.addImage({ name: 'net-test-image' });
      const imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
      const run = await aliceEc2.client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
        }),
      );
      const ec2Instance = run.Instances?.[0]?.InstanceId as string;
      const port = await waitUntil(
        async () => {
          const ports = (await ok(alice, 'GET', '/v2.0/ports', undefined, 200, portList))[
            'ports'
          ] as Json[];
          return ports.find(
            (p) => String(p['device_owner']).startsWith('compute:') && p['status'] === 'ACTIVE',
          );
        },
        20_000,
        'the instance port',
      );
      assert.equal(port['device_owner'], `compute:${t.region.toLowerCase()}a`);
      const flat = (
        (await ok(alice, 'GET', '/v2.0/networks?shared=true', undefined, 200))['networks'] as Json[]
      )[0] as Json;
      assert.equal(port['network_id'], flat['id']);
      await fault(bob, 'GET', `/v2.0/ports/${String(port['id'])}`, undefined, 404, 'PortNotFound');
      const adminView = (
        await ok(admin, 'GET', `/v2.0/ports/${String(port['id'])}`, undefined, 200, portResponse)
      ).port as Json;
      assert.ok(String(adminView['binding:host_id']).length > 0);

      const pool = (
        (await ok(alice, 'GET', '/v2.0/networks?router:external=true', undefined, 200))[
          'networks'
        ] as Json[]
      )[0] as Json;
      // Not external: 400; another project's port: 404.
      const project = await newNetwork(alice, { name: 'not-external' });
      // Neutron's BadRequest (l3_db: not a valid external network).
      assert.match(
        await fault(
          alice,
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: project } },
          400,
          'BadRequest',
        ),
        /^Bad floatingip request: /,
      );
      await fault(alice, 'POST', '/v2.0/floatingips', { floatingip: {} }, 400, 'HTTPBadRequest');
      await fault(
        bob,
        'POST',
        '/v2.0/floatingips',
        { floatingip: { floating_network_id: pool['id'], port_id: port['id'] } },
        404,
        'PortNotFound',
      );
      const fip = (
        await ok(
          alice,
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: pool['id'], port_id: port['id'] } },
          201,
          floatingIpResponse,
        )
      ).floatingip as Json;
      assert.equal(fip['port_id'], port['id']);
      assert.equal(fip['fixed_ip_address'], (port['fixed_ips'] as Json[])[0]?.['ip_address']);
      assert.equal(fip['status'], 'ACTIVE');
      const addresses =
        (await aliceEc2.client.send(new DescribeAddressesCommand({}))).Addresses ?? [];
      assert.deepEqual(
        addresses.map((a) => [a.PublicIp, a.InstanceId]),
        [[fip['floating_ip_address'], ec2Instance]],
      );
      const off = (
        await ok(
          alice,
          'PUT',
          `/v2.0/floatingips/${String(fip['id'])}`,
          { floatingip: { port_id: null } },
          200,
          floatingIpResponse,
        )
      ).floatingip as Json;
      assert.equal(off['port_id'], null);
      const on = (
        await ok(
          alice,
          'PUT',
          `/v2.0/floatingips/${String(fip['id'])}`,
          { floatingip: { port_id: port['id'] } },
          200,
          floatingIpResponse,
        )
      ).floatingip as Json;
      assert.equal(on['port_id'], port['id']);
      const listed = (await ok(alice, 'GET', '/v2.0/floatingips', undefined, 200, floatingIpList))[
        'floatingips'
      ] as Json[];
      assert.deepEqual(
        listed.map((f) => f['id']),
        [fip['id']],
      );
      await ok(alice, 'DELETE', `/v2.0/floatingips/${String(fip['id'])}`, undefined, 204);
      await fault(
        alice,
        'GET',
        `/v2.0/floatingips/${String(fip['id'])}`,
        undefined,
        404,
        'FloatingIPNotFound',
      );
      assert.deepEqual(
        (await aliceEc2.client.send(new DescribeAddressesCommand({}))).Addresses ?? [],
        [],
      );
      await ok(alice, 'DELETE', `/v2.0/networks/${project}`, undefined, 204);
    });

    it('answers quotas and (for admins) network IP availabilities', async () => {
      const q = (
        await ok(alice, 'GET', `/v2.0/quotas/${aliceProject}`, undefined, 200, quotaResponse)
      ).quota as Json;
      assert.equal(q['floatingip'], 3);
      const d = (
        await ok(
          alice,
          'GET',
          `/v2.0/quotas/${aliceProject}/details`,
          undefined,
          200,
          quotaDetailResponse,
        )
      ).quota as Record<string, Json>;
      assert.ok(Number(d['network']?.['used']) >= 1);
      await fault(bob, 'GET', `/v2.0/quotas/${aliceProject}`, undefined, 403, 'HTTPForbidden');
      await ok(admin, 'GET', `/v2.0/quotas/${aliceProject}`, undefined, 200, quotaResponse);
      // An admin changes a project's limits; the network limit then holds.
      await fault(
        bob,
        'PUT',
        `/v2.0/quotas/${bobProject}`,
        { quota: { network: 1 } },
        403,
        'HTTPForbidden',
      );
      await fault(
        admin,
        'PUT',
        `/v2.0/quotas/${bobProject}`,
        { quota: { network: -5 } },
        400,
        'InvalidInput',
      );
      await fault(
        admin,
        'PUT',
        `/v2.0/quotas/${bobProject}`,
        { quota: { widgets: 1 } },
        400,
        'InvalidInput',
      );
      await fault(
        admin,
        'PUT',
        '/v2.0/quotas/no-such-project',
        { quota: { network: 1 } },
        400,
        'InvalidInput',
      );
      const bobUsed = (
        (await ok(bob, 'GET', `/v2.0/quotas/${bobProject}/details`, undefined, 200))
          .quota as Record<string, Json>
      )['network']?.['used'] as number;
      const set = (
        await ok(
          admin,
          'PUT',
          `/v2.0/quotas/${bobProject}`,
          { quota: { network: bobUsed, floatingip: 7 } },
          200,
          quotaResponse,
        )
      ).quota as Json;
      assert.deepEqual([set['network'], set['floatingip']], [bobUsed, 7]);
      const over = await fault(
        bob,
        'POST',
        '/v2.0/networks',
        { network: { name: 'one-too-many' } },
        409,
        'OverQuota',
      );
      assert.match(over, /network/);
      await ok(admin, 'DELETE', `/v2.0/quotas/${bobProject}`, undefined, 204);
      const reset = (
        await ok(bob, 'GET', `/v2.0/quotas/${bobProject}`, undefined, 200, quotaResponse)
      ).quota as Json;
      assert.deepEqual([reset['network'], reset['floatingip']], [100, 3]);
      await fault(alice, 'GET', '/v2.0/network-ip-availabilities', undefined, 403, 'HTTPForbidden');
      const n = await newNetwork(bob, { name: 'counted' });
      await newSubnet(bob, n, '10.80.0.0/29');
      await newPort(bob, n);
      const all = await ok(
        admin,
        'GET',
        `/v2.0/network-ip-availabilities?network_id=${n}`,
        undefined,
        200,
        ipAvailabilityList,
      );
      const a = (all['network_ip_availabilities'] as Json[])[0] as Json;
      assert.equal(a['total_ips'], 5);
      assert.equal(a['used_ips'], 1);
      const shown = await ok(admin, 'GET', `/v2.0/network-ip-availabilities/${n}`, undefined, 200);
      assert.equal((shown['network_ip_availability'] as Json)['used_ips'], 1);
    });
  });
}
