// What a lab is made of, decided before anything is made: its database and vhost names, its
// hosts (state dir, data-plane namespace, zone, public address), and each process with the
// config file it runs from. Pure: the same options and ports give the same plan.
import path from 'node:path';
import { stringify } from 'smol-toml';
import { OPTIONS } from '../config/index.js';
import { invalid } from '../errors.js';
import { overlayNamespaceOf } from '../network/index.js';
import type { Binary } from '../service/index.js';

export type LabVirt = 'fake' | 'qemu';

export interface LabOptions {
  /** Where the lab keeps its config files, logs, pid files, state dirs and rc file. */
  dir: string;
  /** Number of compute hosts. */
  hosts: number;
  virt: LabVirt;
  apiProcesses: number;
  schedulers: number;
  /** Availability zones the hosts are spread over. */
  zones: number;
  /** An admin connection to the PostgreSQL server (the lab creates its database there). */
  postgres: string;
  /** The RabbitMQ server, without a vhost (the lab creates its own). */
  rabbitmq: string;
  /** Names what the lab makes: database stratus_<name>, vhost and namespaces stratus-<name>-... */
  name: string;
  /** service.heartbeatSeconds and service.downAfterSeconds of every process, when given. */
  heartbeatSeconds?: number | undefined;
  downAfterSeconds?: number | undefined;
  logLevel?: string | undefined;
  /** More config keys for every process (`quota.instances` = 1000), as an operator's file would set them. */
  settings?: Readonly<Record<string, string | number>> | undefined;
  /**
   * With --virt qemu: an underlay segment too, and every host configured for project
   * networks (VXLAN over it), host 1 as the network host (docs/networking.md).
   */
  overlay?: boolean | undefined;
}

export interface LabHost {
  /** The host name the compute service registers (lab-node1...). */
  name: string;
  zone: string;
  /** The host's data-plane namespace. */
  namespace: string;
  stateDir: string;
  /** With --virt qemu: the host's address on the public segment, A.B.C.D/N. */
  publicAddress?: string;
  /** With --overlay: the host's overlay namespace and its address on the underlay, A.B.C.D/N. */
  overlay?: { namespace: string; underlayAddress: string; networkHost: boolean };
  /** With --virt qemu: the host's address on the storage segment (on st0), A.B.C.D/N. */
  storageAddress?: string;
}

/**
 * The storage host of a qemu lab (the volume service's host): a namespace of its own plugged
 * into the storage segment, where its storage daemon serves the NBD exports compute hosts use.
 */
export interface LabStorage {
  /** The host name the volume service registers (lab-storage1). */
  host: string;
  /** The storage host's namespace; its storage daemon runs there (--volume-nbd-namespace). */
  namespace: string;
  /** Its address on the storage segment (on st0), A.B.C.D/N; the NBD server listens on it. */
  address: string;
}

export interface LabProcess {
  /** Unique within the lab: api1, scheduler1, network, lab-node1 ... */
  name: string;
  binary: Binary;
  /** The host name the process registers its service under. */
  host: string;
  configFile: string;
  /** Standard output and error of the process. */
  outFile: string;
  /** The services' JSON log. */
  logFile: string;
  pidFile: string;
  /** The config file's contents, dotted keys as src/config names them. */
  settings: Readonly<Record<string, string | number>>;
}

export interface LabApi {
  process: string;
  ec2: string;
  compute: string;
  identity: string;
  image: string;
  status: string;
  /** The Block Storage API (`<listen-url>/v3`). */
  volume: string;
  /** The Networking API (`<listen-url>`; clients find /v2.0 from it). */
  network: string;
  /** The web dashboard. */
  dashboard: string;
}

/** The simulated physical network (--virt qemu only): namespaces the lab owns. */
export interface LabSegments {
  /** The guest (flat) segment: a bridge in this namespace, one port per host (flat0 there). */
  flat: string;
  /** The public segment: a bridge with PUBLIC_GATEWAY, one port per host (pub0) and client. */
  public: string;
  /**
   * With --overlay, the underlay segment: a bridge, one port per host whose far end (ul0) is
   * in the host's overlay namespace; the network host also gets pub1 there, on the public
   * segment, for its routers.
   */
  underlay?: string;
  /**
   * The storage segment: a bridge, one port per compute host (st0 in the host's namespace)
   * and one for the storage host (st0 in its namespace), which serves volumes over NBD.
   */
  storage?: string;
}

export interface LabPlan {
  options: LabOptions;
  /** PostgreSQL database name. */
  database: string;
  databaseUrl: string;
  vhost: string;
  busUrl: string;
  /** State dir of the controller's services (api, scheduler, network): the rc file is here. */
  controllerDir: string;
  hosts: LabHost[];
  /** In start order: network, schedulers, apis, compute hosts. */
  processes: LabProcess[];
  apis: LabApi[];
  segments?: LabSegments;
  /** With --virt qemu: the storage host on the storage segment. */
  storage?: LabStorage;
}

/** The public segment of a qemu lab, its floating range and the addresses in it. */
export const PUBLIC_NETWORK = '172.24.4.0/24';
export const PUBLIC_GATEWAY = '172.24.4.1/24';
export const FLOATING_RANGE = '172.24.4.128/25';
/** Host I is 172.24.4.(10+I); client namespaces from .100 up. */
export const publicAddressOfHost = (i: number): string => `172.24.4.${10 + i}/24`;
export const FIRST_CLIENT = 100;
/** With --overlay, host I is 10.99.0.(10+I) on the underlay. */
export const underlayAddressOfHost = (i: number): string => `10.99.0.${10 + i}/24`;
/** The storage segment of a qemu lab: the storage host at .2, compute host I at .(10+I). */
export const STORAGE_HOST = 'lab-storage1';
export const STORAGE_NETWORK = '10.98.0.0/24';
export const STORAGE_HOST_ADDRESS = '10.98.0.2/24';
export const storageAddressOfHost = (i: number): string => `10.98.0.${10 + i}/24`;
const MAX_HOSTS = 89;
const MAX_HOSTS_FAKE = 500;

/** Ports each api process listens on, in this order. */
export const API_PORTS = [
  'ec2',
  'compute',
  'identity',
  'image',
  'status',
  'volume',
  'network',
  'dashboard',
] as const;

const NAME = /^[a-z][a-z0-9]{0,15}$/;

/** Checks the options; a bad one is refused with a message naming it. */
export function checkLabOptions(o: LabOptions): void {
  const whole = (value: number, flag: string, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw invalid(`--${flag} must be a whole number from ${min} to ${max} (got ${value}).`, {
        resource: 'config',
        id: flag,
      });
    }
  };
  whole(o.hosts, 'hosts', 1, o.virt === 'qemu' ? MAX_HOSTS : MAX_HOSTS_FAKE);
  whole(o.apiProcesses, 'api-processes', 1, 16);
  whole(o.schedulers, 'schedulers', 1, 16);
  whole(o.zones, 'zones', 1, o.hosts);
  if (o.overlay && o.virt !== 'qemu') {
    throw invalid('--overlay needs --virt qemu: project networks live in namespace data planes.', {
      resource: 'config',
      id: 'overlay',
    });
  }
  if (!NAME.test(o.name)) {
    throw invalid(
      `--name must be a lower-case letter followed by at most 15 letters or digits (got '${o.name}').`,
      { resource: 'config', id: 'name' },
    );
  }
  const known = new Set(OPTIONS.map((spec) => spec.key));
  for (const key of Object.keys(o.settings ?? {})) {
    if (!known.has(key)) {
      throw invalid(`--set ${key}: the config file has no option '${key}'.`, {
        resource: 'config',
        id: key,
      });
    }
    // The lab waits for each api process's /healthz and prints its URLs as plain HTTP.
    if (key.startsWith('api.tls')) {
      throw invalid(
        `--set ${key}: a lab serves its APIs over plain HTTP; HTTPS is for an all-in-one or api service started with --tls-cert-file.`,
        { resource: 'config', id: key },
      );
    }
  }
  for (const [flag, url, scheme] of [
    ['postgres', o.postgres, /^postgres(ql)?:$/],
    ['rabbitmq', o.rabbitmq, /^amqps?:$/],
  ] as const) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw invalid(`--${flag} '${url}' is not a URL.`, { resource: 'config', id: flag });
    }
    if (!scheme.test(u.protocol)) {
      throw invalid(
        `--${flag} '${url}' is not a ${flag === 'postgres' ? 'postgres' : 'amqp'}:// URL.`,
        {
          resource: 'config',
          id: flag,
        },
      );
    }
  }
}

/** Zone of host I (1-based) when the hosts are spread round-robin over `zones` zones. */
export function zoneOf(i: number, zones: number): string {
  return `lab-zone${((i - 1) % zones) + 1}`;
}

/**
 * The plan of a lab. `ports` are free TCP ports on loopback, one per API_PORTS entry per api process
 * (API_PORTS order).
 */
export function planLab(options: LabOptions, ports: readonly number[]): LabPlan {
  checkLabOptions(options);
  if (ports.length < options.apiProcesses * API_PORTS.length) {
    throw invalid('Not enough free ports for the api processes.', { resource: 'config' });
  }
  const dir = path.resolve(options.dir);
  const database = `stratus_${options.name}`;
  const vhost = `stratus-${options.name}`;
  const databaseUrl = withPath(options.postgres, `/${database}`);
  const busUrl = withPath(options.rabbitmq, `/${encodeURIComponent(vhost)}`);
  const controllerDir = path.join(dir, 'controller');
  const prefix = `stratus-${options.name}`;
  const qemu = options.virt === 'qemu';

  const common: Record<string, string | number> = {
    database: databaseUrl,
    transport: busUrl,
    'virt.driver': options.virt,
    // One image directory for every host, as a deployment shares one over NFS.
    'image.directory': path.join(dir, 'images'),
    ...(options.heartbeatSeconds !== undefined
      ? { 'service.heartbeatSeconds': options.heartbeatSeconds }
      : {}),
    ...(options.downAfterSeconds !== undefined
      ? { 'service.downAfterSeconds': options.downAfterSeconds }
      : {}),
    ...(options.logLevel !== undefined ? { 'log.level': options.logLevel } : {}),
    ...(qemu ? { 'network.floatingRange': FLOATING_RANGE } : {}),
    ...options.settings,
  };
  const processes: LabProcess[] = [];
  const add = (
    name: string,
    binary: Binary,
    host: string,
    stateDir: string,
    extra: Record<string, string | number> = {},
  ) => {
    processes.push({
      name,
      binary,
      host,
      configFile: path.join(dir, 'config', `${name}.toml`),
      outFile: path.join(dir, 'logs', `${name}.out`),
      logFile: path.join(dir, 'logs', `${name}.log`),
      pidFile: path.join(dir, 'run', `${name}.pid`),
      settings: {
        stateDir,
        host,
        // Each process holds its own pool against the one server: the API processes, which
        // serve the clients, keep the default; the others need few (an operator's --set wins).
        ...(binary === 'api' ? {} : { 'db.maxConnections': binary === 'scheduler' ? 5 : 3 }),
        ...common,
        'log.file': path.join(dir, 'logs', `${name}.log`),
        ...extra,
      },
    });
  };

  // The controller: one host per api or scheduler process beyond the first, as a deployment
  // with several controller machines would have; the network service on the first.
  const controller = (k: number) => `lab-controller${k}`;
  add('network', 'network', controller(1), controllerDir);
  for (let k = 1; k <= options.schedulers; k++) {
    add(`scheduler${k}`, 'scheduler', controller(k), controllerDir);
  }
  const apis: LabApi[] = [];
  for (let k = 1; k <= options.apiProcesses; k++) {
    const p = ports.slice((k - 1) * API_PORTS.length, k * API_PORTS.length);
    const listen = (i: number) => `127.0.0.1:${p[i] as number}`;
    const name = `api${k}`;
    add(name, 'api', controller(k), controllerDir, {
      'api.ec2Listen': listen(0),
      'api.computeListen': listen(1),
      'api.identityListen': listen(2),
      'api.imageListen': listen(3),
      'api.statusListen': listen(4),
      'api.volumeListen': listen(5),
      'api.networkListen': listen(6),
      'api.dashboardListen': listen(7),
    });
    const url = (i: number) => `http://${listen(i)}`;
    apis.push({
      process: name,
      ec2: `${url(0)}/`,
      compute: `${url(1)}/v2.1`,
      identity: `${url(2)}/v3`,
      image: url(3),
      status: url(4),
      volume: `${url(5)}/v3`,
      network: url(6),
      dashboard: `${url(7)}/`,
    });
  }

  // The volume service on a storage host of its own, as a deployment would run it; compute
  // hosts reach its volumes over the network (with --virt qemu, the storage segment).
  const storage = qemu ? planStorage(prefix) : undefined;
  add(
    'volume',
    'volume',
    STORAGE_HOST,
    path.join(dir, 'hosts', STORAGE_HOST),
    storage ? storageSettings(storage) : {},
  );

  const hosts: LabHost[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    const name = `lab-node${i}`;
    const host: LabHost = {
      name,
      zone: zoneOf(i, options.zones),
      namespace: `${prefix}-node${i}`,
      stateDir: path.join(dir, 'hosts', name),
      ...(qemu ? { publicAddress: publicAddressOfHost(i) } : {}),
      ...(qemu ? { storageAddress: storageAddressOfHost(i) } : {}),
      ...(qemu && options.overlay
        ? {
            overlay: {
              namespace: overlayNamespaceOf(`${prefix}-node${i}`),
              underlayAddress: underlayAddressOfHost(i),
              networkHost: i === 1,
            },
          }
        : {}),
    };
    hosts.push(host);
    add(name, 'compute', name, host.stateDir, {
      'compute.availabilityZone': host.zone,
      'dataPlane.namespace': host.namespace,
      // The interfaces a real host would name by its NICs: here the ends of the segments'
      // veths that the lab put into the host's namespace.
      ...(qemu
        ? {
            'dataPlane.mode': 'namespace',
            'dataPlane.flatInterface': 'flat0',
            'dataPlane.publicInterface': 'pub0',
            'dataPlane.publicAddress': host.publicAddress as string,
          }
        : {}),
      ...(host.overlay
        ? {
            'dataPlane.underlayInterface': 'ul0',
            'dataPlane.underlayAddress': host.overlay.underlayAddress,
            ...(host.overlay.networkHost
              ? { 'dataPlane.networkHost': 'true', 'dataPlane.routerInterface': 'pub1' }
              : {}),
          }
        : {}),
    });
  }
  return {
    options: { ...options, dir },
    database,
    databaseUrl,
    vhost,
    busUrl,
    controllerDir,
    hosts,
    processes,
    apis,
    ...(qemu
      ? {
          segments: {
            flat: `${prefix}-flat`,
            public: `${prefix}-pub`,
            ...(options.overlay ? { underlay: `${prefix}-ul` } : {}),
            storage: `${prefix}-stor`,
          },
        }
      : {}),
    ...(storage ? { storage } : {}),
  };
}

/** The storage host of a qemu lab whose namespaces are named `prefix`-... */
function planStorage(prefix: string): LabStorage {
  return { host: STORAGE_HOST, namespace: `${prefix}-storage1`, address: STORAGE_HOST_ADDRESS };
}

/** The volume service's options a storage host with an address on a segment would have. */
function storageSettings(storage: LabStorage): Record<string, string> {
  return {
    'volume.nbdAddress': storage.address.split('/')[0] as string,
    'volume.nbdNamespace': storage.namespace,
  };
}

function withPath(url: string, pathname: string): string {
  const u = new URL(url);
  u.pathname = pathname;
  return u.toString();
}

/** A process's config file: the TOML an operator would write for that host and service. */
export function renderConfig(p: LabProcess): string {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p.settings)) {
    const parts = key.split('.');
    let node = doc;
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return `# stratus ${p.binary} on ${p.host}, written by stratus lab.\n${stringify(doc)}\n`;
}
