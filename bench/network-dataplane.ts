// Data-plane benchmark (root): start and teardown of a host namespace, and per guest the time
// to plug it, for its DHCP to complete (busybox udhcpc in a namespace guest), to apply a
// security-group change, to associate a floating IP, and to unplug it.
//   node dist/bench/network-dataplane.js [--guests N]
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { HostDataPlane } from '../src/network/dataplane/index.js';
import { unavailable } from '../test/support/capabilities.js';
import { Cleanup, FakeGuest, tempDir, uniqueName } from '../test/support/netns.js';

const GUESTS = Number(process.argv[process.argv.indexOf('--guests') + 1]) || 20;

function summary(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  return `${name.padEnd(22)} p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms (n=${s.length})`;
}

async function timed<T>(into: number[], fn: () => Promise<T>): Promise<T> {
  const t = process.hrtime.bigint();
  const r = await fn();
  into.push(Number(process.hrtime.bigint() - t) / 1e6);
  return r;
}

async function main(): Promise<void> {
  const skip = unavailable('netns', 'busybox');
  if (skip) {
    console.log(`network data-plane bench skipped: ${skip}`);
    return;
  }
  const cleanup = new Cleanup();
  const dir = tempDir();
  cleanup.add(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const dp = new HostDataPlane({
    namespace: uniqueName('st-b'),
    bridge: 'br100',
    network: {
      cidr: '10.90.0.0/24',
      gateway: '10.90.0.1',
      dhcpStart: '10.90.0.2',
      dhcpEnd: '10.90.0.254',
      dns: '',
    },
    leaseSeconds: 120,
    stateDir: dir,
    leases: { onEvent: async () => undefined, knownLeases: async () => [] },
  });
  cleanup.add(() => dp.teardown());
  const t = {
    start: [],
    plug: [],
    dhcp: [],
    rules: [],
    associate: [],
    unplug: [],
    teardown: [],
  } as Record<string, number[]>;
  try {
    await timed(t.start as number[], () => dp.start());
    for (let i = 0; i < GUESTS; i++) {
      const guest = await new FakeGuest(cleanup).create();
      const id = randomUUID();
      const ip = `10.90.0.${10 + i}`;
      const mac = `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
      await timed(t.plug as number[], () =>
        dp.plugGuest({ instanceId: id, mac, fixedIp: ip, hostname: `b${i}`, port: guest.port }),
      );
      const got = await timed(t.dhcp as number[], () => guest.dhcp());
      if (got !== ip) throw new Error(`guest ${i} got ${got} instead of ${ip}`);
      await timed(t.rules as number[], () =>
        dp.setSecurityRules(id, [
          {
            ruleId: 'r',
            groupId: 'g',
            protocol: 'tcp',
            fromPort: 22,
            toPort: 22,
            cidr: '0.0.0.0/0',
            sourceGroupId: null,
            sources: ['0.0.0.0/0'],
          },
        ]),
      );
      await timed(t.associate as number[], () => dp.associate(`172.29.0.${10 + i}`, ip));
    }
    for (const id of dp.guests()) await timed(t.unplug as number[], () => dp.unplugGuest(id));
    await timed(t.teardown as number[], () => dp.teardown());
    for (const [name, ms] of Object.entries(t)) console.log(summary(name, ms));
  } finally {
    await cleanup.run();
  }
}

await main();
