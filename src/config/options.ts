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
    key: 'db.maxConnections',
    flag: 'db-max-connections',
    type: 'integer',
    help: 'PostgreSQL only: the most connections this process holds open at once (its pool); more queries wait their turn.',
    default: 10,
    min: 1,
    max: 1000,
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
    key: 'bus.exchange',
    flag: 'bus-exchange',
    type: 'string',
    help: 'AMQP only: the prefix of every exchange and queue, so several clouds can share one RabbitMQ.',
    default: 'stratus',
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
    key: 'virt.fakeSpawnDelayMs',
    flag: 'fake-spawn-delay-ms',
    type: 'integer',
    help: 'Fake driver only: how long each spawn takes, in milliseconds (tests and benches).',
    default: 0,
    min: 0,
    max: 600_000,
  },
  {
    key: 'virt.fakeVcpus',
    flag: 'fake-vcpus',
    type: 'integer',
    help: 'Fake driver only: the vCPUs each host reports, so a test can give hosts an exact room.',
    default: 1024,
    min: 1,
    max: 1_000_000,
  },
  {
    key: 'qemu.accelerator',
    flag: 'qemu-accelerator',
    type: 'enum',
    choices: ['auto', 'kvm', 'tcg'],
    help: "QEMU accelerator: 'auto' uses KVM only where kvm_intel or kvm_amd is loaded, TCG otherwise.",
    default: 'auto',
  },
  {
    key: 'qemu.powerOffTimeoutSeconds',
    flag: 'qemu-power-off-timeout-seconds',
    type: 'number',
    help: 'How long a guest has to power off after the ACPI power button before QEMU ends it, in seconds.',
    default: 30,
    min: 1,
    max: 3600,
  },
  {
    key: 'qemu.rebootTimeoutSeconds',
    flag: 'qemu-reboot-timeout-seconds',
    type: 'number',
    help: 'How long a guest has to reboot after Ctrl-Alt-Del (soft reboot) before it is reset, in seconds.',
    default: 60,
    min: 1,
    max: 3600,
  },
  {
    key: 'image.directory',
    flag: 'image-dir',
    type: 'string',
    help: 'Where the image files live: the api service and `stratus manage image import` store them here, compute hosts read them from here. Point every host at the same shared directory.',
    default: (r: Readonly<Record<string, unknown>>) => path.join(String(r.stateDir), 'images'),
  },
  {
    key: 'guest.imageDir',
    flag: 'guest-image-dir',
    type: 'string',
    help: "Where guest/build.sh put the guest image; with --virt qemu the all-in-one's first start imports it.",
    default: '/var/cache/stratus/guest',
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
    key: 'api.imageListen',
    flag: 'image-listen',
    type: 'listen',
    help: 'HOST:PORT the OpenStack Image API (v2) listens on.',
    default: '127.0.0.1:9292',
  },
  {
    key: 'api.statusListen',
    flag: 'status-listen',
    type: 'listen',
    help: 'HOST:PORT of the health (/healthz) and Prometheus metrics (/metrics) endpoints.',
    default: '127.0.0.1:8780',
  },
  {
    key: 'api.tlsCertFile',
    flag: 'tls-cert-file',
    type: 'string',
    help: "PEM certificate (its chain after it) every API listener serves HTTPS with; needs --tls-key-file. '' (the default): plain HTTP. The metadata service stays HTTP.",
    default: '',
  },
  {
    key: 'api.tlsKeyFile',
    flag: 'tls-key-file',
    type: 'string',
    help: 'PEM private key of --tls-cert-file; needs --tls-cert-file.',
    default: '',
  },
  {
    key: 'api.tlsCaFile',
    flag: 'tls-ca-file',
    type: 'string',
    help: "PEM CA bundle clients should trust the API certificate with: the rc file names it (AWS_CA_BUNDLE, OS_CACERT). Only with --tls-cert-file. '' (the default): clients use their system's CAs.",
    default: '',
  },
  {
    key: 'api.tlsReloadSeconds',
    flag: 'tls-reload-seconds',
    type: 'number',
    help: 'How often the api service looks whether --tls-cert-file or --tls-key-file changed on disk, in seconds; a changed pair that checks out serves new connections, a bad one is logged and the old one kept.',
    default: 10,
    min: 0.1,
    max: 86_400,
  },
  {
    key: 'api.idleTimeoutSeconds',
    flag: 'api-idle-timeout-seconds',
    type: 'number',
    help: 'How long an API connection may go without any data moving in either direction (a stalled upload, a client that stopped reading) before it is closed, in seconds.',
    default: 60,
    min: 0.1,
    max: 86_400,
  },
  {
    key: 'identity.tokenLifetimeSeconds',
    flag: 'token-lifetime-seconds',
    type: 'integer',
    help: 'How long an Identity API token lives, in seconds.',
    default: 3600,
    min: 60,
    max: 7 * 24 * 3600,
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
    key: 'compute.availabilityZone',
    flag: 'availability-zone',
    type: 'string',
    help: 'Availability zone of the compute hosts this process runs.',
    default: (r: Readonly<Record<string, unknown>>) => `${String(r.region).toLowerCase()}a`,
  },
  {
    key: 'compute.terminatedVisibleSeconds',
    flag: 'terminated-visible-seconds',
    type: 'integer',
    help: 'How long a terminated instance stays visible in listings, in seconds.',
    default: 3600,
    min: 0,
    max: 30 * 86_400,
  },
  {
    key: 'compute.powerSyncSeconds',
    flag: 'power-sync-seconds',
    type: 'number',
    help: "How often a compute host compares its VMs' power state with the database, in seconds.",
    default: 10,
    min: 0.1,
    max: 3600,
  },
  {
    key: 'compute.reconcileIntervalSeconds',
    flag: 'reconcile-interval-seconds',
    type: 'number',
    help: 'How often in-flight work (launches, terminations, power changes) is checked for work nobody is doing any more, in seconds (see in-flight-deadline-seconds).',
    default: 10,
    min: 0.05,
    max: 3600,
  },
  {
    key: 'compute.inFlightDeadlineSeconds',
    flag: 'in-flight-deadline-seconds',
    type: 'number',
    help: 'An instance left building, deleting or changing power state this many seconds after its last change is taken over: its step is resumed, or it ends in error. Must exceed the bus call timeout.',
    default: 60,
    min: 0.1,
    max: 86_400,
  },
  {
    key: 'compute.guestNetworkDeadlineSeconds',
    flag: 'guest-network-deadline-seconds',
    type: 'number',
    help: 'A real guest on the data plane that has neither taken its DHCP lease nor asked for metadata this many seconds after launch is reported impaired (DescribeInstanceStatus).',
    default: 300,
    min: 1,
    max: 86_400,
  },
  {
    key: 'scheduler.cpuAllocationRatio',
    flag: 'cpu-allocation-ratio',
    type: 'number',
    help: 'Virtual CPUs the scheduler places per physical core.',
    default: 16,
    min: 0.1,
    max: 1000,
  },
  {
    key: 'scheduler.ramAllocationRatio',
    flag: 'ram-allocation-ratio',
    type: 'number',
    help: 'Guest memory the scheduler places per byte of host memory.',
    default: 1.5,
    min: 0.1,
    max: 100,
  },
  {
    key: 'scheduler.diskAllocationRatio',
    flag: 'disk-allocation-ratio',
    type: 'number',
    help: 'Guest disk the scheduler places per byte of host disk.',
    default: 1,
    min: 0.1,
    max: 100,
  },
  {
    key: 'scheduler.weigher',
    flag: 'scheduler-weigher',
    type: 'enum',
    choices: ['spread', 'pack'],
    help: "Where new instances go among the hosts that can take them: 'spread' (most free memory first) or 'pack' (least free memory first).",
    default: 'spread',
  },
  {
    key: 'network.fixedRange',
    flag: 'fixed-range',
    type: 'string',
    help: 'CIDR of the default network guests get their private addresses from.',
    default: '10.20.0.0/20',
  },
  {
    key: 'network.floatingRange',
    flag: 'floating-range',
    type: 'string',
    help: 'CIDR of the pool Elastic (floating) IPs are allocated from.',
    default: '172.24.4.0/24',
  },
  {
    key: 'dataPlane.mode',
    flag: 'data-plane',
    type: 'enum',
    choices: ['auto', 'namespace', 'user'],
    help:
      "How qemu guests reach the network: 'namespace' (bridge, dnsmasq and nftables in a " +
      "namespace Stratus owns; needs root), 'user' (QEMU user mode, ssh forwarded on " +
      "loopback), or 'auto' (namespace where it can run, user otherwise).",
    default: 'auto',
  },
  {
    key: 'dataPlane.namespace',
    flag: 'data-plane-namespace',
    type: 'string',
    help: "Network namespace of this host's data plane ('' means stratus-<host>).",
    default: '',
  },
  {
    key: 'dataPlane.flatInterface',
    flag: 'flat-interface',
    type: 'string',
    help:
      'Interface that carries the flat guest network to the other compute hosts; it is ' +
      "enslaved to the guest bridge. Looked up in the data plane's namespace, else moved " +
      "there from the machine's. '' (the default): this host's guests reach only each other.",
    default: '',
  },
  {
    key: 'dataPlane.publicInterface',
    flag: 'public-interface',
    type: 'string',
    help:
      'Interface on the public segment where floating IPs live (as /32 addresses); looked ' +
      "up like --flat-interface. Needs --public-address. '' (the default): floating IPs go on lo.",
    default: '',
  },
  {
    key: 'dataPlane.publicAddress',
    flag: 'public-address',
    type: 'string',
    help:
      "This host's own address on the public segment, A.B.C.D/N (e.g. 172.24.4.11/24): " +
      'guests without a floating IP leave through it, and the host reaches floating IPs on ' +
      'other hosts from it. Needed with --public-interface.',
    default: '',
  },
  {
    key: 'network.leaseSeconds',
    flag: 'dhcp-lease-seconds',
    type: 'integer',
    help: 'DHCP lease time; an address given up is not reused before it (plus a margin) has passed.',
    default: 120,
    min: 60,
    max: 86_400,
  },
  ...(
    [
      ['instances', 'Instances', 10],
      ['cores', 'Virtual CPUs', 20],
      ['ramMb', 'Memory in MiB', 51_200],
      ['addresses', 'Elastic IPs', 5],
      ['securityGroups', 'Security groups', 10],
      ['securityGroupRules', 'Rules per security group', 100],
      ['keypairs', 'Key pairs', 100],
      ['serverGroups', 'Server groups (EC2 placement groups)', 10],
      ['serverGroupMembers', 'Members of each server group', 10],
    ] as const
  ).map(([name, what, value]): OptionSpec => ({
    key: `quota.${name}`,
    flag: `quota-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    type: 'integer',
    help: `${what} a project may have, unless its own quota says otherwise.`,
    default: value,
    min: 0,
    max: 10_000_000,
  })),
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
