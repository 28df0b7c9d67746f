// `stratus lab --virt qemu`: three compute hosts as separate processes, each with its own
// data plane, joined by the lab's guest and public segments, running real guests (the Stratus
// guest image under QEMU). Driven as users drive a cloud: three clients at once over the EC2
// API (AWS SDK) and the OpenStack Compute API, ssh from a client namespace on the public
// segment to each guest's floating IP, a guest reaching a guest on another host by private IP
// under a rule whose source is a group, a compute host stopped, and `stratus smoke` unchanged.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { openDatabase, type Database } from '../src/db/index.js';
import { readState, type LabState } from '../src/lab/index.js';
import { dataPlaneRuntimeDir } from '../src/network/index.js';
import { sshCommandLine } from '../src/smoke/ssh.js';
import { needs } from './support/capabilities.js';
import { readRcFile, stratus } from './support/cli.js';
import { ec2Client, waitUntil } from './support/ec2.js';
import { eventually, makeKey, SSH_KEYGEN } from './support/guest.js';

const NEEDS = needs(
  'root',
  'netns',
  // Each host's public interface announces floating IPs with it.
  'arping',
  'qemu',
  'qemu-img',
  'guest-image',
  'ssh',
  'postgres',
  'rabbitmq',
);

const ec2IdOf = (uuid: string) => `i-${uuid.replace(/-/g, '').slice(0, 17)}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Each guest's user data: a TCP service on port 8080 that answers 'pong', for guest-to-guest checks. */
const USER_DATA = '#!/bin/sh\nexec nc -ll -p 8080 -e /bin/echo pong\n';

interface Guest {
  uuid: string;
  ec2Id: string;
  host: string;
  mac: string;
  privateIp: string;
  floatingIp?: string;
  /** Which client launched it. */
  via: string;
}

describe('stratus lab with three qemu hosts: real guests across hosts', NEEDS, () => {
  const name = `lq${randomBytes(4).toString('hex')}`;
  // Short: each VM's control socket lives under the lab dir, and socket paths are short.
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'slq-'));
  const dir = path.join(top, 'lab');
  const started = Date.now();
  let state: LabState;
  let database: Database;
  let rcFile: string;
  let rc: Record<string, string>;
  let clients: EC2Client[] = [];
  let ec2: EC2Client;
  let key: { keyFile: string; publicKey: string };
  let imageId: string;
  let groupId: string;
  let clientNs: string;
  let guests: Guest[] = [];
  const extra: string[] = [];

  const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);
  const hostNs = (host: string) =>
    state.plan.hosts.find((h) => h.name === host)?.namespace as string;

  /** Runs `command` on a guest over ssh from the client namespace; never throws. */
  const ssh = (
    address: string,
    command: string,
    timeoutMs = 20_000,
  ): Promise<{ ok: boolean; stdout: string; stderr: string }> => {
    const [file, args] = sshCommandLine(
      { host: address, user: 'root', netns: clientNs },
      key.keyFile,
      command,
      3,
    );
    return new Promise((resolve) =>
      execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
        resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
      ),
    );
  };
  const sshUntil = async (address: string, command: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let last = { ok: false, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      last = await ssh(address, command);
      if (last.ok) return last.stdout;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`ssh root@${address} did not succeed within ${timeoutMs} ms: ${last.stderr}`);
  };

  /** The instances of the given EC2 ids, with the host each launch recorded. */
  const rows = async (ec2Ids: readonly string[]) => {
    const all = await database.db
      .selectFrom('instances')
      .select(['id', 'host', 'macAddress', 'vmState', 'metadataFetchedAt'])
      .execute();
    return all.filter((r) => ec2Ids.includes(ec2IdOf(r.id)));
  };
  const waitRunning = async (ec2Ids: readonly string[], ms: number) => {
    await eventually(
      async () => {
        const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ec2Ids] }));
        const all = (d.Reservations ?? []).flatMap((r) => r.Instances ?? []);
        const failed = all.find((i) =>
          ['terminated', 'shutting-down'].includes(i.State?.Name ?? ''),
        );
        if (failed) throw new Error(`${failed.InstanceId} ended: ${failed.StateReason?.Message}`);
        const running =
          all.length === ec2Ids.length && all.every((i) => i.State?.Name === 'running');
        return running ? true : undefined;
      },
      ms,
      `${ec2Ids.length} instance(s) to be running`,
      250,
    );
  };

  before(async () => {
    const up = await lab(
      'up',
      '--hosts',
      '3',
      '--virt',
      'qemu',
      '--name',
      name,
      // Two api processes: a serial console URL one issues, the other's dashboard honours.
      '--api-processes',
      '2',
      '--heartbeat-seconds',
      '1',
      '--down-after-seconds',
      '6',
      // One project runs 6 guests with a floating IP each, 4 more, and the smoke test's.
      '--set',
      'quota.addresses=16',
      '--set',
      'quota.instances=20',
    );
    assert.equal(up.code, 0, `lab up failed: ${up.stdout}\n${up.stderr}`);
    state = readState(dir) as LabState;
    database = await openDatabase(state.plan.databaseUrl, { migrate: false });
    rcFile = path.join(dir, 'stratusrc');
    rc = readRcFile(rcFile);
    const credentials = {
      accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
    };
    // Clients 1 and 2 speak EC2, each its own SDK client; client 3 the OpenStack Compute API.
    clients = [1, 2].map(() =>
      ec2Client(rc.EC2_URL as string, rc.AWS_DEFAULT_REGION as string, credentials),
    );
    ec2 = clients[0] as EC2Client;
    const client = await lab('client', 'add', 'c1');
    assert.equal(client.code, 0, client.stderr);
    clientNs = `${state.plan.segments?.public}-client-c1`;
    key = makeKey(top, 'lab-qemu');
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await database?.close();
    // A failed test still takes its lab away.
    if (fs.existsSync(dir)) {
      const down = await lab('down');
      if (down.code !== 0) console.error(`lab down failed: ${down.stdout}\n${down.stderr}`);
    }
    fs.rmSync(top, { recursive: true, force: true });
  });

  it('imports the guest image once for the whole lab, into the shared image directory', async () => {
    const d = await ec2.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    assert.equal(d.Images?.length, 1);
    imageId = d.Images?.[0]?.ImageId as string;
    const files = fs.readdirSync(path.join(dir, 'images'));
    assert.equal(files.length, 3, 'kernel, ramdisk and disk in <lab>/images');
    for (const h of state.plan.hosts) {
      assert.equal(fs.existsSync(path.join(h.stateDir, 'images')), false);
    }
  });

  it('launches 2 guests per host at once from 3 clients (EC2 and OpenStack), spread 2/2/2', async (t) => {
    await ec2.send(
      new ImportKeyPairCommand({
        KeyName: 'labkey',
        PublicKeyMaterial: Buffer.from(key.publicKey),
      }),
    );
    groupId = (
      await ec2.send(
        new CreateSecurityGroupCommand({ GroupName: 'lab', Description: 'lab guests' }),
      )
    ).GroupId as string;
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    // Client 3: a token, the image's id from the Image API, m1.nano from the flavors.
    const auth = await fetch(`${rc.OS_AUTH_URL}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: rc.OS_USERNAME, domain: { id: 'default' }, password: rc.OS_PASSWORD },
            },
          },
          scope: { project: { name: rc.OS_PROJECT_NAME, domain: { id: 'default' } } },
        },
      }),
    });
    assert.equal(auth.status, 201, await auth.text());
    const token = auth.headers.get('x-subject-token') as string;
    const api = state.plan.apis[0] as (typeof state.plan.apis)[number];
    const get = async (url: string) => {
      const r = await fetch(url, { headers: { 'x-auth-token': token } });
      assert.equal(r.status, 200, `${url}: ${r.status}`);
      return r.json() as Promise<Record<string, { id: string; name: string }[]>>;
    };
    const image = (await get(`${api.image}/v2/images?name=stratus-guest`)).images?.[0];
    const flavor = (await get(`${api.compute}/flavors`)).flavors?.find((f) => f.name === 'm1.nano');
    assert.ok(image && flavor);

    const t0 = Date.now();
    const viaEc2 = async (c: EC2Client, via: string) => {
      const r = await c.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 2,
          MaxCount: 2,
          KeyName: 'labkey',
          SecurityGroupIds: [groupId],
          UserData: Buffer.from(USER_DATA).toString('base64'),
        }),
      );
      return (r.Instances ?? []).map((i) => ({ ec2Id: i.InstanceId as string, via }));
    };
    const viaOpenStack = async () => {
      const r = await fetch(`${api.compute}/servers`, {
        method: 'POST',
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({
          server: {
            name: `os-${name}`,
            imageRef: image.id,
            flavorRef: flavor.id,
            min_count: 2,
            max_count: 2,
            key_name: 'labkey',
            security_groups: [{ name: 'lab' }],
            user_data: Buffer.from(USER_DATA).toString('base64'),
          },
        }),
      });
      const body = await r.text();
      assert.equal(r.status, 202, body);
      // Both servers it made, by their name.
      const list = (await get(`${api.compute}/servers?name=os-${name}`)).servers as {
        id: string;
      }[];
      assert.equal(list.length, 2, JSON.stringify(list));
      return list.map((s) => ({ ec2Id: ec2IdOf(s.id), via: 'openstack' }));
    };
    const launched = (
      await Promise.all([
        viaEc2(clients[0] as EC2Client, 'ec2-1'),
        viaEc2(clients[1] as EC2Client, 'ec2-2'),
        viaOpenStack(),
      ])
    ).flat();
    const accepted = Date.now() - t0;
    assert.equal(launched.length, 6);
    const ids = launched.map((l) => l.ec2Id);
    await waitRunning(ids, 120_000);
    const running = Date.now() - t0;

    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    const described = (d.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    guests = (await rows(ids)).map((r) => {
      const ec2Id = ec2IdOf(r.id);
      return {
        uuid: r.id,
        ec2Id,
        host: r.host as string,
        mac: r.macAddress as string,
        privateIp: described.find((i) => i.InstanceId === ec2Id)?.PrivateIpAddress as string,
        via: launched.find((l) => l.ec2Id === ec2Id)?.via as string,
      };
    });
    assert.equal(guests.length, 6);
    const perHost = state.plan.hosts.map((h) => guests.filter((g) => g.host === h.name).length);
    t.diagnostic(
      `placement per host: ${perHost.join('/')}; by client: ${guests.map((g) => `${g.via}->${g.host}`).join(', ')}`,
    );
    assert.deepEqual(perHost, [2, 2, 2]);

    // Each guest is ready when its console says so (DHCP done, key fetched, dropbear up).
    await Promise.all(
      guests.map((g) =>
        eventually(
          async () => {
            const c = await ec2.send(new GetConsoleOutputCommand({ InstanceId: g.ec2Id }));
            const text = Buffer.from(c.Output ?? '', 'base64').toString('utf8');
            return text.includes('=== Stratus guest ready') ? text : undefined;
          },
          180_000,
          `${g.ec2Id} on ${g.host} to be ready`,
          // The guests boot on the same two cores as the cloud: poll gently.
          500,
        ).then(async () => {
          await new Promise((r) => setTimeout(r, 250));
        }),
      ),
    );
    const ready = Date.now() - t0;
    t.diagnostic(
      `6 guests: all launch requests accepted in ${seconds(accepted)}, all running in ${seconds(running)}, all ready on the console in ${seconds(ready)} (lab up to here: ${seconds(Date.now() - started)})`,
    );
  });

  it('every guest gets DHCP and its key from its own host', async () => {
    assert.equal(guests.length, 6, 'the launch test ran');
    const logs = new Map(
      state.plan.hosts.map((h) => [
        h.name,
        fs.readFileSync(path.join(dataPlaneRuntimeDir(h.namespace), 'dnsmasq.log'), 'utf8'),
      ]),
    );
    const fingerprint = execFileSync(SSH_KEYGEN, ['-l', '-f', `${key.keyFile}.pub`])
      .toString()
      .split(' ')[1] as string;
    const acked = (log: string, g: Guest) =>
      log
        .split('\n')
        .some((l) => l.includes('DHCPACK') && l.includes(g.mac) && l.includes(`${g.privateIp} `));
    for (const g of guests) {
      for (const [host, log] of logs) {
        assert.equal(
          acked(log, g),
          host === g.host,
          `${g.ec2Id} (on ${g.host}): ${host}'s dnsmasq ${host === g.host ? 'answers' : 'stays silent'}`,
        );
      }
      const c = await ec2.send(new GetConsoleOutputCommand({ InstanceId: g.ec2Id }));
      const text = Buffer.from(c.Output ?? '', 'base64').toString('utf8');
      assert.match(text, new RegExp(`lease of ${g.privateIp.replace(/\./g, '\\.')} obtained`));
      // The key the guest installed is the key pair's, from the metadata service.
      assert.ok(
        text.includes(`authorized key for root: ssh-ed25519 ${fingerprint} `),
        `${g.ec2Id} installed the key pair's key: ${text}`,
      );
    }
    // The metadata service recorded each guest's first request.
    for (const r of await rows(guests.map((g) => g.ec2Id))) {
      assert.ok(r.metadataFetchedAt, `${ec2IdOf(r.id)} asked the metadata service`);
    }
  });

  it('ssh from a client namespace on the public segment reaches each guest by its floating IP', async (t) => {
    assert.equal(guests.length, 6, 'the launch test ran');
    const t0 = Date.now();
    for (const g of guests) {
      const a = await ec2.send(new AllocateAddressCommand({ Domain: 'standard' }));
      g.floatingIp = a.PublicIp as string;
      await ec2.send(new AssociateAddressCommand({ InstanceId: g.ec2Id, PublicIp: g.floatingIp }));
    }
    const associated = Date.now() - t0;
    const bridgeMac = (host: string) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          'ip',
          ['netns', 'exec', hostNs(host), 'cat', '/sys/class/net/br100/address'],
          (err, out) => (err ? reject(err) : resolve(String(out).trim())),
        ),
      );
    await Promise.all(
      guests.map(async (g) => {
        const out = await sshUntil(
          g.floatingIp as string,
          'hostname; ip -4 -o addr show eth0; ip neigh show 10.20.0.1',
          60_000,
        );
        assert.match(out, new RegExp(`inet ${g.privateIp.replace(/\./g, '\\.')}/`), out);
        // Its gateway (and so its metadata service) is its own host's bridge.
        assert.match(
          out,
          new RegExp(`lladdr ${await bridgeMac(g.host)}`),
          `${g.ec2Id} on ${g.host}: ${out}`,
        );
      }),
    );
    t.diagnostic(
      `6 floating IPs allocated and associated in ${seconds(associated)}; ssh to all of them from ${clientNs} within ${seconds(Date.now() - t0)}`,
    );
  });

  it('the serial console of a guest on another host than the api process: a shell command over the dashboard proxy', async (t) => {
    const g = guests.find((x) => x.host === 'lab-node2') as Guest;
    assert.ok(g, 'the launch test ran');
    const auth = await fetch(`${rc.OS_AUTH_URL}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: rc.OS_USERNAME, domain: { id: 'default' }, password: rc.OS_PASSWORD },
            },
          },
          scope: { project: { name: rc.OS_PROJECT_NAME, domain: { id: 'default' } } },
        },
      }),
    });
    assert.equal(auth.status, 201);
    const token = auth.headers.get('x-subject-token') as string;
    // Issued by one api process, used on the other's dashboard listener.
    const [api1, api2] = state.plan.apis;
    const r = await fetch(`${api1?.compute}/servers/${g.uuid}/remote-consoles`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-auth-token': token,
        'x-openstack-nova-api-version': '2.6',
      },
      body: JSON.stringify({ remote_console: { protocol: 'serial', type: 'serial' } }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    const url = new URL(
      ((await r.json()) as { remote_console: { url: string } }).remote_console.url,
    );
    if (api2) url.host = new URL(api2.dashboard).host;
    const t0 = Date.now();
    const ws = new WebSocket(url);
    let got = '';
    ws.on('message', (d: Buffer) => (got += d.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`refused: ${res.statusCode}`)));
    });
    try {
      ws.send('\r');
      await waitUntil(async () => got.includes('#'), 60_000, 'the guest shell prompt');
      ws.send('echo serial=$((6*7)); hostname\r');
      await waitUntil(async () => got.includes('serial=42'), 60_000, 'the command output');
    } finally {
      ws.close();
    }
    t.diagnostic(
      `serial console of ${g.ec2Id} on ${g.host} answered in ${seconds(Date.now() - t0)}`,
    );
  });

  it('a guest on host 1 reaches a guest on host 3 by private IP only under a rule whose source is a group', async (t) => {
    const a = guests.find((g) => g.host === 'lab-node1') as Guest;
    const b = guests.find((g) => g.host === 'lab-node3') as Guest;
    assert.ok(a?.floatingIp && b?.floatingIp, 'the earlier tests ran');
    // B's service answers on B itself: what follows is the firewall.
    assert.match(await sshUntil(b.floatingIp, 'echo | nc -w 2 127.0.0.1 8080', 30_000), /pong/);
    const probe = async () =>
      (await ssh(a.floatingIp as string, `echo | nc -w 2 ${b.privateIp} 8080`)).stdout.includes(
        'pong',
      );
    assert.equal(await probe(), false, 'refused while the group has no rule for 8080');
    const rule: IpPermission = {
      IpProtocol: 'tcp',
      FromPort: 8080,
      ToPort: 8080,
      UserIdGroupPairs: [{ GroupId: groupId }],
    };
    const t0 = Date.now();
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [rule] }),
    );
    await waitUntil(probe, 10_000, 'A to reach B once the rule is there');
    const allowed = Date.now() - t0;
    const t1 = Date.now();
    await ec2.send(
      new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [rule] }),
    );
    await waitUntil(async () => !(await probe()), 10_000, 'A to be refused again');
    t.diagnostic(
      `${a.ec2Id} on lab-node1 -> ${b.ec2Id} on lab-node3 (${b.privateIp}:8080): allowed ${seconds(allowed)} after the authorize was asked for, refused again ${seconds(Date.now() - t1)} after the revoke (each probe up to 2 s)`,
    );
  });

  it('after a compute host is stopped, its guests run on and new launches go to the others', async (t) => {
    const node2 = state.plan.processes.find((p) => p.name === 'lab-node2');
    assert.ok(node2);
    const pid = Number(fs.readFileSync(node2.pidFile, 'utf8'));
    const t0 = Date.now();
    process.kill(pid, 'SIGTERM');
    await waitUntil(
      async () => {
        const s = await lab('status', '--format', 'json');
        const status = JSON.parse(s.stdout) as { hosts: { host: string; state: string }[] };
        return status.hosts.find((h) => h.host === 'lab-node2')?.state === 'down';
      },
      30_000,
      'lab-node2 to show as down',
    );
    t.diagnostic(`lab-node2 shown down ${seconds(Date.now() - t0)} after SIGTERM`);
    // Its guests run on without it (their qemu, and the data plane in the host's namespace).
    for (const g of guests.filter((x) => x.host === 'lab-node2')) {
      assert.match(await sshUntil(g.floatingIp as string, 'hostname', 20_000), /ip-10-20-/);
    }
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 'm1.nano' as _InstanceType,
        MinCount: 4,
        MaxCount: 4,
        KeyName: 'labkey',
      }),
    );
    const ids = (r.Instances ?? []).map((i) => i.InstanceId as string);
    extra.push(...ids);
    await waitRunning(ids, 60_000);
    const hosts = (await rows(ids)).map((x) => x.host as string).sort();
    assert.deepEqual(hosts, ['lab-node1', 'lab-node1', 'lab-node3', 'lab-node3']);
    // Their CPU is better spent on the smoke test's guest.
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  });

  it('stratus smoke runs against the lab unchanged', async (t) => {
    const t0 = Date.now();
    const smoke = await stratus([
      'smoke',
      '--rc',
      rcFile,
      '--instance-type',
      'm1.nano',
      '--netns',
      clientNs,
      '--floating-ip',
      '--boot-timeout',
      '120',
      '--ssh-timeout',
      '120',
    ]);
    assert.equal(smoke.code, 0, `${smoke.stdout}\n${smoke.stderr}`);
    t.diagnostic(`stratus smoke passed in ${seconds(Date.now() - t0)}`);
    t.diagnostic(`whole file so far: ${seconds(Date.now() - started)}`);
  });
});
