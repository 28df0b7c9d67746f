// East-west routing with real guests (issue 16): on a two-host overlay lab, one project makes
// two networks and a router with an interface on each and NO external gateway, all with
// openstackclient, and a guest on each network (Compute `networks` at server create) on two
// hosts. The guests ping each other through the router (across hosts: each network's VXLAN to
// the network host, the router, the other network's VXLAN); after `router remove subnet` they
// no longer do. Nothing reaches these guests from the public segment (no gateway, no floating
// IP): the test reaches each guest by ssh from its network's DHCP namespace on the network
// host.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { eventually } from './support/guest.js';
import { openstack } from './support/openstack.js';
import {
  OVERLAY_LAB_NEEDS,
  startOverlayLab,
  stopOverlayLab,
  type OverlayLab,
  type SshResult,
} from './support/overlay-lab.js';

interface Server {
  id: string;
  ip: string;
  host: string;
}

describe(
  'a router without a gateway between two networks, with real guests',
  OVERLAY_LAB_NEEDS,
  () => {
    let lab: OverlayLab;
    let env: NodeJS.ProcessEnv;
    const servers: Record<'a' | 'b', Server> = {} as never;
    /** Each network's DHCP namespace on the network host: the test's way to its guest. */
    const viaNs: Record<'a' | 'b', string> = { a: '', b: '' };

    async function os(...args: string[]): Promise<string> {
      const r = await openstack(env, args);
      assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.err}`);
      return r.out;
    }
    const osJson = async (...args: string[]) =>
      JSON.parse(await os(...args, '-f', 'json')) as Record<string, unknown>;

    const sshA = (command: string) => sshTo('a', command);
    function sshTo(guest: 'a' | 'b', command: string, timeoutMs = 20_000): Promise<SshResult> {
      const [file, args] = sshCommandLine(
        { host: servers[guest].ip, user: 'root', netns: viaNs[guest] },
        lab.key.keyFile,
        command,
        3,
      );
      return new Promise((resolve) =>
        execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
          resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
        ),
      );
    }

    before(async () => {
      lab = await startOverlayLab({ prefix: 'ew' });
      env = {
        PATH: process.env.PATH,
        HOME: lab.top,
        ...Object.fromEntries(Object.entries(lab.rc).filter(([k]) => k.startsWith('OS_'))),
      };
    });

    after(() => stopOverlayLab(lab));

    it('puts a guest on each of two networks joined by a router without a gateway, on two hosts', async (t) => {
      const t0 = Date.now();
      const pub = path.join(lab.top, 'ew-key.pub');
      fs.writeFileSync(pub, lab.key.publicKey);
      await os('keypair', 'create', '--public-key', pub, 'ew');
      await os('network', 'create', 'ew-a');
      await os('network', 'create', 'ew-b');
      await os('subnet', 'create', '--network', 'ew-a', '--subnet-range', '10.41.0.0/24', 'ew-a-s');
      await os('subnet', 'create', '--network', 'ew-b', '--subnet-range', '10.42.0.0/24', 'ew-b-s');
      await os('router', 'create', 'ew-r');
      await os('router', 'add', 'subnet', 'ew-r', 'ew-a-s');
      await os('router', 'add', 'subnet', 'ew-r', 'ew-b-s');
      // ssh to the guests (the default group lets in only its members).
      await os(
        'security',
        'group',
        'rule',
        'create',
        'default',
        '--protocol',
        'tcp',
        '--dst-port',
        '22',
      );
      const image = (await osJson('image', 'show', 'stratus-guest')).id as string;
      const create = async (name: 'a' | 'b'): Promise<Server> => {
        const net = (await osJson('network', 'show', `ew-${name}`)).id as string;
        const made = await osJson(
          'server',
          'create',
          '--image',
          image,
          '--flavor',
          'm1.nano',
          '--key-name',
          'ew',
          '--nic',
          `net-id=${net}`,
          `ew-${name}`,
        );
        const id = made.id as string;
        return eventually(
          async () => {
            const s = await osJson('server', 'show', id);
            if (s.status === 'ERROR') throw new Error(`ew-${name}: ${JSON.stringify(s.fault)}`);
            if (s.status !== 'ACTIVE') return undefined;
            const row = await lab.database.db
              .selectFrom('instances')
              .select(['host'])
              .where('id', '=', id)
              .executeTakeFirst();
            const ip = /(10\.4[12]\.0\.\d+)/.exec(JSON.stringify(s.addresses))?.[1];
            return row?.host && ip ? { id, ip, host: row.host } : undefined;
          },
          240_000,
          `ew-${name} to be active`,
          1000,
        );
      };
      servers.a = await create('a');
      servers.b = await create('b');
      assert.notEqual(servers.a.host, servers.b.host, 'the guests are on two hosts');
      const networkHost = lab.state.plan.hosts.find((h) => h.overlay?.networkHost);
      for (const name of ['a', 'b'] as const) {
        const vni = (
          await lab.database.db
            .selectFrom('projectNetworks')
            .select(['segmentationId'])
            .where('name', '=', `ew-${name}`)
            .executeTakeFirst()
        )?.segmentationId;
        viaNs[name] = `${networkHost?.overlay?.namespace}-d${vni}`;
      }
      t.diagnostic(
        `active after ${((Date.now() - t0) / 1000).toFixed(1)} s: a ${servers.a.ip}@${servers.a.host}, b ${servers.b.ip}@${servers.b.host}`,
      );
    });

    it('lets the guests reach each other through the router, across hosts', async () => {
      for (const g of ['a', 'b'] as const) {
        await eventually(
          async () => ((await sshTo(g, 'true')).ok ? true : undefined),
          180_000,
          `ssh to guest ${g} from its network`,
          2000,
        );
      }
      const gw = await sshA('ip -4 route show default');
      assert.match(gw.stdout, /via 10\.41\.0\.1 /, "guest A's default route is the router");
      const ping = await sshA(`ping -c 3 -W 2 ${servers.b.ip}`);
      assert.ok(ping.ok, `A pings B through the router: ${ping.stdout}${ping.stderr}`);
      assert.ok((await sshA('ping -c 1 -W 2 10.42.0.1')).ok, "the router's address on B");
      const back = await sshTo('b', `ping -c 3 -W 2 ${servers.a.ip}`);
      assert.ok(back.ok, `B pings A: ${back.stdout}${back.stderr}`);
    });

    it('takes the route away on `router remove subnet`', async () => {
      await os('router', 'remove', 'subnet', 'ew-r', 'ew-b-s');
      await eventually(
        async () => ((await sshA(`ping -c 1 -W 2 ${servers.b.ip}`)).ok ? undefined : true),
        60_000,
        'A to stop reaching B',
        1000,
      );
      assert.equal((await sshTo('b', `ping -c 1 -W 2 ${servers.a.ip}`)).ok, false, 'nor B A');
      // Still there: A's own side of the router.
      assert.ok((await sshA('ping -c 1 -W 2 10.41.0.1')).ok, "the router's address on A");
    });
  },
);
