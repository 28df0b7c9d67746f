// Where the all-in-one's memory goes: `stratus all-in-one` (fake virt driver, SQLite, the
// in-process bus) as a child process, as users run it, measured idle, with N instances running,
// and after they are all terminated, for several cycles. The child runs with --inspect on
// loopback: before each measurement this bench asks it (Chrome DevTools protocol) for a full
// collection, then reads its process.memoryUsage(), so heapUsed is what is still reachable.
// A leak grows heapUsed after deletion cycle after cycle; RSS that stays high while heapUsed
// returns is memory V8 and the allocator keep for reuse (high water), not a leak.
//   npm run bench:memory   (or: node dist/bench/memory.js [--instances N] [--cycles C]
//                           [--batch B] [--snapshots] [--no-gc] [--node-flags '...'])
// --no-gc never asks for a collection (the process's memory as it would be unobserved).
// --snapshots takes a heap snapshot of the child after each deletion and prints, per
// constructor, what grew from the first cycle's to the last cycle's (count and bytes). Taking
// a snapshot costs the child ~150 MiB of native memory it keeps: compare RSS without it.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readRcFile, STRATUS_BIN } from '../test/support/cli.js';
import { FREE_PORT_ARGS } from '../test/support/ports.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) || fallback : fallback;
}
const INSTANCES = arg('instances', 500);
const CYCLES = arg('cycles', 3);
const BATCH = arg('batch', 50);
const SNAPSHOTS = process.argv.includes('--snapshots');
const NO_GC = process.argv.includes('--no-gc');
const NODE_FLAGS = process.argv.includes('--node-flags')
  ? (process.argv[process.argv.indexOf('--node-flags') + 1] ?? '').split(' ').filter(Boolean)
  : [];

const MiB = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Chrome DevTools protocol session with the child's inspector. */
class Inspector {
  private next = 1;
  private readonly pending = new Map<number, (r: { result?: unknown; error?: unknown }) => void>();
  private readonly chunks: string[] = [];
  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      const msg = JSON.parse(String(e.data)) as {
        id?: number;
        method?: string;
        params?: { chunk?: string };
        result?: unknown;
        error?: unknown;
      };
      if (msg.method === 'HeapProfiler.addHeapSnapshotChunk')
        this.chunks.push(msg.params?.chunk ?? '');
      if (msg.id !== undefined) {
        this.pending.get(msg.id)?.(msg);
        this.pending.delete(msg.id);
      }
    });
  }
  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', reject, { once: true });
    });
    return new Inspector(ws);
  }
  async send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.next++;
    const reply = new Promise<{ result?: unknown; error?: unknown }>((r) =>
      this.pending.set(id, r),
    );
    this.ws.send(JSON.stringify({ id, method, params }));
    const r = await reply;
    if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
    return r.result;
  }
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true })) as {
      result: { value: T };
    };
    return r.result.value;
  }
  async heapSnapshot(): Promise<string> {
    this.chunks.length = 0;
    await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    return this.chunks.splice(0).join('');
  }
  close(): void {
    this.ws.close();
  }
}

interface Row {
  cycle: string;
  phase: string;
  /** As the process had it, before this bench asked for a full collection. */
  rssBeforeGc: number;
  heapUsedBeforeGc: number;
  /** Resident anonymous memory (heap, malloc) and resident file pages (code, mapped files). */
  rssAnon: number;
  rssFile: number;
  /** The SQLite database with its WAL, on disk (terminated instances stay listed an hour). */
  dbBytes: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}
const rows: Row[] = [];

let stateDirOfChild = '';
let childPid = 0;

function residentKinds(): { rssAnon: number; rssFile: number } {
  const status = fs.readFileSync(`/proc/${childPid}/status`, 'utf8');
  const kb = (k: string) =>
    Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') + kb('RssShmem') };
}

function dbBytes(): number {
  let n = 0;
  for (const f of fs.readdirSync(stateDirOfChild)) {
    if (f.startsWith('stratus.sqlite')) n += fs.statSync(path.join(stateDirOfChild, f)).size;
  }
  return n;
}

async function measure(inspector: Inspector, cycle: string, phase: string): Promise<Row> {
  // Timers and I/O callbacks settle, then two full collections (the second frees what the
  // first's finalizers released).
  await sleep(500);
  const asIs = JSON.parse(
    await inspector.evaluate<string>('JSON.stringify(process.memoryUsage())'),
  ) as NodeJS.MemoryUsage;
  if (!NO_GC) {
    await inspector.send('HeapProfiler.collectGarbage');
    await sleep(50);
    await inspector.send('HeapProfiler.collectGarbage');
  }
  const m = JSON.parse(
    await inspector.evaluate<string>('JSON.stringify(process.memoryUsage())'),
  ) as NodeJS.MemoryUsage;
  const row = {
    cycle,
    phase,
    rssBeforeGc: asIs.rss,
    heapUsedBeforeGc: asIs.heapUsed,
    dbBytes: dbBytes(),
    ...residentKinds(),
    ...m,
  };
  rows.push(row);
  console.log(
    `${cycle.padEnd(6)} ${phase.padEnd(20)} rss as is ${MiB(asIs.rss).padStart(6)}, after GC ${MiB(m.rss).padStart(6)}  heapUsed ${MiB(m.heapUsed).padStart(6)}  ` +
      `heapTotal ${MiB(m.heapTotal).padStart(6)}  external ${MiB(m.external).padStart(5)}  arrayBuffers ${MiB(m.arrayBuffers).padStart(5)}  (MiB)`,
  );
  return row;
}

/** Count and self size per constructor (node name) of objects, closures and arrays. */
async function heapCensus(
  inspector: Inspector,
): Promise<Map<string, { count: number; size: number }>> {
  const snap = JSON.parse(await inspector.heapSnapshot()) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const census = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + fType] as number] as string;
    const name =
      type === 'object' || type === 'closure'
        ? `${type === 'closure' ? 'closure ' : ''}${snap.strings[snap.nodes[i + fName] as number]}`
        : `(${type})`;
    const entry = census.get(name) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[i + fSize] as number;
    census.set(name, entry);
  }
  return census;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-bench-memory-'));
  stateDirOfChild = stateDir;
  console.log(
    `Stratus memory benchmark: stratus all-in-one (fake driver, SQLite, in-process bus) as a ` +
      `child process, node ${process.version}${NODE_FLAGS.length ? ` ${NODE_FLAGS.join(' ')}` : ''}, ` +
      `${INSTANCES} instances per cycle in batches of ${BATCH}, ${CYCLES} cycles`,
  );
  const child = spawn(
    process.execPath,
    [
      '--inspect=127.0.0.1:0',
      ...NODE_FLAGS,
      STRATUS_BIN,
      'all-in-one',
      '--state-dir',
      stateDir,
      '--virt',
      'fake',
      ...FREE_PORT_ARGS,
      '--log-level',
      'warn',
      '--quota-instances',
      '100000',
      '--quota-cores',
      '1000000',
      '--quota-ram-mb',
      '10000000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  childPid = child.pid as number;
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  let inspector: Inspector | undefined;
  let ec2: EC2Client | undefined;
  try {
    const deadline = Date.now() + 120_000;
    while (!/Press Ctrl-C to stop/.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the all-in-one did not start:\n${out}`);
      }
      await sleep(50);
    }
    const wsUrl = /Debugger listening on (ws:\/\/\S+)/.exec(out)?.[1];
    if (!wsUrl) throw new Error(`no inspector address in:\n${out}`);
    inspector = await Inspector.connect(wsUrl);
    const rc = readRcFile(path.join(stateDir, 'stratusrc'));
    const raw = path.join(stateDir, 'bench.raw');
    fs.writeFileSync(raw, Buffer.alloc(1 << 20));
    execFileSync(process.execPath, [
      STRATUS_BIN,
      'manage',
      '--state-dir',
      stateDir,
      'image',
      'import',
      '--name',
      'bench',
      '--file',
      raw,
    ]);
    const client = new EC2Client({
      endpoint: rc.EC2_URL,
      region: rc.AWS_DEFAULT_REGION,
      credentials: {
        accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
      },
      maxAttempts: 1,
    });
    ec2 = client;
    await run(client, inspector);
  } finally {
    ec2?.destroy();
    inspector?.close();
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function run(ec2: EC2Client, inspector: Inspector): Promise<void> {
  const images = await ec2.send(
    new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['bench'] }] }),
  );
  const ImageId = images.Images?.[0]?.ImageId;
  if (!ImageId) throw new Error('the bench image is not listed');
  const InstanceType = 'm1.nano' as _InstanceType;
  const states = async (ids: string[]) => {
    const counts = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 200) {
      const r = await ec2.send(
        new DescribeInstancesCommand({ InstanceIds: ids.slice(i, i + 200) }),
      );
      for (const inst of (r.Reservations ?? []).flatMap((x) => x.Instances ?? [])) {
        const s = inst.State?.Name ?? '?';
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    }
    return counts;
  };
  const waitAll = async (ids: string[], state: string) => {
    const deadline = Date.now() + 600_000;
    for (;;) {
      const counts = await states(ids);
      if ((counts.get(state) ?? 0) === ids.length) return;
      if ((counts.get('error') ?? 0) > 0) throw new Error(`instances in error: ${[...counts]}`);
      if (Date.now() > deadline) throw new Error(`not all ${state}: ${[...counts]}`);
      await sleep(200);
    }
  };

  const baseline = await measure(inspector, '0', 'idle (started)');
  const deleted: Row[] = [];
  const censuses: Map<string, { count: number; size: number }>[] = [];
  for (let c = 1; c <= CYCLES; c++) {
    const cycle = String(c);
    const t0 = performance.now();
    const ids: string[] = [];
    for (let n = 0; n < INSTANCES; n += BATCH) {
      const count = Math.min(BATCH, INSTANCES - n);
      const r = await ec2.send(
        new RunInstancesCommand({ ImageId, InstanceType, MinCount: count, MaxCount: count }),
      );
      ids.push(...(r.Instances ?? []).map((i) => i.InstanceId as string));
    }
    await waitAll(ids, 'running');
    const up = performance.now() - t0;
    await measure(inspector, cycle, `${INSTANCES} running`);
    const t1 = performance.now();
    for (let i = 0; i < ids.length; i += BATCH) {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(i, i + BATCH) }));
    }
    await waitAll(ids, 'terminated');
    const down = performance.now() - t1;
    deleted.push(await measure(inspector, cycle, 'all terminated'));
    console.log(
      `       (launch -> running ${(up / 1000).toFixed(1)} s, terminate -> terminated ${(down / 1000).toFixed(1)} s)`,
    );
    if (SNAPSHOTS) censuses.push(await heapCensus(inspector));
  }

  console.log('\nphase table (MiB; "as is" before the forced full collection, the rest after it)');
  console.log(
    'cycle  phase                rss as is  heapUsed as is      rss  heapUsed  heapTotal  external  arrayBuffers  database  rss anon  rss file',
  );
  for (const r of rows) {
    console.log(
      `${r.cycle.padEnd(6)} ${r.phase.padEnd(20)} ${MiB(r.rssBeforeGc).padStart(9)} ${MiB(r.heapUsedBeforeGc).padStart(15)} ` +
        `${MiB(r.rss).padStart(8)} ${MiB(r.heapUsed).padStart(9)} ` +
        `${MiB(r.heapTotal).padStart(10)} ${MiB(r.external).padStart(9)} ${MiB(r.arrayBuffers).padStart(13)} ${MiB(r.dbBytes).padStart(9)} ${MiB(r.rssAnon).padStart(9)} ${MiB(r.rssFile).padStart(9)}`,
    );
  }
  const first = deleted[0];
  const last = deleted[deleted.length - 1];
  if (first && last && deleted.length > 1) {
    const perCycle = (last.heapUsed - first.heapUsed) / (deleted.length - 1);
    console.log(
      `\nheapUsed after deletion: idle ${MiB(baseline.heapUsed)}, cycle 1 ${MiB(first.heapUsed)}, ` +
        `cycle ${deleted.length} ${MiB(last.heapUsed)} MiB: ${perCycle >= 0 ? '+' : ''}${(perCycle / 1024).toFixed(0)} KiB per cycle ` +
        `(${((perCycle / INSTANCES) * 1).toFixed(0)} bytes per instance launched)`,
    );
    console.log(
      `rss after deletion, after a full collection: idle ${MiB(baseline.rss)}, cycle 1 ${MiB(first.rss)}, ` +
        `cycle ${deleted.length} ${MiB(last.rss)} MiB; as the process had it: idle ${MiB(baseline.rssBeforeGc)}, ` +
        `cycle 1 ${MiB(first.rssBeforeGc)}, cycle ${deleted.length} ${MiB(last.rssBeforeGc)} MiB`,
    );
    const verdict =
      perCycle > 512 * 1024
        ? 'heapUsed after deletion grows cycle after cycle (over 512 KiB a cycle): something keeps what deleted instances left (a leak); --snapshots names the constructors'
        : 'heapUsed after deletion comes back to the same level each cycle: no leak in the JS heap; RSS above it is heap V8 has not collected or given back yet, and native memory the allocator keeps (high water)';
    console.log(verdict);
  }
  if (censuses.length > 1) {
    const a = censuses[0] as Map<string, { count: number; size: number }>;
    const b = censuses[censuses.length - 1] as Map<string, { count: number; size: number }>;
    const growth = [...b]
      .map(([name, e]) => {
        const before = a.get(name) ?? { count: 0, size: 0 };
        return { name, count: e.count - before.count, size: e.size - before.size };
      })
      .filter((g) => g.count > 0 || g.size > 0)
      .sort((x, y) => y.size - x.size)
      .slice(0, 25);
    console.log(
      `\nheap growth from cycle 1 to cycle ${censuses.length} after deletion (top 25 by bytes)`,
    );
    for (const g of growth) {
      console.log(
        `  ${String(g.count).padStart(8)} objects ${String(g.size).padStart(10)} bytes  ${g.name}`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
