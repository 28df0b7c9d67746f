// Crash rounds for issue 13 ("no launch left behind"): a cloud of real stratus processes on the
// fake driver, a burst of concurrent launches and terminates, one kind of process killed with
// SIGKILL at a random moment, restarted on the same state, and then the wait until every
// instance has settled, with its claims, addresses and VMs checked. Shared by the regression
// test (a few rounds) and bench/crash-recovery.ts (more rounds, figures).
import {
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database, type ImageRow } from '../../src/db/index.js';
import { ec2Id } from '../../src/ids/index.js';
import { fakeDriverStateFile } from '../../src/main.js';
import { removeBusExchange, testBusExchange } from './amqp.js';
import { AMQP_URL } from './capabilities.js';
import { readRcFile, startStratus, type RunningStratus } from './cli.js';
import { postgresBackend } from './databases.js';
import { insertImage } from './images.js';
import { FREE_PORT_ARGS } from './ports.js';

export type ProcessKind = 'all-in-one' | 'api' | 'scheduler' | 'network' | 'compute';

/** The timings every process of a crash cloud runs with (short, so rounds are quick). */
export const CRASH_TIMINGS = {
  reconcileIntervalSeconds: 0.25,
  inFlightDeadlineSeconds: 3,
  busCallTimeoutMs: 2000,
  spawnDelayMs: 150,
};

/** How long after the restart every instance must have settled. */
export const SETTLE_BOUND_MS =
  CRASH_TIMINGS.inFlightDeadlineSeconds * 1000 +
  CRASH_TIMINGS.reconcileIntervalSeconds * 1000 +
  CRASH_TIMINGS.busCallTimeoutMs +
  10_000;

export interface RoundResult {
  /** The process killed, or the fault a `faultRound` caused (its name). */
  kind: ProcessKind | string;
  /** When the process was killed (the fault began), counted from the start of the burst. */
  killedAfterMs: number;
  launches: number;
  terminates: number;
  /** Instances in the database after the round. */
  instances: number;
  /**
   * From the restarted process being up until everything in flight settled (the burst's own
   * requests answered included); null if it, or the retries after it, never did.
   */
  settledMs: number | null;
  /** From the ClientToken retries of the launches that got no answer until all settled again. */
  retriedMs: number;
  /** Instances not settled within the bound, as `id: vmState/taskState`. */
  stuck: string[];
  /** Claims, addresses or VMs that do not match the instances. */
  problems: string[];
  /** The instances this round launched, by vm_state once settled. */
  launched: Record<string, number>;
  /** Launches refused on their retry too, by EC2 error code and HTTP status. */
  refused: Record<string, number>;
}

export interface CrashCloud {
  readonly kinds: readonly ProcessKind[];
  readonly db: Database;
  round(
    kind: ProcessKind,
    options?: { launches?: number; maxKillMs?: number },
  ): Promise<RoundResult>;
  /**
   * A round like `round`, but at the random moment `fault` runs instead of a kill (e.g. the
   * broker's restart), and no Stratus process is restarted. Settling is counted from the
   * moment `fault` resolves.
   */
  faultRound(
    name: string,
    fault: () => Promise<void>,
    options?: { launches?: number; maxKillMs?: number },
  ): Promise<RoundResult>;
  /** The last `lines` log lines of each running process by kind, and of the killed ones. */
  logs(lines?: number): Record<string, string>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function commonArgs(stateDir: string): string[] {
  return [
    '--state-dir',
    stateDir,
    '--virt',
    'fake',
    '--fake-spawn-delay-ms',
    String(CRASH_TIMINGS.spawnDelayMs),
    '--reconcile-interval-seconds',
    String(CRASH_TIMINGS.reconcileIntervalSeconds),
    '--in-flight-deadline-seconds',
    String(CRASH_TIMINGS.inFlightDeadlineSeconds),
    '--bus-call-timeout-ms',
    String(CRASH_TIMINGS.busCallTimeoutMs),
    '--power-sync-seconds',
    '0.25',
    '--service-heartbeat-seconds',
    '0.2',
    '--service-down-after-seconds',
    '5',
    '--quota-instances',
    '100000',
    '--quota-cores',
    '100000',
    '--quota-ram-mb',
    '10000000',
    '--log-level',
    'warn',
    ...FREE_PORT_ARGS,
  ];
}

/** The all-in-one on SQLite with the in-process bus. */
export async function startAllInOneCrashCloud(): Promise<CrashCloud> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-crash-'));
  const args = [...commonArgs(stateDir), '--host', 'crash-aio'];
  return CrashCloudImpl.start({
    stateDir,
    computeHost: 'crash-aio',
    database: `sqlite:${path.join(stateDir, 'stratus.sqlite')}`,
    processes: new Map([['all-in-one', ['all-in-one', ...args]]]),
    cleanup: async () => fs.rmSync(stateDir, { recursive: true, force: true }),
  });
}

/**
 * Distributed: api, scheduler, network and compute as their own processes on a fresh
 * PostgreSQL database and RabbitMQ, under an exchange prefix of their own (removed after).
 */
export async function startDistributedCrashCloud(
  options: { amqpUrl?: string } = {},
): Promise<CrashCloud> {
  const amqpUrl = options.amqpUrl ?? AMQP_URL;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-crash-'));
  const suffix = randomBytes(4).toString('hex');
  const exchange = testBusExchange('crash');
  const db = await postgresBackend.create();
  const base = [
    ...commonArgs(stateDir),
    '--database',
    db.url,
    '--transport',
    amqpUrl,
    '--bus-exchange',
    exchange,
  ];
  const control = ['--host', `ctl-${suffix}`];
  const computeHost = `node-${suffix}`;
  return CrashCloudImpl.start({
    stateDir,
    computeHost,
    database: db.url,
    processes: new Map<ProcessKind, string[]>([
      ['network', ['network', ...base, ...control]],
      ['scheduler', ['scheduler', ...base, ...control]],
      ['compute', ['compute', ...base, '--host', computeHost]],
      ['api', ['api', ...base, ...control]],
    ]),
    cleanup: async () => {
      await db.remove();
      await removeBusExchange(exchange, [computeHost], amqpUrl);
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  });
}

interface CloudSpec {
  stateDir: string;
  /** The one compute host, whose fake driver's VMs are checked. */
  computeHost: string;
  database: string;
  processes: Map<ProcessKind, string[]>;
  cleanup(): Promise<void>;
}

class CrashCloudImpl implements CrashCloud {
  readonly #spec: CloudSpec;
  readonly #running = new Map<ProcessKind, RunningStratus>();
  readonly db: Database;
  #image!: ImageRow;
  #rounds = 0;

  private constructor(spec: CloudSpec, db: Database) {
    this.#spec = spec;
    this.db = db;
  }

  static async start(spec: CloudSpec): Promise<CrashCloud> {
    const cloud = new CrashCloudImpl(spec, undefined as unknown as Database);
    try {
      await Promise.all([...spec.processes.keys()].map((k) => cloud.#startProcess(k)));
      const db = await openDatabase(spec.database);
      (cloud as { db: Database }).db = db;
      cloud.#image = await insertImage(db.db, { name: 'crash-image' });
    } catch (err) {
      await cloud.stop();
      throw err;
    }
    return cloud;
  }

  get kinds(): ProcessKind[] {
    return [...this.#spec.processes.keys()];
  }

  async #startProcess(kind: ProcessKind): Promise<void> {
    const p = startStratus(this.#spec.processes.get(kind) as string[]);
    this.#running.set(kind, p);
    await p.waitFor(/Press Ctrl-C to stop\./, 60_000);
  }

  /** An EC2 client for the api that runs now (its port changes with each start). */
  #ec2(): EC2Client {
    const api = this.#running.get('api') ?? this.#running.get('all-in-one');
    const url = api
      ?.output()
      .match(/EC2 API:\s+(\S+)/g)
      ?.pop()
      ?.split(/\s+/)
      .pop() as string;
    const rc = readRcFile(path.join(this.#spec.stateDir, 'stratusrc'));
    return new EC2Client({
      endpoint: url,
      region: rc.AWS_DEFAULT_REGION ?? 'RegionOne',
      credentials: {
        accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    });
  }

  round(
    kind: ProcessKind,
    options: { launches?: number; maxKillMs?: number } = {},
  ): Promise<RoundResult> {
    return this.#burst(kind, options, async () => {
      const victim = this.#running.get(kind) as RunningStratus;
      await victim.stop('SIGKILL');
      const killedAt = Date.now();
      await this.#startProcess(kind);
      return killedAt;
    });
  }

  faultRound(
    name: string,
    fault: () => Promise<void>,
    options: { launches?: number; maxKillMs?: number } = {},
  ): Promise<RoundResult> {
    return this.#burst(name, options, async () => {
      const at = Date.now();
      await fault();
      return at;
    });
  }

  /**
   * Launches and terminates at once, `interrupt` at a random moment of them (it resolves with
   * when the fault happened, once the cloud is whole again), then the wait until all settled.
   */
  async #burst(
    kind: string,
    options: { launches?: number; maxKillMs?: number },
    interrupt: () => Promise<number>,
  ): Promise<RoundResult> {
    const round = ++this.#rounds;
    const launches = options.launches ?? 20;
    // Terminates of what earlier rounds left running, at most as many as the launches, so
    // every round is about the same size.
    const victims = (
      await this.db.db
        .selectFrom('instances')
        .select('id')
        .where('vmState', '=', 'active')
        .orderBy('createdAt')
        .limit(launches)
        .execute()
    ).map((r) => r.id);
    const ec2 = this.#ec2();
    const tokens = Array.from(
      { length: launches },
      (_, i) => `crash-${round}-${i}-${randomBytes(3).toString('hex')}`,
    );
    const launch = (client: EC2Client, token: string) =>
      client.send(
        new RunInstancesCommand({
          ImageId: ec2Id('ami', this.#image.id),
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: token,
        }),
      );
    const started = Date.now();
    const launchedSince = started - 1;
    const answered = new Set<string>();
    const burst = [
      ...tokens.map((t) => launch(ec2, t).then(() => answered.add(t))),
      ...victims.map((id) =>
        ec2.send(new TerminateInstancesCommand({ InstanceIds: [ec2Id('i', id)] })),
      ),
    ].map((p) => p.catch(() => undefined)); // refused or cut off by the kill: expected
    const killAfter = Math.floor(Math.random() * (options.maxKillMs ?? 1000));
    await sleep(killAfter);
    const killedAfterMs = (await interrupt()) - started;
    const upAt = Date.now();
    await Promise.allSettled(burst);
    ec2.destroy();
    const first = await this.#settle(upAt);
    const settledMs = first.settled ? Date.now() - upAt : null;
    // A client that got no answer retries with the same ClientToken; it must get an instance
    // that makes progress (or a new launch, when the first was never recorded).
    const retryAt = Date.now();
    const retry = this.#ec2();
    const refused: Record<string, number> = {};
    await Promise.all(
      tokens
        .filter((t) => !answered.has(t))
        .map((t) =>
          launch(retry, t).catch(
            (err: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
              const key = `${err.name ?? 'Error'} ${err.$metadata?.httpStatusCode ?? 'no answer'}`;
              refused[key] = (refused[key] ?? 0) + 1;
            },
          ),
        ),
    );
    retry.destroy();
    const check = await this.#settle(retryAt);
    const launched: Record<string, number> = {};
    for (const row of await this.db.db
      .selectFrom('instances')
      .select('vmState')
      .where('createdAt', '>', launchedSince)
      .execute()) {
      launched[row.vmState] = (launched[row.vmState] ?? 0) + 1;
    }
    return {
      kind,
      killedAfterMs,
      launches,
      terminates: victims.length,
      settledMs: check.settled ? settledMs : null,
      retriedMs: Date.now() - retryAt,
      instances: check.instances,
      stuck: check.stuck,
      problems: check.problems,
      launched,
      refused,
    };
  }

  /** Polls until everything is settled and consistent, or SETTLE_BOUND_MS after `from`. */
  async #settle(
    from: number,
  ): Promise<Awaited<ReturnType<CrashCloudImpl['check']>> & { settled: boolean }> {
    let check = await this.check();
    while (
      (check.stuck.length > 0 || check.problems.length > 0) &&
      Date.now() - from < SETTLE_BOUND_MS
    ) {
      await sleep(50);
      check = await this.check();
    }
    return { ...check, settled: check.stuck.length === 0 && check.problems.length === 0 };
  }

  /** What is not settled or not consistent now. */
  async check(): Promise<{ instances: number; stuck: string[]; problems: string[] }> {
    const db = this.db.db;
    const rows = await db
      .selectFrom('instances')
      .select(['id', 'vmState', 'taskState', 'host', 'privateIp'])
      .execute();
    const stuck = rows
      .filter((r) => !['active', 'error', 'deleted'].includes(r.vmState) || r.taskState !== null)
      .map((r) => `${r.id}: ${r.vmState}/${r.taskState ?? '-'}`);
    const active = new Map(rows.filter((r) => r.vmState === 'active').map((r) => [r.id, r]));
    const problems: string[] = [];
    const claims = await db.selectFrom('capacityClaims').select(['instanceId', 'host']).execute();
    for (const c of claims) {
      const inst = active.get(c.instanceId);
      if (!inst) problems.push(`claim of ${c.instanceId}, which is not active`);
      else if (inst.host !== c.host) problems.push(`claim of ${c.instanceId} on another host`);
    }
    const claimed = new Set(claims.map((c) => c.instanceId));
    for (const id of active.keys()) {
      if (!claimed.has(id)) problems.push(`active ${id} has no capacity claim`);
    }
    const ips = await db
      .selectFrom('fixedIps')
      .select(['instanceId', 'address'])
      .where('instanceId', 'is not', null)
      .execute();
    const held = new Map<string, string[]>();
    for (const ip of ips) {
      held.set(ip.instanceId as string, [...(held.get(ip.instanceId as string) ?? []), ip.address]);
    }
    for (const [id, addresses] of held) {
      const inst = active.get(id);
      if (!inst)
        problems.push(`fixed IP ${addresses.join(',')} held by ${id}, which is not active`);
      else if (addresses.length !== 1 || addresses[0] !== inst.privateIp) {
        problems.push(`active ${id} holds ${addresses.join(',')} but shows ${inst.privateIp}`);
      }
    }
    for (const id of active.keys()) {
      if (!held.has(id)) problems.push(`active ${id} holds no fixed IP`);
    }
    const vmsFile = fakeDriverStateFile(this.#spec.stateDir, this.#spec.computeHost);
    const vms = fs.existsSync(vmsFile)
      ? (JSON.parse(fs.readFileSync(vmsFile, 'utf8')) as Record<string, { state: string }>)
      : {};
    for (const id of Object.keys(vms)) {
      if (!active.has(id)) problems.push(`VM of ${id}, which is not active`);
    }
    for (const id of active.keys()) {
      if (vms[id]?.state !== 'running') problems.push(`active ${id} has no running VM`);
    }
    const spawns = await db
      .selectFrom('instanceActions')
      .select('instanceId')
      .where('action', '=', 'spawn')
      .where('result', '=', 'success')
      .execute();
    const seen = new Set<string>();
    for (const s of spawns) {
      if (seen.has(s.instanceId)) problems.push(`${s.instanceId} was spawned twice`);
      seen.add(s.instanceId);
    }
    return { instances: rows.length, stuck, problems };
  }

  logs(lines = 40): Record<string, string> {
    // Every process logs to the state directory's stratus.log (JSON lines, each with its pid).
    const pids = new Map([...this.#running].map(([kind, p]) => [p.child.pid, kind]));
    const file = path.join(this.#spec.stateDir, 'stratus.log');
    const all = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd().split('\n') : [];
    const out: Record<string, string> = {};
    for (const kind of this.#running.keys()) out[kind] = '';
    const byKind = new Map<string, string[]>();
    for (const line of all) {
      const pid = /"pid":(\d+)/.exec(line)?.[1];
      const kind = pids.get(Number(pid)) ?? 'killed';
      byKind.set(kind, [...(byKind.get(kind) ?? []), line]);
    }
    for (const [kind, l] of byKind) out[kind] = l.slice(-lines).join('\n');
    return out;
  }

  async stop(): Promise<void> {
    for (const p of this.#running.values()) {
      const code = p.stop('SIGTERM');
      const killer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
      await code;
      clearTimeout(killer);
    }
    this.#running.clear();
    await this.db?.close();
    await this.#spec.cleanup();
  }
}

/** p50 and max of some milliseconds. */
export function percentiles(values: readonly number[]): { p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}
