// Compute's os-interface attach and detach (issue 16) through openstackclient's `server add
// port`, `server add network` and `server remove port`, and the raw API for what Nova refuses,
// on SQLite and PostgreSQL (fake driver): a running server's host plugs the port live (the
// driver has a new card with the port's MAC), a stopped server's port is only recorded, a
// port made by the attach is deleted by the detach, and bad input changes nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityService } from '../src/identity/index.js';
import { FakeDriver } from '../src/virt/index.js';
import { needs } from './support/capabilities.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { adminEnv, login, openstack, PASSWORD } from './support/openstack.js';

type Json = Record<string, unknown>;
type Port = Json & { id: string; device_id: string; mac_address: string };

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `Compute os-interface attach and detach on ${backend.name}`,
    needs('openstackclient', ...backend.needs),
    () => {
      let t: TestCloud;
      let database: { url: string; remove(): Promise<void> };
      let home: string;
      let env: NodeJS.ProcessEnv;
      let token: string;
      let netUrl: string;
      let computeUrl: string;
      let imageId: string;
      const driver = new FakeDriver();

      before(async () => {
        database = await backend.create();
        t = await startTestCloud({ database: database.url }, { driver });
        await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
        token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
        netUrl = t.cloud.urls?.network as string;
        computeUrl = (t.cloud.urls?.compute as string).replace(/\/v2\.1$/, '');
        imageId = (await t.addImage({ name: 'hotplug-image' })).id;
        home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-os-interface-'));
        env = adminEnv(t, home);
      });
      after(async () => {
        await t.stop();
        await database.remove();
        fs.rmSync(home, { recursive: true, force: true });
      });

      const call = async (base: string, method: string, p: string, body?: unknown) => {
        const r = await fetch(`${base}${p}`, {
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
      const made = async (p: string, body: Json) => {
        const r = await call(netUrl, 'POST', p, body);
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return Object.values(r.body)[0] as Json & { id: string };
      };
      const os_ = async (...args: string[]) => {
        const r = await openstack(env, args);
        assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
        return r.out;
      };
      const portsOf = async (serverId: string) =>
        (await call(netUrl, 'GET', `/v2.0/ports?device_id=${serverId}`)).body['ports'] as Port[];
      const port = async (id: string) =>
        (await call(netUrl, 'GET', `/v2.0/ports/${id}`)).body['port'] as Port | undefined;
      const interfaces = async (serverId: string) =>
        (
          (await call(computeUrl, 'GET', `/v2.1/servers/${serverId}/os-interface`)).body[
            'interfaceAttachments'
          ] as { port_id: string }[]
        ).map((i) => i.port_id);
      const cards = async (serverId: string) =>
        (await driver.listInterfaces(serverId)).map((n) => [n.portId, n.macAddress]);
      const status = async (serverId: string) =>
        ((await call(computeUrl, 'GET', `/v2.1/servers/${serverId}`)).body['server'] as Json)[
          'status'
        ];
      const fault = (r: { status: number; body: Json }, code: number, message: RegExp) => {
        assert.equal(r.status, code, JSON.stringify(r.body));
        const f = Object.values(r.body)[0] as { code: number; message: string };
        assert.equal(f.code, code);
        assert.match(f.message, message);
      };

      it('attaches ports and networks to a running server live and detaches them', async () => {
        const network = (await made('/v2.0/networks', { network: { name: 'hp' } })).id;
        await made('/v2.0/subnets', {
          subnet: { network_id: network, cidr: '10.90.0.0/24', ip_version: 4 },
        });
        const r = await call(computeUrl, 'POST', '/v2.1/servers', {
          server: {
            name: 'hp-vm',
            imageRef: imageId,
            flavorRef: 'm1.nano',
            networks: [{ uuid: network }],
          },
        });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        const id = (r.body['server'] as { id: string }).id;
        await waitUntil(async () => (await status(id)) === 'ACTIVE', 15_000, 'ACTIVE');
        const primary = (await portsOf(id)).find((p) => p['network_id'] === network);
        assert.ok(primary);
        // Its port on the network (and, with no overlay here, its address on the flat one).
        const ifs0 = (await interfaces(id)).sort();
        assert.ok(ifs0.includes(primary.id));

        // openstack server add port: the port is the server's and its card is in the VM.
        const extra = await made('/v2.0/ports', { port: { network_id: network } });
        await os_('server', 'add', 'port', id, extra.id);
        assert.deepEqual(await cards(id), [[extra.id, extra['mac_address']]]);
        assert.equal((await port(extra.id))?.device_id, id);
        assert.match(String((await port(extra.id))?.['device_owner']), /^compute:/);
        assert.deepEqual((await interfaces(id)).sort(), [...ifs0, extra.id].sort());

        // openstack server add network: a new port on the network, plugged the same way.
        await os_('server', 'add', 'network', id, network);
        const made2 = (await portsOf(id)).find(
          (p) => p['network_id'] === network && p.id !== primary.id && p.id !== extra.id,
        );
        assert.ok(made2, 'a port was made on the network');
        assert.deepEqual(await cards(id), [
          [extra.id, extra['mac_address']],
          [made2.id, made2.mac_address],
        ]);

        // What Nova refuses, with nothing changed.
        const before = { cards: await cards(id), ifs: (await interfaces(id)).sort() };
        const attach = (body: unknown) =>
          call(computeUrl, 'POST', `/v2.1/servers/${id}/os-interface`, body);
        fault(
          await attach({ interfaceAttachment: { port_id: extra.id, net_id: network } }),
          400,
          /both/,
        );
        fault(await attach({ interfaceAttachment: {} }), 400, /port_id or net_id/);
        fault(await attach({ interfaceAttachment: { port_id: 'nope' } }), 400, /uuid/);
        fault(await attach({ interfaceAttachment: { port_id: extra.id, x: 1 } }), 400, /'x'/);
        fault(
          await attach({
            interfaceAttachment: { port_id: extra.id, fixed_ips: [{ ip_address: '10.90.0.9' }] },
          }),
          400,
          /net_id/,
        );
        fault(await attach({ interfaceAttachment: { port_id: extra.id } }), 409, /in use/);
        fault(
          await attach({
            interfaceAttachment: { port_id: '00000000-0000-4000-8000-000000000000' },
          }),
          404,
          /could not be found/,
        );
        fault(
          await call(computeUrl, 'DELETE', `/v2.1/servers/${id}/os-interface/${primary.id}`),
          409,
          /first interface/,
        );
        const loose = await made('/v2.0/ports', { port: { network_id: network } });
        fault(
          await call(computeUrl, 'DELETE', `/v2.1/servers/${id}/os-interface/${loose.id}`),
          404,
          /not attached/,
        );
        assert.deepEqual({ cards: await cards(id), ifs: (await interfaces(id)).sort() }, before);
        assert.equal((await port(loose.id))?.device_id, '');

        // openstack server remove port: the card leaves the VM; a port the attach made goes.
        await os_('server', 'remove', 'port', id, extra.id);
        assert.deepEqual(await cards(id), [[made2.id, made2.mac_address]]);
        assert.equal((await port(extra.id))?.device_id, '');
        await os_('server', 'remove', 'port', id, made2.id);
        assert.deepEqual(await cards(id), []);
        assert.equal(await port(made2.id), undefined);
        assert.deepEqual((await interfaces(id)).sort(), ifs0);

        // Stopped: the port is recorded with the server, no card is plugged.
        await os_('server', 'stop', id);
        await waitUntil(async () => (await status(id)) === 'SHUTOFF', 15_000, 'SHUTOFF');
        await os_('server', 'add', 'port', id, loose.id);
        assert.equal((await port(loose.id))?.device_id, id);
        assert.deepEqual(await cards(id), []);
        await os_('server', 'remove', 'port', id, loose.id);
        assert.equal((await port(loose.id))?.device_id, '');
      });
    },
  );
}
