// The one table of configuration options: key, flag, environment variable, type, default
// and help. Loading, validation, `--help` and the docs all come from here.
import os from 'node:os';
import path from 'node:path';

export type OptionType = 'string' | 'integer' | 'number' | 'boolean' | 'listen' | 'enum';

export interface OptionSpec {
  /** Dotted key as used in the config file: `service.heartbeatSeconds`. */
  key: string;
  /** Command-line flag without the dashes: `service-heartbeat-seconds`. */
  flag: string;
  type: OptionType;
  help: string;
  /** A value, or a function of the options resolved so far (e.g. paths under the state dir). */
  default: unknown | ((resolved: Readonly<Record<string, unknown>>) => unknown);
  min?: number;
  max?: number;
  choices?: readonly string[];
}

function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/stratus';
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'stratus');
}

/** Order matters: an option's default may depend on options listed before it. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'stateDir',
    flag: 'state-dir',
    type: 'string',
    help: 'Directory holding everything the cloud keeps on disk (database, logs, rc file).',
    default: defaultStateDir,
  },
  {
    key: 'database',
    flag: 'database',
    type: 'string',
    help: 'Database URL: sqlite:PATH or postgres://USER@HOST:PORT/DB. Default: SQLite in the state dir.',
    default: (r: Readonly<Record<string, unknown>>) =>
      `sqlite:${path.join(String(r.stateDir), 'stratus.sqlite')}`,
  },
  {
    key: 'db.busyTimeoutMs',
    flag: 'db-busy-timeout-ms',
    type: 'integer',
    help: 'How long a SQLite writer waits for another process to finish, in milliseconds.',
    default: 10_000,
    min: 0,
    max: 600_000,
  },
  {
    key: 'transport',
    flag: 'transport',
    type: 'string',
    help: "Bus transport: 'in-process' (all-in-one) or amqp://USER:PASS@HOST:PORT[/VHOST].",
    default: 'in-process',
  },
  {
    key: 'bus.callTimeoutMs',
    flag: 'bus-call-timeout-ms',
    type: 'integer',
    help: 'How long a bus call waits for its reply, in milliseconds.',
    default: 30_000,
    min: 10,
    max: 3_600_000,
  },
  {
    key: 'host',
    flag: 'host',
    type: 'string',
    help: 'Name of this host as services register it (compute.<host> is its topic).',
    default: () => os.hostname(),
  },
  {
    key: 'region',
    flag: 'region',
    type: 'string',
    help: 'Region name shown by the APIs and written to the rc file.',
    default: 'RegionOne',
  },
  {
    key: 'virt.driver',
    flag: 'virt',
    type: 'enum',
    choices: ['fake', 'qemu'],
    help: "Virt driver of the compute service: 'fake' (in memory) or 'qemu'.",
    default: 'fake',
  },
  {
    key: 'api.ec2Listen',
    flag: 'ec2-listen',
    type: 'listen',
    help: 'HOST:PORT the EC2 Query API listens on (port 0 picks a free one).',
    default: '127.0.0.1:8773',
  },
  {
    key: 'api.computeListen',
    flag: 'compute-listen',
    type: 'listen',
    help: 'HOST:PORT the OpenStack Compute API listens on.',
    default: '127.0.0.1:8774',
  },
  {
    key: 'api.identityListen',
    flag: 'identity-listen',
    type: 'listen',
    help: 'HOST:PORT the OpenStack Identity API listens on.',
    default: '127.0.0.1:5000',
  },
  {
    key: 'api.statusListen',
    flag: 'status-listen',
    type: 'listen',
    help: 'HOST:PORT of the health (/healthz) and Prometheus metrics (/metrics) endpoints.',
    default: '127.0.0.1:8780',
  },
  {
    key: 'service.heartbeatSeconds',
    flag: 'service-heartbeat-seconds',
    type: 'number',
    help: 'How often each service reports it is alive, in seconds.',
    default: 10,
    min: 0.05,
    max: 3600,
  },
  {
    key: 'service.downAfterSeconds',
    flag: 'service-down-after-seconds',
    type: 'number',
    help: 'A service whose last heartbeat is older than this many seconds is shown as down.',
    default: 60,
    min: 0.1,
    max: 86_400,
  },
  {
    key: 'log.level',
    flag: 'log-level',
    type: 'enum',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    help: 'Least severe level written to the log.',
    default: 'info',
  },
  {
    key: 'log.file',
    flag: 'log-file',
    type: 'string',
    help: "File the services log JSON lines to; '-' for standard error.",
    default: (r: Readonly<Record<string, unknown>>) => path.join(String(r.stateDir), 'stratus.log'),
  },
];
