// Test support: a RabbitMQ node of the test's own (its own node name, AMQP and distribution
// ports, data, log and config under a temp dir, its own HOME and so its own Erlang cookie), for
// fault tests that stop the broker under running services and start it again on the same data,
// so durable queues and persistent messages survive. The machine's shared node is never
// touched: the node is started through RabbitMQ's own script, not Debian's wrapper (which
// switches to the rabbitmq user and its cookie), and every setting the shared node reads from
// /etc/rabbitmq is given a file of this node's own.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { RABBITMQ_BIN as BIN } from './capabilities.js';
import { freePorts } from '../../src/ports.js';

export interface PrivateRabbitMq {
  /** amqp://guest:guest@127.0.0.1:PORT */
  url: string;
  /** The Erlang node name (`stratus-test-<hex>@localhost`). */
  node: string;
  /** Whether the node is running now (between `start` resolving and `stop`). */
  readonly running: boolean;
  /**
   * Stops the node: `kill` (default) is SIGKILL to its Erlang VM, as a crash or a power cut
   * leaves it; `graceful` is `rabbitmqctl stop`. Resolves when the process is gone.
   */
  stop(how?: 'kill' | 'graceful'): Promise<void>;
  /**
   * Freezes the node (SIGSTOP to its Erlang VM): its sockets stay open and accept, but nothing
   * answers, as with a hung broker or a network that drops packets. Resolves once every thread
   * of the VM is seen stopped, and rejects if it cannot freeze it, so that a test never goes on
   * against a broker that is still answering. `resume` thaws it.
   */
  pause(): Promise<void>;
  resume(): void;
  /** Starts it again on the same ports and data; resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it if running and removes its data. */
  remove(): Promise<void>;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, ms: number) {
  return new Promise<string>((resolve, reject) => {
    execFile(cmd, args, { env, timeout: ms }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: ${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The scheduler state letter of each thread of a process (R, S, D, T, ...). */
function threadStates(pid: number): string[] {
  const dir = `/proc/${pid}/task`;
  return fs.readdirSync(dir).flatMap((tid) => {
    try {
      const stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8');
      // "tid (comm) S ...": the state follows the last ')', as comm may hold spaces or parens.
      return [stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)];
    } catch {
      return []; // the thread ended
    }
  });
}

/** Starts a private node; resolves once it accepts AMQP connections (~10-15 s here). */
export async function startPrivateRabbitMq(): Promise<PrivateRabbitMq> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-rmq-'));
  const node = `stratus-test-${randomBytes(4).toString('hex')}@localhost`;
  const [port, distPort] = (await freePorts(2)) as [number, number];
  const pidFile = path.join(dir, 'pid');
  // No plugins (so no management listener); guest may log in over loopback (the default);
  // a low disk limit so a small temp filesystem does not block publishers.
  fs.writeFileSync(path.join(dir, 'plugins'), '[].\n');
  fs.writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    ['disk_free_limit.absolute = 20MB', 'log.file.level = warning', ''].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  fs.writeFileSync(path.join(dir, 'advanced.config'), '[].\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: pidFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
  };
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const beamPid = (): number | undefined => {
    try {
      const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  const start = async (): Promise<void> => {
    if (child) throw new Error('the private RabbitMQ is already running');
    fs.rmSync(pidFile, { force: true });
    const out = fs.openSync(path.join(dir, 'server.out'), 'a');
    child = spawn(path.join(BIN, 'rabbitmq-server'), [], {
      env,
      cwd: dir,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const c = child;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    void exited.then(() => {
      if (child === c) child = undefined;
    });
    try {
      // Waits for the node to boot; a node that dies on the way (a port taken, say) ends the
      // wait at once instead of after its timeout.
      await Promise.race([
        run(
          path.join(BIN, 'rabbitmqctl'),
          ['-n', node, 'wait', pidFile, '--timeout', '90'],
          env,
          120_000,
        ),
        exited.then(() => {
          throw new Error('the node exited while starting');
        }),
      ]);
    } catch (err) {
      const log = fs.readFileSync(path.join(dir, 'server.out'), 'utf8').slice(-2000);
      await stop('kill');
      throw new Error(`the private RabbitMQ did not start: ${(err as Error).message}\n${log}`);
    }
  };

  const stop = async (how: 'kill' | 'graceful' = 'kill'): Promise<void> => {
    if (!child) return;
    if (how === 'graceful') {
      await run(path.join(BIN, 'rabbitmqctl'), ['-n', node, 'stop', pidFile], env, 60_000).catch(
        () => undefined,
      );
    }
    const pid = beamPid();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // The script that started the VM exits with it; give it a moment, then end it too.
    const gone = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!gone) child?.kill('SIGKILL');
    await exited;
    child = undefined;
  };

  await start();
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    node,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
    async pause() {
      const pid = beamPid();
      if (pid === undefined || !fs.existsSync(`/proc/${pid}`)) {
        throw new Error(`the private RabbitMQ is not running (VM pid ${pid ?? 'unknown'})`);
      }
      process.kill(pid, 'SIGSTOP');
      // The stop is asynchronous for a busy multi-threaded VM: wait until no thread runs.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const states = threadStates(pid);
        if (states.length > 0 && states.every((s) => s === 'T' || s === 't')) return;
        if (Date.now() > deadline) {
          throw new Error(`the RabbitMQ VM ${pid} did not stop: thread states ${states.join('')}`);
        }
        await sleep(10);
      }
    },
    resume() {
      const pid = beamPid();
      if (pid !== undefined && fs.existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGCONT');
    },
    async remove() {
      const pid = beamPid();
      if (child && pid !== undefined) process.kill(pid, 'SIGCONT');
      await stop('kill');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
