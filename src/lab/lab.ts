// `stratus lab`: a cloud of several hosts on one machine, run as a real deployment runs: one
// OS process per service from the stratus binary and a config file each, over PostgreSQL and
// RabbitMQ, each compute host with its own state dir and data-plane namespace. `up` makes
// everything or, on failure, nothing; `down` takes away everything `up` made.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { now, openDatabase, ServiceRepo, type Database, type ServiceRow } from '../db/index.js';
import { StratusError } from '../errors.js';
import { dataPlaneUnavailable, removeDataPlane, Namespace } from '../network/index.js';
import { serviceState } from '../service/index.js';
import { qemuStateDirProblem } from '../virt/index.js';
import { NbdExports } from '../volume/index.js';
import {
  checkPostgres,
  checkRabbitmq,
  createDatabase,
  createVhost,
  databaseExists,
  dropDatabase,
  deleteVhost,
  vhostExists,
} from './backends.js';
import {
  API_PORTS,
  checkLabOptions,
  FLOATING_RANGE,
  planLab,
  STORAGE_NETWORK,
  renderConfig,
  type LabOptions,
  type LabPlan,
  type LabProcess,
} from './plan.js';
import { freePorts } from '../ports.js';
import { livePid, readPid, runs, startProcess, stopProcess, tail } from './processes.js';
import {
  addClient,
  buildSegments,
  buildStorageSegment,
  removeClient,
  STORAGE_INTERFACE,
} from './segments.js';
import { readState, stateFile, writeState, type LabClient, type LabState } from './state.js';

/** Where lab output goes (the CLI's standard output). */
export type Print = (line: string) => void;

const DEFAULT_DOWN_AFTER_S = 60;

function conflict(message: string): StratusError {
  return new StratusError('conflict', message, { resource: 'config' });
}

/** Refusals that need no change to find: a lab already here, a dir that is not a lab's. */
function checkDir(dir: string): void {
  if (fs.existsSync(stateFile(dir))) {
    throw conflict(
      `A lab is already up in ${dir}. See it with: stratus lab status --dir ${dir}; take it down with: stratus lab down --dir ${dir}`,
    );
  }
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw conflict(
      `${dir} exists and is not empty, and it holds no lab (no lab.json); choose another --dir.`,
    );
  }
}

/** Starts a lab; prints what it does and, at the end, how to use it. */
export async function labUp(
  options: LabOptions,
  print: Print,
  signal?: AbortSignal,
): Promise<LabState> {
  checkLabOptions(options);
  const dir = path.resolve(options.dir);
  checkDir(dir);
  await checkPostgres(options.postgres);
  await checkRabbitmq(options.rabbitmq);
  if (options.virt === 'qemu') {
    const why = dataPlaneUnavailable();
    if (why) {
      throw new StratusError('unavailable', `A qemu lab needs the namespace data plane: ${why}`, {
        resource: 'namespace',
      });
    }
  }
  const plan = planLab(
    { ...options, dir },
    await freePorts(options.apiProcesses * API_PORTS.length),
  );
  if (options.virt === 'qemu') {
    for (const host of plan.hosts) {
      const problem = qemuStateDirProblem(path.join(host.stateDir, 'qemu'));
      if (problem) {
        throw new StratusError('invalid', `--dir ${dir} does not suit a qemu lab: ${problem}`, {
          resource: 'config',
          id: 'dir',
        });
      }
    }
  }
  if (await databaseExists(options.postgres, plan.database)) {
    throw conflict(
      `The database ${plan.database} already exists (another lab, or one left behind). Choose another --name, or drop it: psql '${options.postgres}' -c 'DROP DATABASE ${plan.database} WITH (FORCE)'`,
    );
  }
  if (await vhostExists(plan.vhost)) {
    throw conflict(
      `The RabbitMQ vhost ${plan.vhost} already exists (another lab, or one left behind). Choose another --name, or delete it: rabbitmqctl delete_vhost ${plan.vhost}`,
    );
  }

  // From here on every step is recorded first, and a failure takes away what was made.
  for (const sub of ['config', 'logs', 'run'])
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const state: LabState = {
    version: 1,
    plan,
    startedAt: now(),
    ready: false,
    made: { database: false, vhost: false, namespaces: [], clients: [] },
  };
  writeState(state);
  let database: Database | undefined;
  try {
    state.made.database = true;
    writeState(state);
    await createDatabase(options.postgres, plan.database);
    state.made.vhost = true;
    writeState(state);
    signal?.throwIfAborted();
    await createVhost(plan.vhost, options.rabbitmq);
    print(`Database ${plan.database} and RabbitMQ vhost ${plan.vhost} created.`);
    // Migrated once here, before the services start.
    database = await openDatabase(plan.databaseUrl);
    if (plan.segments) {
      await buildSegments(plan.segments, plan.hosts, (ns) => {
        state.made.namespaces.push(ns);
        writeState(state);
      });
      print(
        `Segments made: guest ${plan.segments.flat}, public ${plan.segments.public}${plan.segments.underlay ? `, underlay ${plan.segments.underlay} (project networks; lab-node1 is the network host)` : ''}.`,
      );
      await upStorage(state, print);
    }
    for (const p of plan.processes) {
      fs.writeFileSync(p.configFile, renderConfig(p), { mode: 0o600 });
    }
    signal?.throwIfAborted();
    await startAll(plan, database, print, signal);
    const rc = path.join(plan.controllerDir, 'stratusrc');
    fs.copyFileSync(rc, path.join(dir, 'stratusrc'));
    state.ready = true;
    writeState(state);
    print('');
    for (const line of summary(state)) print(line);
    return state;
  } catch (err) {
    print(`stratus lab: up failed (${(err as Error).message}); taking away what it made.`);
    await database?.close().catch(() => undefined);
    database = undefined;
    await takeDown(state, () => undefined).catch(() => undefined);
    throw err;
  } finally {
    await database?.close();
  }
}

/** Makes the storage segment of a qemu lab, recording each namespace as it is made. */
async function upStorage(state: LabState, print: Print): Promise<void> {
  const { plan } = state;
  if (!plan.segments?.storage || !plan.storage) return;
  await buildStorageSegment(plan.segments.storage, plan.storage, plan.hosts, (ns) => {
    state.made.namespaces.push(ns);
    writeState(state);
  });
  print(
    `Storage segment made: ${plan.segments.storage}, ${plan.storage.host} at ${plan.storage.address} in ${plan.storage.namespace}.`,
  );
}

/** The storage host's lines of the summary (qemu labs). */
function storageSummary(plan: LabPlan): string[] {
  if (!plan.segments?.storage || !plan.storage) return [];
  return [
    `Storage segment ${STORAGE_NETWORK} (${plan.segments.storage}): ${plan.storage.host}'s NBD exports on ${plan.storage.address.split('/')[0]} in ${plan.storage.namespace}; host I is 10.98.0.(10+I) on ${STORAGE_INTERFACE}.`,
  ];
}

/**
 * Ends the volume service's storage daemon, which outlives the service by design (in a qemu
 * lab it goes with its namespace too, but a fake lab's runs in the machine's own network).
 */
async function stopStorageDaemon(plan: LabPlan): Promise<boolean> {
  const nbd = storageDaemon(plan);
  if (nbd?.pid() === undefined) return false;
  await nbd.stop();
  return true;
}

/** The storage host's part of `lab status` (qemu labs). */
function storageStatus(plan: LabPlan): Pick<LabStatus, 'storage'> {
  if (!plan.storage) return {};
  return { storage: { ...plan.storage, daemonPid: storageDaemon(plan)?.pid() ?? null } };
}

/** The volume service's storage daemon, as its config places it. */
function storageDaemon(plan: LabPlan): NbdExports | undefined {
  const volume = plan.processes.find((p) => p.binary === 'volume');
  if (!volume) return undefined;
  return new NbdExports({
    directory: path.join(String(volume.settings.stateDir), 'nbd'),
    address: String(volume.settings['volume.nbdAddress'] ?? '127.0.0.1'),
    port: 0,
  });
}

/** Whether each process's service has registered since `since` and beats. */
async function waitUp(
  plan: LabPlan,
  database: Database,
  processes: readonly LabProcess[],
  since: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const services = new ServiceRepo(database.db);
  const downAfterMs = (plan.options.downAfterSeconds ?? DEFAULT_DOWN_AFTER_S) * 1000;
  const deadline = Date.now() + timeoutMs;
  let waiting = [...processes];
  while (waiting.length > 0) {
    signal?.throwIfAborted();
    for (const p of waiting) {
      if (livePid(p) === undefined) {
        throw new StratusError(
          'unavailable',
          `The ${p.binary} service of ${p.host} (${p.name}) ended while starting. Last output (${p.outFile}):\n${tail(p.outFile)}`,
          { resource: 'service', id: p.name },
        );
      }
    }
    const rows = await services.list();
    const at = now();
    const isUp = (p: LabProcess) =>
      rows.some(
        (r) =>
          r.host === p.host &&
          r.binary === p.binary &&
          r.heartbeatAt >= since &&
          serviceState(r, at, downAfterMs) === 'up',
      );
    const apisAnswer = await Promise.all(
      waiting.map(async (p) => {
        if (p.binary !== 'api') return true;
        const api = plan.apis.find((a) => a.process === p.name);
        return api ? healthy(api.status) : true;
      }),
    );
    waiting = waiting.filter((p, i) => !(isUp(p) && apisAnswer[i]));
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      throw new StratusError(
        'unavailable',
        `Timed out waiting for ${waiting.length} service(s) to come up: ${waiting
          .slice(0, 5)
          .map((p) => p.name)
          .join(
            ', ',
          )}${waiting.length > 5 ? ', ...' : ''}. See ${path.dirname(waiting[0]?.logFile ?? '')}.`,
        { resource: 'service', reason: 'timeout' },
      );
    }
    await sleep(250);
  }
}

async function healthy(statusUrl: string): Promise<boolean> {
  try {
    const r = await fetch(`${statusUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts the processes in an order a deployment would: the network service (compute hosts
 * ask it for their network), the schedulers, the first api (it writes the admin identity and
 * the rc file), the other apis, then every compute host at once.
 */
async function startAll(
  plan: LabPlan,
  database: Database,
  print: Print,
  signal: AbortSignal | undefined,
): Promise<void> {
  const since = now();
  const group = async (label: string, procs: readonly LabProcess[], timeoutMs: number) => {
    if (procs.length === 0) return;
    for (const p of procs) startProcess(p);
    await waitUp(plan, database, procs, since, timeoutMs, signal);
    print(`${label} up.`);
  };
  const of = (binary: string) => plan.processes.filter((p) => p.binary === binary);
  const apis = of('api');
  await group('Network service', of('network'), 120_000);
  await group(`Scheduler${of('scheduler').length > 1 ? 's' : ''}`, of('scheduler'), 120_000);
  await group('API process 1', apis.slice(0, 1), 120_000);
  await group('Other API processes', apis.slice(1), 120_000);
  await group('Volume service', of('volume'), 120_000);
  const computes = of('compute');
  await group(`${computes.length} compute host(s)`, computes, 120_000 + 2000 * computes.length);
}

function summary(state: LabState): string[] {
  const { plan } = state;
  const o = plan.options;
  const dir = o.dir;
  const zones = [...new Set(plan.hosts.map((h) => h.zone))];
  const lines = [
    `Stratus lab '${o.name}' is up in ${dir}: ${plan.hosts.length} compute host(s) (${o.virt} driver) in ${zones.length} zone(s), ${plan.apis.length} api and ${o.schedulers} scheduler process(es).`,
    `  hosts:     ${hostRange(plan)}`,
    `  zones:     ${zones.join(', ')}`,
    `  database:  ${plan.databaseUrl}`,
    `  bus:       ${plan.busUrl.replace(/\/\/[^@/]*@/, '//***@')}`,
  ];
  for (const api of plan.apis) {
    lines.push(
      `  ${api.process}:${' '.repeat(Math.max(1, 10 - api.process.length))}EC2 ${api.ec2}  Identity ${api.identity}  Compute ${api.compute}  Image ${api.image}  Volume ${api.volume}  Network ${api.network}  health ${api.status}/healthz`,
    );
  }
  lines.push(
    `  logs:      ${path.join(dir, 'logs')}   config files: ${path.join(dir, 'config')}`,
    '',
    `Credentials of user 'admin' in project 'admin' are in ${path.join(dir, 'stratusrc')}:`,
    `  . ${path.join(dir, 'stratusrc')}`,
    '  aws ec2 describe-availability-zones --endpoint-url "$EC2_URL"',
    `  stratus manage --config ${plan.processes.find((p) => p.binary === 'api')?.configFile} service list`,
  );
  if (plan.segments) {
    lines.push(
      '',
      `Public segment 172.24.4.0/24 (${plan.segments.public}), floating range ${FLOATING_RANGE}; host I is 172.24.4.(10+I).`,
      `Another machine on it: stratus lab client add NAME --dir ${dir}, then ip netns exec ${plan.segments.public}-client-NAME ssh root@FLOATING-IP`,
      ...storageSummary(plan),
    );
  }
  lines.push(
    `Status: stratus lab status --dir ${dir}   Take it all away: stratus lab down --dir ${dir}`,
  );
  return lines;
}

function hostRange(plan: LabPlan): string {
  const names = plan.hosts.map((h) => h.name);
  return names.length <= 4 ? names.join(', ') : `${names[0]} .. ${names[names.length - 1]}`;
}

/** Kills the qemu guests a lab host left running (their pid files, checked by command line). */
function killGuests(stateDir: string): number {
  const instances = path.join(stateDir, 'qemu', 'instances');
  if (!fs.existsSync(instances)) return 0;
  let killed = 0;
  for (const id of fs.readdirSync(instances)) {
    const dir = path.join(instances, id);
    const pid = readPid(path.join(dir, 'pid'));
    // The qemu of this instance mentions its own directory (QMP socket, disk) on its command line.
    if (pid !== undefined && runs(pid, dir)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // Gone in between.
      }
    }
  }
  return killed;
}

/** Takes away everything `state` says was made; keeps lab.json if any step failed. */
async function takeDown(state: LabState, print: Print): Promise<void> {
  const { plan } = state;
  const errors: string[] = [];
  const step = async (what: string, fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  // Compute hosts first, so none is left to act on a service that is going away.
  const processes = [...plan.processes].reverse();
  await step('stopping the processes', async () => {
    const alive = processes.filter((p) => livePid(p) !== undefined).length;
    await Promise.all(processes.map((p) => stopProcess(p.pidFile, p.configFile)));
    if (alive > 0) print(`Stopped ${alive} process(es).`);
  });
  await step('stopping the storage daemon', async () => {
    if (await stopStorageDaemon(plan)) print('Stopped the storage daemon.');
  });
  let guests = 0;
  for (const host of plan.hosts) {
    await step(`killing the guests of ${host.name}`, () => {
      guests += killGuests(host.stateDir);
    });
  }
  if (guests > 0) print(`Killed ${guests} qemu guest(s).`);
  // A host's overlay made a namespace per project network and router beside its own.
  const overlays = plan.hosts.flatMap((h) => (h.overlay ? [h.overlay.namespace] : []));
  const children = fs.existsSync('/run/netns')
    ? fs
        .readdirSync('/run/netns')
        .filter((n) =>
          overlays.some((o) => n.startsWith(`${o}-`) && /^[dr]/.test(n.slice(o.length + 1))),
        )
    : [];
  const namespaces = [
    ...state.made.clients.map((c) => c.namespace),
    ...children,
    ...plan.hosts.map((h) => h.namespace),
    ...state.made.namespaces,
  ];
  let removed = 0;
  for (const ns of [...new Set(namespaces)]) {
    await step(`removing the namespace ${ns}`, async () => {
      if (new Namespace(ns).exists()) removed++;
      await removeDataPlane(ns);
    });
  }
  if (removed > 0) print(`Removed ${removed} network namespace(s).`);
  if (state.made.database) {
    await step(`dropping the database ${plan.database}`, async () => {
      await dropDatabase(plan.options.postgres, plan.database);
      print(`Dropped the database ${plan.database}.`);
    });
  }
  if (state.made.vhost) {
    await step(`deleting the vhost ${plan.vhost}`, async () => {
      await deleteVhost(plan.vhost);
      print(`Deleted the RabbitMQ vhost ${plan.vhost}.`);
    });
  }
  if (errors.length > 0) {
    throw new StratusError(
      'unavailable',
      `The lab in ${plan.options.dir} was not taken down completely (run stratus lab down again):\n  ${errors.join('\n  ')}`,
      { resource: 'service' },
    );
  }
  fs.rmSync(plan.options.dir, { recursive: true, force: true });
  print(`Removed ${plan.options.dir}.`);
}

/** Takes the lab in `dir` down. Idempotent: no lab there is success. */
export async function labDown(dir: string, print: Print): Promise<void> {
  const abs = path.resolve(dir);
  const state = readState(abs);
  if (!state) {
    if (fs.existsSync(abs) && fs.readdirSync(abs).length > 0) {
      throw conflict(`${abs} holds no lab (no lab.json); nothing was removed.`);
    }
    fs.rmSync(abs, { recursive: true, force: true });
    print(`No lab in ${abs}; nothing to do.`);
    return;
  }
  await takeDown(state, print);
}

function requireState(dir: string): LabState {
  const state = readState(path.resolve(dir));
  if (!state) {
    throw new StratusError(
      'not_found',
      `No lab in ${path.resolve(dir)}. Start one with: stratus lab up`,
      {
        resource: 'config',
      },
    );
  }
  return state;
}

export interface LabStatus {
  dir: string;
  ready: boolean;
  processes: { name: string; binary: string; host: string; pid: number | null; running: boolean }[];
  services: {
    binary: string;
    host: string;
    state: 'up' | 'down';
    status: string;
    lastHeartbeat: number;
  }[];
  hosts: {
    host: string;
    zone: string;
    state: string;
    status: string;
    instances: number;
    vcpus: number;
    memoryMb: number;
  }[];
  clients: LabClient[];
  /** A qemu lab's storage host on the storage segment, and its storage daemon's pid. */
  storage?: { host: string; namespace: string; address: string; daemonPid: number | null };
  /** Set when the database could not be read. */
  databaseError?: string;
}

/** What runs and what the services table says of it. */
export async function labStatus(dir: string): Promise<LabStatus> {
  const state = requireState(dir);
  const { plan } = state;
  const status: LabStatus = {
    dir: plan.options.dir,
    ready: state.ready,
    processes: plan.processes.map((p) => {
      const pid = livePid(p);
      return {
        name: p.name,
        binary: p.binary,
        host: p.host,
        pid: pid ?? null,
        running: pid !== undefined,
      };
    }),
    services: [],
    hosts: [],
    clients: state.made.clients,
    ...storageStatus(plan),
  };
  let database: Database | undefined;
  try {
    database = await openDatabase(plan.databaseUrl, { migrate: false });
    const downAfterMs = (plan.options.downAfterSeconds ?? DEFAULT_DOWN_AFTER_S) * 1000;
    const at = now();
    const rows: ServiceRow[] = await new ServiceRepo(database.db).list();
    status.services = rows.map((r) => ({
      binary: r.binary,
      host: r.host,
      state: serviceState(r, at, downAfterMs),
      status: r.disabled ? 'disabled' : 'enabled',
      lastHeartbeat: r.heartbeatAt,
    }));
    const usage = await sql<{ host: string; instances: number; vcpus: number; memoryMb: number }>`
      select host, count(*) as instances, sum(vcpus) as vcpus, sum(memory_mb) as memory_mb
      from capacity_claims group by host`.execute(database.db);
    const used = new Map(usage.rows.map((u) => [u.host, u]));
    status.hosts = plan.hosts.map((h) => {
      const svc = status.services.find((s) => s.binary === 'compute' && s.host === h.name);
      const u = used.get(h.name);
      return {
        host: h.name,
        zone: h.zone,
        state: svc?.state ?? 'not registered',
        status: svc?.status ?? '',
        instances: Number(u?.instances ?? 0),
        vcpus: Number(u?.vcpus ?? 0),
        memoryMb: Number(u?.memoryMb ?? 0),
      };
    });
  } catch (err) {
    status.databaseError = (err as Error).message;
  } finally {
    await database?.close();
  }
  return status;
}

/** Adds a client namespace on the public segment of a qemu lab. */
export async function labClientAdd(dir: string, name: string): Promise<LabClient> {
  const state = requireState(dir);
  const segments = state.plan.segments;
  if (!segments) {
    throw new StratusError(
      'invalid',
      'Client namespaces need a qemu lab (stratus lab up --virt qemu).',
      {
        resource: 'config',
      },
    );
  }
  if (!/^[a-z0-9]{1,12}$/.test(name)) {
    throw new StratusError(
      'invalid',
      `A client name is 1 to 12 lower-case letters or digits (got '${name}').`,
      {
        resource: 'name',
        id: name,
      },
    );
  }
  if (state.made.clients.some((c) => c.name === name)) {
    throw new StratusError('already_exists', `The lab already has a client '${name}'.`, {
      resource: 'name',
      id: name,
    });
  }
  const made = await addClient(
    segments,
    name,
    state.made.clients.map((c) => c.index),
  );
  const client = { name, ...made };
  state.made.clients.push(client);
  writeState(state);
  return client;
}

export async function labClientDel(dir: string, name: string): Promise<void> {
  const state = requireState(dir);
  const client = state.made.clients.find((c) => c.name === name);
  if (!client || !state.plan.segments) {
    throw new StratusError('not_found', `The lab has no client '${name}'.`, {
      resource: 'name',
      id: name,
    });
  }
  await removeClient(state.plan.segments, name);
  state.made.clients = state.made.clients.filter((c) => c.name !== name);
  writeState(state);
}
