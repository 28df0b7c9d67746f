// Security groups on a running guest: nftables rules in the host namespace's table, checked
// with real TCP from a client namespace, from the host namespace and from another guest, and
// egress rules checked with real TCP from the guest.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HostDataPlane } from '../src/network/dataplane/index.js';
import type { EffectiveRule } from '../src/network/index.js';
import { needs } from './support/capabilities.js';
import {
  Cleanup,
  FakeGuest,
  joinClient,
  listen,
  startDataPlane,
  tcpProbe,
  uniqueName,
  waitFor,
} from './support/netns.js';

function rule(
  protocol: EffectiveRule['protocol'],
  fromPort: number | null,
  toPort: number | null,
  sources: string[],
): EffectiveRule {
  return {
    ruleId: randomUUID(),
    groupId: 'g',
    protocol,
    fromPort,
    toPort,
    cidr: sources[0] ?? null,
    sourceGroupId: null,
    sources,
  };
}

describe('security groups on running guests', needs('netns', 'busybox'), () => {
  const cleanup = new Cleanup();
  let dp: HostDataPlane;
  let client: FakeGuest;
  const web = { id: randomUUID(), mac: 'fa:16:3e:10:00:01', ip: '10.79.0.10' };
  const app = { id: randomUUID(), mac: 'fa:16:3e:10:00:02', ip: '10.79.0.11' };
  let webGuest: FakeGuest;
  let appGuest: FakeGuest;

  async function apply(
    instanceId: string,
    rules: EffectiveRule[],
    egress?: EffectiveRule[],
  ): Promise<void> {
    await dp.setSecurityRules(instanceId, rules, undefined, egress);
  }

  before(async () => {
    dp = await startDataPlane(cleanup, '10.79.0.0/24');
    client = await new FakeGuest(cleanup, uniqueName('st-c')).create();
    await joinClient(dp.ns, client.ns, 'ext0', '172.31.9.1', '172.31.9.2');
    webGuest = await new FakeGuest(cleanup).create();
    appGuest = await new FakeGuest(cleanup).create();
    for (const [g, ns] of [
      [web, webGuest],
      [app, appGuest],
    ] as const) {
      await dp.plugGuest({
        instanceId: g.id,
        mac: g.mac,
        fixedIp: g.ip,
        hostname: 'guest',
        port: ns.port,
      });
      assert.equal(await ns.dhcp(), g.ip);
    }
    listen(webGuest, 22, 'ssh-here');
    listen(webGuest, 8080, 'http-here');
    // The listener is up once the guest's own loopback reaches it.
    await waitFor('the listener', () => tcpProbe(webGuest.ns, '127.0.0.1', 22));
  });
  after(() => cleanup.run());

  it('denies inbound TCP by default, from outside, from the host and from other guests', async () => {
    assert.equal(await tcpProbe(client.ns, web.ip, 22), undefined);
    assert.equal(await tcpProbe(dp.ns, web.ip, 22), undefined);
    assert.equal(await tcpProbe(appGuest.ns, web.ip, 22), undefined);
  });

  it('opens a port to a CIDR on authorize, at once, and closes it on revoke', async () => {
    await apply(web.id, [rule('tcp', 22, 22, ['172.31.9.0/24'])]);
    assert.equal(await tcpProbe(client.ns, web.ip, 22, 3), 'ssh-here');
    assert.equal(await tcpProbe(client.ns, web.ip, 8080), undefined, 'only the port allowed');
    assert.equal(await tcpProbe(appGuest.ns, web.ip, 22), undefined, 'only the CIDR allowed');
    await apply(web.id, []);
    assert.equal(await tcpProbe(client.ns, web.ip, 22), undefined);
  });

  it('allows port ranges, all protocols, and group-to-group sources by member address', async () => {
    await apply(web.id, [rule('tcp', 8000, 8100, ['0.0.0.0/0'])]);
    assert.equal(await tcpProbe(client.ns, web.ip, 8080, 3), 'http-here');
    assert.equal(
      await tcpProbe(dp.ns, web.ip, 8080, 3),
      'http-here',
      'from the host namespace too',
    );
    assert.equal(await tcpProbe(client.ns, web.ip, 22), undefined);

    // A rule naming the app group as source: its members' fixed IPs, one /32 each.
    await apply(web.id, [rule('tcp', 22, 22, [`${app.ip}/32`])]);
    assert.equal(await tcpProbe(appGuest.ns, web.ip, 22, 3), 'ssh-here');
    assert.equal(await tcpProbe(client.ns, web.ip, 22), undefined);

    // Overlapping rules are fine: all protocols from the client network plus a narrower one.
    await apply(web.id, [
      rule('-1', null, null, ['172.31.9.0/24']),
      rule('tcp', 22, 22, ['172.31.9.2/32']),
    ]);
    assert.equal(await tcpProbe(client.ns, web.ip, 22, 3), 'ssh-here');
    assert.equal(await tcpProbe(client.ns, web.ip, 8080, 3), 'http-here');
    await apply(web.id, [rule('tcp', 22, 22, ['172.31.9.2/32'])]);
    assert.equal(
      await tcpProbe(client.ns, web.ip, 8080),
      undefined,
      'revoking one keeps the other',
    );
    assert.equal(await tcpProbe(client.ns, web.ip, 22, 3), 'ssh-here');
  });

  it('limits what a guest sends by its egress rules, and lets replies to what it accepted out', async () => {
    listen(client, 9000, 'client-here');
    listen(appGuest, 9001, 'app-here');
    await waitFor('the listeners', async () =>
      (await tcpProbe(client.ns, '127.0.0.1', 9000)) === 'client-here' &&
      (await tcpProbe(appGuest.ns, '127.0.0.1', 9001)) === 'app-here'
        ? true
        : undefined,
    );
    // The other guest lets the web guest in on 9001 (its ingress), so what decides is egress.
    await apply(app.id, [rule('tcp', 9001, 9001, [`${web.ip}/32`])]);
    await apply(
      web.id,
      [rule('tcp', 22, 22, ['0.0.0.0/0'])],
      [rule('-1', null, null, ['0.0.0.0/0'])],
    );
    assert.equal(await tcpProbe(webGuest.ns, '172.31.9.2', 9000, 3), 'client-here', 'allow-all');
    assert.equal(await tcpProbe(webGuest.ns, app.ip, 9001, 3), 'app-here', 'to another guest');

    // The allow-all egress rule revoked: nothing leaves but replies to accepted connections.
    await apply(web.id, [rule('tcp', 22, 22, ['0.0.0.0/0'])], []);
    assert.equal(await tcpProbe(webGuest.ns, '172.31.9.2', 9000), undefined, 'egress closed');
    assert.equal(await tcpProbe(webGuest.ns, app.ip, 9001), undefined, 'to guests too');
    assert.equal(await tcpProbe(client.ns, web.ip, 22, 3), 'ssh-here', 'replies still leave');

    // One port to one address opens exactly that.
    await apply(web.id, [], [rule('tcp', 9000, 9000, ['172.31.9.2/32'])]);
    assert.equal(await tcpProbe(webGuest.ns, '172.31.9.2', 9000, 3), 'client-here');
    assert.equal(await tcpProbe(webGuest.ns, app.ip, 9001), undefined, 'not another address');

    // A group destination: the other guest's address, one /32.
    await apply(web.id, [], [rule('tcp', 9001, 9001, [`${app.ip}/32`])]);
    assert.equal(await tcpProbe(webGuest.ns, app.ip, 9001, 3), 'app-here');
    assert.equal(await tcpProbe(webGuest.ns, '172.31.9.2', 9000), undefined);

    // Without egress rules (not filtered), everything goes again.
    await apply(web.id, []);
    assert.equal(await tcpProbe(webGuest.ns, '172.31.9.2', 9000, 3), 'client-here');
  });
});
