// Scale benchmark of a cloud of many hosts: `stratus lab up --virt fake --hosts 100
// --api-processes 2 --schedulers 2` (every host its own OS process with its own bus connection,
// heartbeat and capacity reports), then 2,000 instances launched and deleted in batches by 50
// concurrent EC2 clients spread over both API processes. Prints the boot rate of each batch
// and where its launches spent their time (from their records), the schedulers' decision time
// (from their logs), memory per process, RabbitMQ connections and queues, and whether any host
// ever held more than its capacity (sampled all along).
// The lab runs on a PostgreSQL server of its own (a temp dir, max_connections 1000), so that
// 100 hosts' connections never crowd the machine's shared server.
//   npm run bench:scale   (or: node dist/bench/multi-host-scale.js [--hosts N] [--instances N]
//                          [--batch N] [--clients N] [--cpu-ratio R])
import {
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { LIVE_VM_STATES, openDatabase, type Database } from '../src/db/index.js';
import { readState, type LabState } from '../src/lab/index.js';
import { STRATUS_BIN, readRcFile } from '../test/support/cli.js';
import { insertImage } from '../test/support/images.js';
import { startPrivatePostgres } from '../test/support/private-postgres.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const HOSTS = arg('hosts', 100);
const INSTANCES = arg('instances', 2000);
const BATCH = arg('batch', 500);
const CLIENTS = arg('clients', 50);
/**
 * The instances are m1.xlarge (8 vCPUs) and the scheduler's CPU allocation ratio is its
 * lowest, 0.1: the fake driver's 1,024 vCPUs per host then hold 12 of them, so the capacity
 * check below has something to check (a batch of 500 fills 100 hosts to about 42%).
 * Every other setting is the default.
 */
const CPU_RATIO = arg('cpu-ratio', 0.1);
const FLAVOR = 'm1.xlarge';
const RAM_RATIO = 1.5;
const DISK_RATIO = 1;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function runStratus(args: readonly string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [STRATUS_BIN, ...args], { stdio: 'inherit' });
    child.once('exit', (code) => resolve(code));
  });
}

function rss(pid: number): { rssMb: number; peakMb: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

function spread(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `min ${s[0]?.toFixed(0)}, median ${percentile(s, 50).toFixed(0)}, max ${s[s.length - 1]?.toFixed(0)} MiB (n=${s.length})`;
}

/**
 * CPU seconds (user + system) a process has used so far, with those of its children that
 * ended (PostgreSQL's backends of closed connections); 0 when it is gone.
 */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i]), 0) / 100;
  } catch {
    return 0;
  }
}

/** Every process as pid, parent pid and command line. */
function allProcesses(): { pid: number; ppid: number; cmdline: string }[] {
  return fs.readdirSync('/proc').flatMap((d) => {
    if (!/^\d+$/.test(d)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      return [{ pid: Number(d), ppid, cmdline }];
    } catch {
      return [];
    }
  });
}

/** The pids of each role whose CPU time is reported: lab processes, the PostgreSQL server, RabbitMQ. */
function roles(state: LabState, postgresPort: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const p of state.plan.processes) {
    const pid = Number(fs.readFileSync(p.pidFile, 'utf8'));
    out.set(p.binary, [...(out.get(p.binary) ?? []), pid]);
  }
  const procs = allProcesses();
  const postmaster = procs.find((p) => p.cmdline.includes(` -p ${postgresPort} `));
  if (postmaster) {
    out.set("postgresql (the lab's own server)", [
      postmaster.pid,
      ...procs.filter((p) => p.ppid === postmaster.pid).map((p) => p.pid),
    ]);
  }
  const beam = procs.filter((p) => /beam\.smp/.test(p.cmdline) && p.cmdline.includes('rabbit'));
  if (beam.length > 0)
    out.set(
      'rabbitmq (the whole broker)',
      beam.map((p) => p.pid),
    );
  out.set(`this benchmark (${CLIENTS} EC2 clients)`, [process.pid]);
  return out;
}

/** The worst fill of any host (claims and live instances vs capacity x ratio), sampled. */
class CapacityWatch {
  samples = 0;
  worst = 0;
  worstHost = '';
  violations: string[] = [];
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(private readonly database: Database) {}

  start(): void {
    this.#done = (async () => {
      while (!this.#stop) {
        await this.sample().catch(() => undefined);
        await sleep(250);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }

  async sample(): Promise<void> {
    const { rows } = await sql<{
      host: string;
      vcpus: number;
      memoryMb: number;
      diskGb: number;
      claimVcpus: number;
      claimMemoryMb: number;
      claimDiskGb: number;
      liveVcpus: number;
    }>`
      select n.host, n.vcpus, n.memory_mb, n.disk_gb,
        coalesce((select sum(c.vcpus) from capacity_claims c where c.host = n.host), 0) as claim_vcpus,
        coalesce((select sum(c.memory_mb) from capacity_claims c where c.host = n.host), 0) as claim_memory_mb,
        coalesce((select sum(c.disk_gb) from capacity_claims c where c.host = n.host), 0) as claim_disk_gb,
        coalesce((select sum(i.vcpus) from instances i where i.host = n.host
          and i.vm_state in (${sql.join(LIVE_VM_STATES)})), 0) as live_vcpus
      from compute_nodes n`.execute(this.database.db);
    this.samples++;
    for (const r of rows) {
      const limit = {
        vcpus: Math.floor(Number(r.vcpus) * CPU_RATIO),
        memoryMb: Math.floor(Number(r.memoryMb) * RAM_RATIO),
        diskGb: Math.floor(Number(r.diskGb) * DISK_RATIO),
      };
      const fill = Math.max(
        Number(r.claimVcpus) / limit.vcpus,
        Number(r.liveVcpus) / limit.vcpus,
        Number(r.claimMemoryMb) / limit.memoryMb,
        Number(r.claimDiskGb) / limit.diskGb,
      );
      if (fill > this.worst) {
        this.worst = fill;
        this.worstHost = `${r.host}: ${Number(r.claimVcpus)} vCPUs claimed, ${Number(r.liveVcpus)} in live instances, limit ${limit.vcpus}`;
      }
      if (fill > 1) this.violations.push(`${r.host} at ${(fill * 100).toFixed(0)}%`);
    }
  }
}

async function liveCount(database: Database, since: number, state?: string): Promise<number> {
  let q = database.db
    .selectFrom('instances')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('createdAt', '>=', since);
  q = state ? q.where('vmState', '=', state as never) : q.where('vmState', 'in', LIVE_VM_STATES);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

async function states(database: Database, since: number): Promise<Record<string, number>> {
  const rows = await database.db
    .selectFrom('instances')
    .select(['vmState', (eb) => eb.fn.countAll<number>().as('n')])
    .where('createdAt', '>=', since)
    .groupBy('vmState')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.vmState, Number(r.n)]));
}

/**
 * Where a batch's launches spent their time, from the records they left: from the instance's
 * record (the api process admitted it) to its host starting the build (scheduling, recording
 * the host, the cast), and from there to running (network allocation, the driver, the
 * records). p50 and p99 in milliseconds.
 */
async function steps(database: Database, since: number): Promise<string> {
  const rows = await database.db
    .selectFrom('instances as i')
    .innerJoin('instanceActions as a', 'a.instanceId', 'i.id')
    .select(['i.createdAt', 'i.launchedAt', 'a.startedAt'])
    .where('i.createdAt', '>=', since)
    .where('a.action', '=', 'spawn')
    .where('i.launchedAt', 'is not', null)
    .execute();
  const toHost = rows.map((r) => Number(r.startedAt) - Number(r.createdAt)).sort((a, b) => a - b);
  const build = rows.map((r) => Number(r.launchedAt) - Number(r.startedAt)).sort((a, b) => a - b);
  const p = (v: number[]) => `p50 ${percentile(v, 50)} ms, p99 ${percentile(v, 99)} ms`;
  return rows.length === 0
    ? 'no finished builds'
    : `recorded -> build started ${p(toHost)}; build ${p(build)}`;
}

/** The messages of the batch's instances that ended in error, with their counts. */
async function why(database: Database, since: number): Promise<string> {
  const rows = await database.db
    .selectFrom('instances')
    .select(['stateMessage', (eb) => eb.fn.countAll<number>().as('n')])
    .where('createdAt', '>=', since)
    .where('vmState', '=', 'error')
    .groupBy('stateMessage')
    .execute();
  return rows.map((r) => `${Number(r.n)} x ${r.stateMessage}`).join('; ');
}

function rabbit(vhost: string): { connections: number; queues: number; messages: number } {
  const lines = (args: string[]) =>
    execFileSync('rabbitmqctl', ['-q', ...args])
      .toString()
      .trim()
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '');
  const queues = lines(['list_queues', '-p', vhost, 'name', 'messages']);
  return {
    connections: lines(['list_connections', '-p', vhost, 'name']).length,
    queues: queues.length,
    messages: queues.reduce((n, l) => n + (Number(l.split('\t')[1]) || 0), 0),
  };
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  console.log(
    `Stratus multi-host scale benchmark: ${HOSTS} fake-driver hosts, 2 api and 2 scheduler processes, ` +
      `${INSTANCES} ${FLAVOR} instances in batches of ${BATCH}, ${CLIENTS} EC2 clients, CPU allocation ratio ${CPU_RATIO}; ${os.cpus().length} cores, node ${process.version}`,
  );
  const postgres = await startPrivatePostgres({ max_connections: '1000' });
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-scale-')), 'lab');
  const name = `scale${randomBytes(3).toString('hex')}`;
  let database: Database | undefined;
  const clients: EC2Client[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const c of clients) c.destroy();
      await database?.close().catch(() => undefined);
      await runStratus(['lab', 'down', '--dir', dir]);
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
      postgres.remove();
    })());
  // Interrupted, it still takes its lab and its PostgreSQL server away.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: taking the lab down.`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    const t0 = performance.now();
    const code = await runStratus([
      'lab',
      'up',
      '--dir',
      dir,
      '--name',
      name,
      '--virt',
      'fake',
      '--hosts',
      String(HOSTS),
      '--api-processes',
      '2',
      '--schedulers',
      '2',
      '--postgres',
      postgres.url,
      '--log-level',
      'info',
      '--set',
      'quota.instances=1000000',
      '--set',
      'quota.cores=1000000',
      '--set',
      'quota.ramMb=10000000',
      '--set',
      `scheduler.cpuAllocationRatio=${CPU_RATIO}`,
    ]);
    if (code !== 0) throw new Error(`stratus lab up exited with ${code}`);
    console.log(`lab up: ${((performance.now() - t0) / 1000).toFixed(1)} s to every service up`);
    const state = readState(dir) as LabState;
    database = await openDatabase(state.plan.databaseUrl, { migrate: false });
    const image = await insertImage(database.db, { name: 'scale', sizeBytes: 0 });
    const ImageId = `ami-${image.id.replace(/-/g, '').slice(0, 17)}`;
    const rc = readRcFile(path.join(dir, 'stratusrc'));
    for (let i = 0; i < CLIENTS; i++) {
      const api = state.plan.apis[i % state.plan.apis.length];
      clients.push(
        new EC2Client({
          endpoint: api?.ec2,
          region: rc.AWS_DEFAULT_REGION as string,
          credentials: {
            accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
            secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
          },
          maxAttempts: 1,
        }),
      );
    }
    const watch = new CapacityWatch(database);
    watch.start();
    const postgresPort = new URL(postgres.url).port;
    const cpuBefore = new Map(
      [...roles(state, postgresPort)].map(([role, pids]) => [
        role,
        pids.reduce((n, pid) => n + cpuSeconds(pid), 0),
      ]),
    );
    const runStart = performance.now();
    const errors = new Map<string, number>();
    const failed = (err: unknown) => {
      const key = (err as Error).name ?? 'Error';
      errors.set(key, (errors.get(key) ?? 0) + 1);
    };
    let peak: ReturnType<typeof rabbit> | undefined;
    const rates: string[] = [];
    for (let b = 0, launched = 0; launched < INSTANCES; b++) {
      const size = Math.min(BATCH, INSTANCES - launched);
      launched += size;
      const since = Date.now() - 1;
      const start = performance.now();
      const ids: string[][] = clients.map(() => []);
      let next = 0;
      await Promise.all(
        clients.map(async (client, c) => {
          while (next < size) {
            next++;
            try {
              const r = await client.send(
                new RunInstancesCommand({
                  ImageId,
                  InstanceType: FLAVOR as _InstanceType,
                  MinCount: 1,
                  MaxCount: 1,
                }),
              );
              ids[c]?.push(r.Instances?.[0]?.InstanceId as string);
            } catch (err) {
              failed(err);
            }
          }
        }),
      );
      const accepted = (performance.now() - start) / 1000;
      const total = ids.flat().length;
      // Until none of the batch is still building: running, or whatever else it ended as.
      let active = 0;
      while ((active = await liveCount(database, since, 'active')) < total) {
        if ((await liveCount(database, since, 'building')) === 0) break;
        await sleep(50);
      }
      const running = (performance.now() - start) / 1000;
      const rate = active / running;
      const others =
        active < total
          ? ` (NOT RUNNING: ${JSON.stringify(await states(database, since))}; ${await why(database, since)})`
          : '';
      console.log(
        `batch ${b + 1}: ${total} launched (accepted in ${accepted.toFixed(1)} s), ${active} running after ${running.toFixed(1)} s: ${rate.toFixed(1)} instances/s${others}`,
      );
      console.log(`  steps: ${await steps(database, since)}`);
      rates.push(rate.toFixed(1));
      peak = rabbit(state.plan.vhost);
      const dStart = performance.now();
      await Promise.all(
        clients.map(async (client, c) => {
          const mine = ids[c] ?? [];
          for (let i = 0; i < mine.length; i += 10) {
            try {
              await client.send(
                new TerminateInstancesCommand({ InstanceIds: mine.slice(i, i + 10) }),
              );
            } catch (err) {
              failed(err);
            }
          }
        }),
      );
      while ((await liveCount(database, since)) > 0) await sleep(50);
      console.log(`  deleted in ${((performance.now() - dStart) / 1000).toFixed(1)} s`);
    }
    await watch.stop();
    await watch.sample();
    const wall = (performance.now() - runStart) / 1000;
    // Postgres backends come and go with connections: the ones gone took their time along.
    const cpu = [...roles(state, postgresPort)].map(
      ([role, pids]) =>
        [
          role,
          pids.reduce((n, pid) => n + cpuSeconds(pid), 0) - (cpuBefore.get(role) ?? 0),
          pids.length,
        ] as const,
    );

    console.log('');
    console.log(`boot rate (instances/s reaching running), batch by batch: ${rates.join(', ')}`);
    console.log(`  at the start ${rates[0]}, at the end ${rates[rates.length - 1]}`);
    const decisions: number[] = [];
    for (const p of state.plan.processes.filter((x) => x.binary === 'scheduler')) {
      for (const line of fs.readFileSync(p.logFile, 'utf8').split('\n')) {
        if (!line.includes('destinations selected')) continue;
        const ms = (JSON.parse(line) as { decisionMs?: number }).decisionMs;
        if (typeof ms === 'number') decisions.push(ms);
      }
    }
    decisions.sort((a, b) => a - b);
    console.log(
      `scheduler decision time (both schedulers, from their logs): p50 ${percentile(decisions, 50).toFixed(1)} ms, p99 ${percentile(decisions, 99).toFixed(1)} ms (n=${decisions.length})`,
    );
    const memory = (binary: string) =>
      state.plan.processes
        .filter((p) => p.binary === binary)
        .map((p) => rss(Number(fs.readFileSync(p.pidFile, 'utf8'))))
        .filter((m) => m !== undefined);
    const computes = memory('compute');
    console.log(`RSS per compute process now: ${spread(computes.map((m) => m.rssMb))}`);
    console.log(`  peak (VmHWM): ${spread(computes.map((m) => m.peakMb))}`);
    for (const binary of ['api', 'scheduler', 'network']) {
      console.log(`RSS per ${binary} process now: ${spread(memory(binary).map((m) => m.rssMb))}`);
    }
    const end = rabbit(state.plan.vhost);
    console.log(
      `RabbitMQ vhost ${state.plan.vhost}: ${end.connections} connections, ${end.queues} queues (at the last batch's peak: ${peak?.connections} connections, ${peak?.queues} queues, ${peak?.messages} messages waiting)`,
    );
    console.log(
      `capacity: ${watch.samples} samples of every host; fullest host ${(watch.worst * 100).toFixed(0)}% (${watch.worstHost}); ` +
        (watch.violations.length === 0
          ? 'no host ever held more than its capacity'
          : `OVER CAPACITY ${watch.violations.length} times: ${watch.violations.slice(0, 5).join(', ')}`),
    );
    console.log(
      `CPU seconds used during the ${wall.toFixed(0)} s of launches and deletes (${os.cpus().length} cores, so ${(wall * os.cpus().length).toFixed(0)} available):`,
    );
    for (const [role, seconds, n] of cpu) {
      console.log(`  ${role} (${n} process${n === 1 ? '' : 'es'}): ${seconds.toFixed(1)} s`);
    }
    console.log(
      `errors: ${errors.size === 0 ? 'none' : [...errors].map(([k, n]) => `${k} x${n}`).join(', ')}`,
    );
  } finally {
    await cleanUp();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
