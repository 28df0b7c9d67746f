// Soak bench: churn with real guests for N minutes from several clients at once, each in its
// own project (own user, EC2 keys, key pair and default security group) and its own client
// namespace, so it reaches its guests only at their Elastic IPs. Each client loops:
//   run -> wait running -> allocate + associate an Elastic IP -> authorize tcp/22 (a rule
//   change) -> ssh in (OpenSSH, from the client namespace, at the Elastic IP) -> revoke ->
//   terminate (and wait terminated) -> release
// and the bench reports iterations, failures with their reasons, p50/p99 of each step, and the
// RSS of every process of the cloud (the all-in-one, its dnsmasq, its qemus) at start and end.
// Runs `stratus all-in-one --virt qemu` on its namespace data plane as a child process; all
// traffic stays inside namespaces made here. Needs root, qemu, ssh and the guest image.
//   npm run bench:soak        (or: node dist/bench/soak.js [--minutes N] [--clients C])
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  ReleaseAddressCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sshRun } from '../src/smoke/ssh.js';
import { unavailable } from '../test/support/capabilities.js';
import { readRcFile, startStratus, STRATUS_BIN } from '../test/support/cli.js';
import { FREE_PORT_ARGS } from '../test/support/ports.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) || fallback : fallback;
}
const MINUTES = arg('minutes', 30);
const CLIENTS = arg('clients', 3);
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));
const STEPS = [
  'run',
  'wait-running',
  'allocate',
  'associate',
  'authorize',
  'ssh',
  'revoke',
  'terminate',
  'release',
] as const;
type Step = (typeof STEPS)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kb: number) => (kb / 1024).toFixed(1);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * Every process whose command line names one of `markers` (the state dir, the data plane's
 * runtime dir): the all-in-one, its dnsmasq, its qemus.
 */
function processes(
  markers: string[],
  extraPids: number[],
): { pid: number; name: string; rssKb: number }[] {
  const out: { pid: number; name: string; rssKb: number }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!extraPids.includes(pid) && !cmdline.some((a) => markers.some((m) => a.includes(m))))
        continue;
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
      const exe = path.basename(cmdline[0] ?? '?');
      // node: the script and its first argument (`stratus.js all-in-one`, the metadata proxy).
      const name = exe.startsWith('node')
        ? `node ${path.basename(cmdline[1] ?? '')} ${cmdline[2] ?? ''}`.trim()
        : exe;
      out.push({ pid, name, rssKb });
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** The all-in-one's V8 heap as its own /metrics reports it (no collection forced). */
async function heapFigures(metricsUrl: string | undefined): Promise<string> {
  if (!metricsUrl) return '';
  try {
    const text = await (await fetch(metricsUrl)).text();
    const get = (name: string) =>
      Number(new RegExp(`^stratus_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1024;
    return (
      `  heapUsed ${MiB(get('nodejs_heap_size_used_bytes'))}  heapTotal ${MiB(get('nodejs_heap_size_total_bytes'))}` +
      `  external ${MiB(get('nodejs_external_memory_bytes'))} MiB`
    );
  } catch (err) {
    return `  (metrics unavailable: ${String(err)})`;
  }
}

async function memoryReport(
  label: string,
  markers: string[],
  mainPid: number,
  metricsUrl: string | undefined,
): Promise<string[]> {
  const ps = processes(markers, [mainPid]);
  const qemus = ps.filter((p) => p.name.startsWith('qemu'));
  const lines = [
    `${label}: ${qemus.length} qemu processes (${MiB(qemus.reduce((n, p) => n + p.rssKb, 0))} MiB RSS in all)`,
  ];
  for (const p of ps.filter((x) => !x.name.startsWith('qemu'))) {
    const heap = p.pid === mainPid ? await heapFigures(metricsUrl) : '';
    lines.push(
      `  pid ${String(p.pid).padStart(7)}  ${p.name.padEnd(24)} RSS ${MiB(p.rssKb).padStart(7)} MiB${heap}`,
    );
  }
  return lines;
}

interface Client {
  name: string;
  netns: string;
  ec2: EC2Client;
  keyName: string;
  privateKey: string;
}

interface Failure {
  client: string;
  iteration: number;
  step: Step;
  reason: string;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const why = unavailable('root', 'qemu', 'qemu-img', 'ssh', 'guest-image', 'netns');
  if (why) {
    console.log(`bench:soak skipped: ${why}`);
    return;
  }
  const tag = randomBytes(3).toString('hex');
  const netns = `st-soak-${tag}`;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-soak-'));
  const manage = (...args: string[]) =>
    execFileSync(process.execPath, [STRATUS_BIN, 'manage', '--state-dir', stateDir, ...args], {
      encoding: 'utf8',
    });
  console.log(
    `Stratus soak bench: ${MINUTES} min, ${CLIENTS} clients, all-in-one on QEMU (namespace data plane ${netns}), ` +
      `${os.cpus().length} cores, node ${process.version}`,
  );
  const cloud = startStratus([
    'all-in-one',
    '--state-dir',
    stateDir,
    '--virt',
    'qemu',
    '--data-plane',
    'namespace',
    '--data-plane-namespace',
    netns,
    ...FREE_PORT_ARGS,
    '--log-level',
    'warn',
    '--quota-instances',
    '20',
    '--quota-addresses',
    '10',
  ]);
  const clients: Client[] = [];
  const namespaces: string[] = [];
  const failures: Failure[] = [];
  const times = new Map<Step, number[]>(STEPS.map((s) => [s, []]));
  let iterations = 0;
  try {
    await cloud.waitFor(/Press Ctrl-C to stop/, 120_000);
    const pid = cloud.child.pid as number;
    const markers = [stateDir, `/${netns}/`];
    const metricsUrl = /metrics:\s+(\S+)/.exec(cloud.output())?.[1];
    const rc = readRcFile(path.join(stateDir, 'stratusrc'));
    for (let i = 1; i <= CLIENTS; i++) {
      const name = `soak${i}`;
      const created = manage('user', 'create', name, '--project', `soak-project-${i}`);
      const field = (k: string) => new RegExp(`^${k}\\s+(\\S+)$`, 'm').exec(created)?.[1] ?? '';
      const ec2 = new EC2Client({
        endpoint: rc.EC2_URL,
        region: rc.AWS_DEFAULT_REGION,
        credentials: { accessKeyId: field('access_key'), secretAccessKey: field('secret_key') },
        maxAttempts: 1,
      });
      const clientNs = `${netns}-c${i}`;
      execFileSync(path.join(SCRIPTS, 'client-netns'), ['add', clientNs, netns]);
      namespaces.push(clientNs);
      const key = await ec2.send(new CreateKeyPairCommand({ KeyName: `soak-${i}` }));
      clients.push({
        name,
        netns: clientNs,
        ec2,
        keyName: `soak-${i}`,
        privateKey: key.KeyMaterial as string,
      });
    }
    const images = await clients[0]?.ec2.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const imageId = images?.Images?.[0]?.ImageId;
    if (!imageId) throw new Error('the all-in-one did not import the guest image');

    const start = await memoryReport('at start', markers, pid, metricsUrl);
    for (const l of start) console.log(l);
    const t0 = Date.now();
    const endAt = t0 + MINUTES * 60_000;
    await Promise.all(
      clients.map(async (c) => {
        for (let n = 1; Date.now() < endAt; n++) {
          const failure = await iteration(c, imageId, times);
          iterations++;
          if (failure) {
            failures.push({ client: c.name, iteration: n, ...failure });
            console.log(`[${c.name}#${n}] FAILED at ${failure.step}: ${failure.reason}`);
          } else {
            console.log(
              `[${c.name}#${n}] ok (${((Date.now() - t0) / 60_000).toFixed(1)} of ${MINUTES} min)`,
            );
          }
        }
      }),
    );
    // Let terminated guests' qemus exit and the cloud go quiet before the last measure.
    await sleep(5_000);
    const end = await memoryReport('at end', markers, pid, metricsUrl);

    console.log(
      `\n${iterations} iterations in ${((Date.now() - t0) / 60_000).toFixed(1)} min from ${CLIENTS} clients, ${failures.length} failures`,
    );
    for (const f of failures)
      console.log(`  ${f.client} iteration ${f.iteration}, ${f.step}: ${f.reason}`);
    console.log('\nstep            n      p50 s    p99 s    max s');
    for (const step of STEPS) {
      const xs = [...(times.get(step) ?? [])].sort((a, b) => a - b);
      const f = (ms: number) => (ms / 1000).toFixed(2).padStart(8);
      console.log(
        `${step.padEnd(13)} ${String(xs.length).padStart(4)} ${f(percentile(xs, 50))} ${f(percentile(xs, 99))} ${f(xs.at(-1) ?? NaN)}`,
      );
    }
    console.log('\nmemory');
    for (const l of [...start, ...end]) console.log(l);
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    for (const c of clients) c.ec2.destroy();
    for (const ns of namespaces) {
      execFileSync(path.join(SCRIPTS, 'client-netns'), ['del', ns, netns], { stdio: 'ignore' });
    }
    await cloud.stop('SIGTERM');
    // The data plane outlives the process by design (guests keep their network): remove it.
    try {
      manage('network', 'teardown', '--data-plane-namespace', netns);
    } catch (err) {
      console.error(`could not remove the data plane ${netns}: ${String(err)}`);
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

/** One pass of the loop; a failure names its step, and what was made is undone. */
async function iteration(
  c: Client,
  imageId: string,
  times: Map<Step, number[]>,
): Promise<{ step: Step; reason: string } | undefined> {
  let step: Step = 'run';
  let instanceId: string | undefined;
  let allocationId: string | undefined;
  let authorized = false;
  let terminated = false;
  const rule = {
    GroupName: 'default',
    IpPermissions: [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ],
  };
  const timed = async <T>(s: Step, fn: () => Promise<T>): Promise<T> => {
    step = s;
    const t = performance.now();
    const r = await fn();
    times.get(s)?.push(performance.now() - t);
    return r;
  };
  const state = async () => {
    const d = await c.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [instanceId as string] }),
    );
    return d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
  };
  const waitState = async (want: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await state();
      if (s === want) return;
      if (
        String(s) === 'error' ||
        (want === 'running' && (s === 'terminated' || s === 'shutting-down'))
      ) {
        throw new Error(`instance ${instanceId} went ${s}`);
      }
      if (Date.now() > deadline) throw new Error(`not ${want} after ${timeoutMs / 1000} s (${s})`);
      // Polling costs CPU the guests need on a small host.
      await sleep(250);
    }
  };
  try {
    const r = await timed('run', () =>
      c.ec2.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          KeyName: c.keyName,
        }),
      ),
    );
    instanceId = r.Instances?.[0]?.InstanceId;
    if (!instanceId) throw new Error('RunInstances returned no instance');
    await timed('wait-running', () => waitState('running', 300_000));
    const alloc = await timed('allocate', () =>
      c.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' })),
    );
    allocationId = alloc.AllocationId;
    const publicIp = alloc.PublicIp as string;
    await timed('associate', () =>
      c.ec2.send(
        new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId }),
      ),
    );
    await timed('authorize', () => c.ec2.send(new AuthorizeSecurityGroupIngressCommand(rule)));
    authorized = true;
    const out = await timed('ssh', () =>
      sshRun(
        { host: publicIp, user: 'root', privateKey: c.privateKey, netns: c.netns },
        'uname -n',
        { timeoutMs: 300_000, pollMs: 500 },
      ),
    );
    if (!/\S/.test(out)) throw new Error('ssh ran, but the command printed nothing');
    await timed('revoke', () => c.ec2.send(new RevokeSecurityGroupIngressCommand(rule)));
    authorized = false;
    await timed('terminate', async () => {
      await c.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId as string] }));
      await waitState('terminated', 300_000);
    });
    terminated = true;
    await timed('release', () =>
      c.ec2.send(new ReleaseAddressCommand({ AllocationId: allocationId })),
    );
    allocationId = undefined;
    return undefined;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    // Undo what this pass made, so the next one starts clean.
    const quietly = (p: Promise<unknown>) => p.catch(() => undefined);
    if (authorized) await quietly(c.ec2.send(new RevokeSecurityGroupIngressCommand(rule)));
    if (instanceId && !terminated) {
      await quietly(c.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
      await quietly(waitState('terminated', 300_000));
    }
    if (allocationId) {
      await quietly(c.ec2.send(new ReleaseAddressCommand({ AllocationId: allocationId })));
    }
    return { step, reason: reason.split('\n')[0] ?? reason };
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
