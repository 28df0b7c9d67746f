// IMDSv2 on real packets, and its hop limit: a cloud on the fake driver runs a compute host with
// its network agent and metadata server as main.ts wires them; a namespace stands in for the
// guest, and a second namespace behind it, routed and masqueraded by the guest, stands in for a
// container one hop further in. The guest gets a session token through 169.254.169.254 (the
// DNAT and the proxy); one asked for through a proxy of its own (X-Forwarded-For) is refused.
// With the default hop limit of 1 the metadata service's replies reach the guest with TTL 1, so
// the container's token request gets no answer; ModifyInstanceMetadataOptions with a hop limit
// of 2 reaches the host's data plane and the container gets its token.
import {
  DescribeInstancesCommand,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataServer, MetadataService } from '../src/api/metadata/index.js';
import { InstanceMetadataReader } from '../src/compute/index.js';
import { InstanceRepo, type InstanceRow } from '../src/db/index.js';
import { Namespace } from '../src/network/dataplane/index.js';
import { NetworkAgent } from '../src/network/index.js';
import { needs } from './support/capabilities.js';
import { startAgentHost } from './support/compute-host.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { Cleanup, FakeGuest, tempDir, uniqueName, waitFor } from './support/netns.js';

const HOST = 'hop-host';
const MD = 'http://169.254.169.254';

/** An HTTP client run inside a namespace: prints `{status, body}` or `{error}` as JSON. */
const CLIENT = `
import http from 'node:http';
const [method, url, headers, timeout] = process.argv.slice(2);
const req = http.request(url, { method, headers: JSON.parse(headers), timeout: Number(timeout) }, (res) => {
  let body = '';
  res.on('data', (c) => (body += c));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
req.end();
`;

describe('IMDSv2 through the data plane, and the hop limit', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let t: TestCloud;
  let agent: NetworkAgent;
  let guest: FakeGuest;
  let container: Namespace;
  let row: InstanceRow;
  let ec2Id: string;
  let clientScript: string;

  before(async () => {
    t = await startTestCloud({}, { services: ['network', 'scheduler', 'api'] });
    cleanup.add(() => t.stop());
    const image = await t.addImage({ name: 'hop-image' });
    const imageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const dir = tempDir();
    cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
    clientScript = path.join(dir, 'client.mjs');
    fs.writeFileSync(clientScript, CLIENT);
    const db = t.cloud.database.db;
    const socket = path.join(dir, 'metadata.sock');
    const server = new MetadataServer(
      new MetadataService(new InstanceMetadataReader(db), t.region),
    );
    await server.listen(socket);
    cleanup.add(() => server.close());
    agent = await startAgentHost(t, cleanup, {
      host: HOST,
      stateDir: dir,
      metadataSocket: socket,
      portFor: () => guest.port,
    });
    guest = await new FakeGuest(cleanup).create();

    const run = await t.admin.send(
      new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }),
    );
    ec2Id = run.Instances?.[0]?.InstanceId as string;
    await waitUntil(
      async () => {
        const d = await t.admin.send(new DescribeInstancesCommand({ InstanceIds: [ec2Id] }));
        return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running';
      },
      10_000,
      'the instance to run',
    );
    row = (await new InstanceRepo(db).list({})).find((r) => r.privateIp !== null) as InstanceRow;
    assert.equal(await guest.dhcp(), row.privateIp);

    // The container: a namespace behind the guest, which routes for it and masquerades it (so
    // what leaves the guest comes from its own fixed IP, as the port filter demands).
    container = cleanup.namespace(uniqueName('st-k'));
    await container.create();
    await guest.ns.ip([
      'link',
      'add',
      'ct0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      container.name,
    ]);
    await guest.ns.ip(['addr', 'add', '192.168.77.1/24', 'dev', 'ct0']);
    await guest.ns.ip(['link', 'set', 'ct0', 'up']);
    await container.ip(['addr', 'add', '192.168.77.2/24', 'dev', 'eth0']);
    await container.ip(['link', 'set', 'eth0', 'up']);
    await container.ip(['link', 'set', 'lo', 'up']);
    await container.ip(['route', 'add', 'default', 'via', '192.168.77.1']);
    await guest.ns.sysctl('net.ipv4.ip_forward', '1');
    await guest.ns.exec('nft', ['-f', '-'], {
      input: [
        'table ip guestnat {',
        '  chain post { type nat hook postrouting priority srcnat; policy accept;',
        '    oifname "eth0" masquerade',
        '  }',
        '}',
        // What reaches the guest from the metadata service, counted by IP TTL.
        'table inet seen {',
        '  chain input { type filter hook input priority filter; policy accept;',
        '    ip saddr 169.254.169.254 tcp sport 80 ip ttl 1 counter',
        '    ip saddr 169.254.169.254 tcp sport 80 ip ttl 2 counter',
        '  }',
        '}',
      ].join('\n'),
    });
  });
  after(() => cleanup.run());

  async function http(
    from: Namespace,
    method: string,
    urlPath: string,
    headers: Record<string, string> = {},
    timeoutMs = 2000,
  ): Promise<{ status?: number; body?: string; error?: string }> {
    const { stdout } = await from.exec(process.execPath, [
      clientScript,
      method,
      `${MD}${urlPath}`,
      JSON.stringify(headers),
      String(timeoutMs),
    ]);
    return JSON.parse(stdout) as { status?: number; body?: string; error?: string };
  }
  const putToken = (from: Namespace, extra: Record<string, string> = {}, timeoutMs?: number) =>
    http(
      from,
      'PUT',
      '/latest/api/token',
      { 'X-aws-ec2-metadata-token-ttl-seconds': '60', ...extra },
      timeoutMs,
    );

  /** The packet counts of the guest's TTL counters: [TTL 1, TTL 2]. */
  async function seen(): Promise<[number, number]> {
    const { stdout } = await guest.ns.exec('nft', ['list', 'table', 'inet', 'seen']);
    const counts = [...stdout.matchAll(/ip ttl (\d) counter packets (\d+)/g)];
    const of = (ttl: string) => Number(counts.find((c) => c[1] === ttl)?.[2] ?? -1);
    return [of('1'), of('2')];
  }

  it('gives the guest a token through 169.254.169.254 and serves it with it', async () => {
    const tok = await putToken(guest.ns);
    assert.equal(tok.status, 200, JSON.stringify(tok));
    const r = await http(guest.ns, 'GET', '/latest/meta-data/instance-id', {
      'X-aws-ec2-metadata-token': tok.body as string,
    });
    assert.deepEqual([r.status, r.body], [200, ec2Id]);
    const bad = await http(guest.ns, 'GET', '/latest/meta-data/instance-id', {
      'X-aws-ec2-metadata-token': 'forged',
    });
    assert.equal(bad.status, 401);
  });

  it('refuses a token request the guest sends through a proxy of its own', async () => {
    const r = await putToken(guest.ns, { 'X-Forwarded-For': '192.168.77.2' });
    assert.equal(r.status, 403);
    // Naming itself in the header the proxy uses for this changes nothing.
    const sneaky = await putToken(guest.ns, { 'X-Stratus-Client-Forwarded-For': 'x' });
    assert.equal(sneaky.status, 200);
  });

  it('sends the replies with TTL 1: the guest gets them, the container one hop in does not', async () => {
    const before = await seen();
    assert.equal((await putToken(guest.ns)).status, 200);
    const after = await seen();
    assert.ok(after[0] > before[0], `replies arrived with TTL 1 (${before} -> ${after})`);
    assert.equal(after[1], before[1], 'none with TTL 2');
    const fromContainer = await putToken(container, {}, 1500);
    assert.equal(fromContainer.status, undefined, 'no answer reaches the container');
    assert.match(fromContainer.error ?? '', /timeout|ECONNRESET|EHOSTUNREACH/);
  });

  it('raises the TTL to the hop limit ModifyInstanceMetadataOptions sets: the container gets a token', async () => {
    const chain = async () =>
      (await agent.dataPlane.ns.exec('nft', ['list', 'table', 'inet', 'stratus'])).stdout;
    assert.match(await chain(), /tcp sport 8775 ip ttl set 1/);
    await t.admin.send(
      new ModifyInstanceMetadataOptionsCommand({ InstanceId: ec2Id, HttpPutResponseHopLimit: 2 }),
    );
    await waitFor('the new TTL in the guest chain', async () =>
      /tcp sport 8775 ip ttl set 2/.test(await chain()),
    );
    const before = await seen();
    assert.equal((await putToken(guest.ns)).status, 200);
    const after = await seen();
    assert.ok(after[1] > before[1], `replies arrived with TTL 2 (${before} -> ${after})`);
    const fromContainer = await putToken(container);
    assert.equal(fromContainer.status, 200, JSON.stringify(fromContainer));
    // The container's token is the instance's: it works from the guest too.
    const r = await http(guest.ns, 'GET', '/latest/meta-data/instance-id', {
      'X-aws-ec2-metadata-token': fromContainer.body as string,
    });
    assert.equal(r.body, ec2Id);
    await t.admin.send(new TerminateInstancesCommand({ InstanceIds: [ec2Id] }));
  });
});
