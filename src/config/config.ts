// Loads the typed configuration: defaults < config file < environment < command-line flags,
// each value validated against OPTIONS with a message naming where the bad value came from.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { StratusError } from '../errors.js';
import { parseCidr, parseIpv4 } from '../network/ipv4.js';
import type { QuotaLimits } from '../quota/index.js';
import {
  parseGroupRoles,
  type LdapConfig,
  type SecurityComplianceOptions,
} from '../identity/index.js';
import { OPTIONS, type OptionSpec } from './options.js';

export interface Listen {
  host: string;
  port: number;
}

/** Where the API listeners' certificate and key are, as PEM files. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The CA bundle the rc file points clients at, when one is given. */
  caFile: string | undefined;
}

export interface Config {
  stateDir: string;
  database: string;
  db: { busyTimeoutMs: number; maxConnections: number };
  transport: string;
  bus: { callTimeoutMs: number; exchange: string };
  host: string;
  region: string;
  virt: { driver: 'fake' | 'qemu'; fakeSpawnDelayMs: number; fakeVcpus: number };
  qemu: {
    accelerator: 'auto' | 'kvm' | 'tcg';
    powerOffTimeoutSeconds: number;
    rebootTimeoutSeconds: number;
  };
  /** Where image files are stored and read (shared by every host of a cloud). */
  image: { directory: string };
  guest: { imageDir: string };
  api: {
    ec2Listen: Listen;
    computeListen: Listen;
    identityListen: Listen;
    imageListen: Listen;
    /** The Block Storage API's listener. */
    volumeListen: Listen;
    /** The Networking API's listener. */
    networkListen: Listen;
    /** The web dashboard's listener. */
    dashboardListen: Listen;
    statusListen: Listen;
    /** Seconds a connection may stay without data moving before it is closed. */
    idleTimeoutSeconds: number;
    /** Seconds a one-time serial console URL stays usable. */
    consoleTokenSeconds: number;
    /** HTTPS on every API listener (not metadata); plain HTTP when absent. */
    tls: TlsFiles | undefined;
    /** How often the certificate and key files are checked for a change, in seconds. */
    tlsReloadSeconds: number;
  };
  identity: {
    tokenLifetimeSeconds: number;
    /** The LDAP identity domain; none when `identity.ldap.url` is empty. */
    ldap: LdapConfig | undefined;
    securityCompliance: SecurityComplianceOptions;
  };
  service: { heartbeatSeconds: number; downAfterSeconds: number };
  compute: {
    availabilityZone: string;
    terminatedVisibleSeconds: number;
    powerSyncSeconds: number;
    reconcileIntervalSeconds: number;
    inFlightDeadlineSeconds: number;
    guestNetworkDeadlineSeconds: number;
    /** Where api processes reach this host's serial console server. */
    serialAddress: string;
    /** Its TCP port; 0: chosen by the system. */
    serialPort: number;
  };
  scheduler: {
    cpuAllocationRatio: number;
    ramAllocationRatio: number;
    diskAllocationRatio: number;
    weigher: 'spread' | 'pack';
  };
  network: {
    fixedRange: string;
    floatingRange: string;
    leaseSeconds: number;
    /** The VNIs project networks take, both ends included. */
    projectVniMin: number;
    projectVniMax: number;
    /** The MTU of a project network. */
    projectMtu: number;
  };
  /** The volume host's NBD server (its storage daemon). */
  volume: { nbdAddress: string; nbdNamespace: string; nbdPort: number };
  dataPlane: {
    mode: 'auto' | 'namespace' | 'user';
    namespace: string;
    /** The interface joining the guest bridge to the flat segment; none on a lone host. */
    flatInterface: string | undefined;
    /** The interface on the public segment floating IPs go on; none: `lo`. */
    publicInterface: string | undefined;
    /** This host's address on the public segment, `A.B.C.D/N` (set with publicInterface). */
    publicAddress: string | undefined;
    /** The underlay interface of project networks (VXLAN); none: the flat network only. */
    underlayInterface: string | undefined;
    /** This host's underlay address, `A.B.C.D/N` (set with underlayInterface). */
    underlayAddress: string | undefined;
    /** Whether this host serves DHCP, metadata and routers of project networks. */
    networkHost: boolean;
    /** The public-segment interface routers' external legs are macvlans of; none: no routers. */
    routerInterface: string | undefined;
  };
  quota: QuotaLimits;
  log: { level: string; file: string | null };
}

export interface ConfigSources {
  /** Values from command-line flags, keyed by flag name (`state-dir`). */
  flags?: Readonly<Record<string, string | undefined>>;
  /** The environment to read `STRATUS_*` variables from. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A TOML config file; `--config` or `STRATUS_CONFIG` otherwise. */
  file?: string;
}

export function envName(spec: OptionSpec): string {
  return `STRATUS_${spec.flag.toUpperCase().replace(/-/g, '_')}`;
}

function configError(where: string, spec: OptionSpec, message: string): StratusError {
  return new StratusError('invalid', `Invalid value for ${spec.flag} (${where}): ${message}`, {
    resource: 'config',
    id: spec.key,
  });
}

function parseValue(spec: OptionSpec, raw: unknown, where: string): unknown {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.type) {
    case 'string': {
      if (typeof text !== 'string' || text === '')
        throw configError(where, spec, 'expected a non-empty string.');
      return text;
    }
    case 'integer':
    case 'number': {
      const n =
        typeof text === 'number'
          ? text
          : typeof text === 'string' && text !== ''
            ? Number(text)
            : NaN;
      if (!Number.isFinite(n)) throw configError(where, spec, `'${String(raw)}' is not a number.`);
      if (spec.type === 'integer' && !Number.isInteger(n))
        throw configError(where, spec, `'${String(raw)}' is not a whole number.`);
      if (spec.min !== undefined && n < spec.min)
        throw configError(where, spec, `${n} is below the minimum ${spec.min}.`);
      if (spec.max !== undefined && n > spec.max)
        throw configError(where, spec, `${n} is above the maximum ${spec.max}.`);
      return n;
    }
    case 'boolean': {
      if (typeof text === 'boolean') return text;
      if (text === 'true' || text === '1' || text === 'yes') return true;
      if (text === 'false' || text === '0' || text === 'no') return false;
      throw configError(where, spec, `'${String(raw)}' is not true or false.`);
    }
    case 'enum': {
      if (typeof text !== 'string' || !spec.choices?.includes(text))
        throw configError(
          where,
          spec,
          `'${String(raw)}' is not one of ${spec.choices?.join(', ')}.`,
        );
      return text;
    }
    case 'listen':
      return parseListen(spec, text, where);
  }
}

function parseListen(spec: OptionSpec, raw: unknown, where: string): Listen {
  if (typeof raw !== 'string') throw configError(where, spec, 'expected HOST:PORT.');
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw);
  if (!m) throw configError(where, spec, `'${raw}' is not HOST:PORT.`);
  const port = Number(m[3]);
  if (port > 65535) throw configError(where, spec, `port ${port} is above 65535.`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Flattens a parsed TOML document into dotted keys: { service: { a: 1 } } -> { 'service.a': 1 }. */
function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      Object.assign(out, flatten(v as Record<string, unknown>, key));
    } else {
      out[key] = v;
    }
  }
  return out;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new StratusError(
      'invalid',
      `Cannot read the config file '${file}': ${(err as Error).message}`,
      {
        resource: 'config',
        id: file,
        cause: err,
      },
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new StratusError(
      'invalid',
      `The config file '${file}' is not valid TOML: ${(err as Error).message}`,
      {
        resource: 'config',
        id: file,
        cause: err,
      },
    );
  }
  const values = flatten(doc);
  const known = new Set(OPTIONS.map((o) => o.key));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) {
      throw new StratusError(
        'invalid',
        `The config file '${file}' has an unknown option '${key}'.`,
        {
          resource: 'config',
          id: key,
        },
      );
    }
  }
  return values;
}

/** Resolves every option from its sources, validates it and returns the frozen config. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const knownFlags = new Set(OPTIONS.map((o) => o.flag));
  for (const flag of Object.keys(flags)) {
    if (flags[flag] !== undefined && !knownFlags.has(flag) && flag !== 'config') {
      throw new StratusError('invalid', `Unknown option --${flag}.`, {
        resource: 'config',
        id: flag,
      });
    }
  }
  const file = sources.file ?? flags.config ?? env.STRATUS_CONFIG;
  const fileValues = file ? readConfigFile(file) : {};

  const resolved: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const fromFlag = flags[spec.flag];
    const fromEnv = env[envName(spec)];
    let value: unknown;
    if (fromFlag !== undefined) value = parseValue(spec, fromFlag, `flag --${spec.flag}`);
    else if (fromEnv !== undefined && fromEnv !== '')
      value = parseValue(spec, fromEnv, `environment ${envName(spec)}`);
    else if (spec.key in fileValues)
      value = parseValue(spec, fileValues[spec.key], `config file key ${spec.key}`);
    else {
      const fallback = typeof spec.default === 'function' ? spec.default(resolved) : spec.default;
      value = spec.type === 'listen' ? parseValue(spec, fallback, 'default') : fallback;
    }
    resolved[spec.key] = value;
  }
  return toConfig(resolved);
}

function toConfig(r: Record<string, unknown>): Config {
  const get = <T>(key: string): T => r[key] as T;
  const logFile = get<string>('log.file');
  const config: Config = {
    stateDir: get('stateDir'),
    database: get('database'),
    db: { busyTimeoutMs: get('db.busyTimeoutMs'), maxConnections: get('db.maxConnections') },
    transport: get('transport'),
    bus: { callTimeoutMs: get('bus.callTimeoutMs'), exchange: get('bus.exchange') },
    host: get('host'),
    region: get('region'),
    virt: {
      driver: get('virt.driver'),
      fakeSpawnDelayMs: get('virt.fakeSpawnDelayMs'),
      fakeVcpus: get('virt.fakeVcpus'),
    },
    qemu: {
      accelerator: get('qemu.accelerator'),
      powerOffTimeoutSeconds: get('qemu.powerOffTimeoutSeconds'),
      rebootTimeoutSeconds: get('qemu.rebootTimeoutSeconds'),
    },
    image: { directory: get('image.directory') },
    guest: { imageDir: get('guest.imageDir') },
    api: {
      ec2Listen: get('api.ec2Listen'),
      computeListen: get('api.computeListen'),
      identityListen: get('api.identityListen'),
      imageListen: get('api.imageListen'),
      volumeListen: get('api.volumeListen'),
      networkListen: get('api.networkListen'),
      dashboardListen: get('api.dashboardListen'),
      statusListen: get('api.statusListen'),
      idleTimeoutSeconds: get('api.idleTimeoutSeconds'),
      consoleTokenSeconds: get('api.consoleTokenSeconds'),
      tls: tlsFiles(get('api.tlsCertFile'), get('api.tlsKeyFile'), get('api.tlsCaFile')),
      tlsReloadSeconds: get('api.tlsReloadSeconds'),
    },
    identity: {
      tokenLifetimeSeconds: get('identity.tokenLifetimeSeconds'),
      ldap: ldapConfig(get),
      securityCompliance: securityCompliance(get),
    },
    service: {
      heartbeatSeconds: get('service.heartbeatSeconds'),
      downAfterSeconds: get('service.downAfterSeconds'),
    },
    compute: {
      availabilityZone: get('compute.availabilityZone'),
      terminatedVisibleSeconds: get('compute.terminatedVisibleSeconds'),
      powerSyncSeconds: get('compute.powerSyncSeconds'),
      reconcileIntervalSeconds: get('compute.reconcileIntervalSeconds'),
      inFlightDeadlineSeconds: get('compute.inFlightDeadlineSeconds'),
      guestNetworkDeadlineSeconds: get('compute.guestNetworkDeadlineSeconds'),
      serialAddress: get('compute.serialAddress'),
      serialPort: get('compute.serialPort'),
    },
    scheduler: {
      cpuAllocationRatio: get('scheduler.cpuAllocationRatio'),
      ramAllocationRatio: get('scheduler.ramAllocationRatio'),
      diskAllocationRatio: get('scheduler.diskAllocationRatio'),
      weigher: get('scheduler.weigher'),
    },
    volume: {
      nbdAddress: get('volume.nbdAddress'),
      nbdNamespace: get('volume.nbdNamespace'),
      nbdPort: get('volume.nbdPort'),
    },
    network: {
      fixedRange: get('network.fixedRange'),
      floatingRange: get('network.floatingRange'),
      leaseSeconds: get('network.leaseSeconds'),
      projectVniMin: get('network.projectVniMin'),
      projectVniMax: get('network.projectVniMax'),
      projectMtu: get('network.projectMtu'),
    },
    dataPlane: {
      mode: get('dataPlane.mode'),
      namespace: get('dataPlane.namespace') || `stratus-${get('host')}`.slice(0, 48),
      flatInterface: get<string>('dataPlane.flatInterface') || undefined,
      publicInterface: get<string>('dataPlane.publicInterface') || undefined,
      publicAddress: get<string>('dataPlane.publicAddress') || undefined,
      underlayInterface: get<string>('dataPlane.underlayInterface') || undefined,
      underlayAddress: get<string>('dataPlane.underlayAddress') || undefined,
      networkHost: get<boolean>('dataPlane.networkHost'),
      routerInterface: get<string>('dataPlane.routerInterface') || undefined,
    },
    quota: {
      instances: get('quota.instances'),
      cores: get('quota.cores'),
      ramMb: get('quota.ramMb'),
      addresses: get('quota.addresses'),
      securityGroups: get('quota.securityGroups'),
      securityGroupRules: get('quota.securityGroupRules'),
      keypairs: get('quota.keypairs'),
      serverGroups: get('quota.serverGroups'),
      serverGroupMembers: get('quota.serverGroupMembers'),
      volumes: get('quota.volumes'),
      gigabytes: get('quota.gigabytes'),
      snapshots: get('quota.snapshots'),
    },
    log: { level: get('log.level'), file: logFile === '-' ? null : logFile },
  };
  if (!/^(in-process|amqps?:\/\/.+)$/.test(config.transport)) {
    throw new StratusError(
      'invalid',
      `Invalid value for transport: '${config.transport}' is neither 'in-process' nor an amqp:// URL.`,
      { resource: 'config', id: 'transport' },
    );
  }
  for (const [key, value] of [
    ['network.fixedRange', config.network.fixedRange],
    ['network.floatingRange', config.network.floatingRange],
  ] as const) {
    if (!parseCidr(value, 16)) {
      throw new StratusError(
        'invalid',
        `Invalid value for ${key}: '${value}' is not an IPv4 network A.B.C.D/N with N from 16 to 30.`,
        { resource: 'config', id: key },
      );
    }
  }
  if (config.network.projectVniMin > config.network.projectVniMax) {
    throw new StratusError(
      'invalid',
      `Invalid value for network.projectVniMax: ${config.network.projectVniMax} is below network.projectVniMin (${config.network.projectVniMin}).`,
      { resource: 'config', id: 'network.projectVniMax' },
    );
  }
  checkDataPlaneInterfaces(config.dataPlane);
  // A launch whose api process is alive may wait this long for the scheduler; taking it over
  // sooner would place it twice.
  if (config.compute.inFlightDeadlineSeconds * 1000 <= config.bus.callTimeoutMs) {
    throw new StratusError(
      'invalid',
      `Invalid value for compute.inFlightDeadlineSeconds: ${config.compute.inFlightDeadlineSeconds} s must exceed the bus call timeout (${config.bus.callTimeoutMs} ms).`,
      { resource: 'config', id: 'compute.inFlightDeadlineSeconds' },
    );
  }
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(config.database)) {
    throw new StratusError(
      'invalid',
      `Invalid value for database: '${config.database}' is neither sqlite:PATH nor a postgres:// URL.`,
      { resource: 'config', id: 'database' },
    );
  }
  return deepFreeze(config);
}

/** Certificate and key come together; a CA bundle only with them. Paths are made absolute. */
function tlsFiles(cert: string, key: string, ca: string): TlsFiles | undefined {
  const fail = (id: string, message: string): never => {
    throw new StratusError('invalid', message, { resource: 'config', id });
  };
  if (cert && !key)
    fail('api.tlsKeyFile', `--tls-cert-file ${cert} needs --tls-key-file: its private key.`);
  if (key && !cert)
    fail(
      'api.tlsCertFile',
      `--tls-key-file ${key} needs --tls-cert-file: the certificate it signs for.`,
    );
  if (ca && !cert)
    fail(
      'api.tlsCertFile',
      `--tls-ca-file ${ca} needs --tls-cert-file and --tls-key-file: without them the APIs serve plain HTTP.`,
    );
  if (!cert) return undefined;
  return {
    certFile: path.resolve(cert),
    keyFile: path.resolve(key),
    caFile: ca ? path.resolve(ca) : undefined,
  };
}

/** The `[identity.ldap]` options, checked; undefined when no URL is set. */
function ldapConfig(get: <T>(key: string) => T): LdapConfig | undefined {
  const s = (key: string) => get<string>(`identity.ldap.${key}`);
  const url = s('url');
  if (!url) return undefined;
  const fail = (key: string, message: string): never => {
    throw new StratusError('invalid', `Invalid value for identity.ldap.${key}: ${message}`, {
      resource: 'config',
      id: `identity.ldap.${key}`,
    });
  };
  if (!/^ldaps?:\/\/[^/\s]+\/?$/.test(url))
    fail('url', `'${url}' is not ldap://HOST[:PORT] or ldaps://HOST[:PORT].`);
  const startTls = get<boolean>('identity.ldap.startTls');
  if (startTls && url.startsWith('ldaps:'))
    fail('startTls', 'StartTLS is for ldap:// URLs; an ldaps:// connection is TLS already.');
  if (!s('userTree')) fail('userTree', 'an LDAP domain needs the base DN of its users.');
  const domain = s('domain');
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(domain) || domain === 'default')
    fail(
      'domain',
      `'${domain}' is not a domain name other than 'default' (lowercase letters, digits, '_', '-').`,
    );
  const caFile = s('caFile');
  return {
    url,
    startTls,
    caFile: caFile ? path.resolve(caFile) : undefined,
    bindDn: s('bindDn') || undefined,
    bindPassword: s('bindPassword') || undefined,
    userTree: s('userTree'),
    userObjectClass: s('userObjectClass'),
    userIdAttribute: s('userIdAttribute'),
    userNameAttribute: s('userNameAttribute'),
    userMailAttribute: s('userMailAttribute'),
    userEnabledAttribute: s('userEnabledAttribute') || undefined,
    userEnabledMask: get<number>('identity.ldap.userEnabledMask'),
    userEnabledInvert: get<boolean>('identity.ldap.userEnabledInvert'),
    groupTree: s('groupTree'),
    groupObjectClass: s('groupObjectClass'),
    groupIdAttribute: s('groupIdAttribute'),
    groupNameAttribute: s('groupNameAttribute'),
    groupMemberAttribute: s('groupMemberAttribute'),
    domain,
    groupRoles: parseGroupRoles(s('groupRoles'), 'identity.ldap.groupRoles'),
    timeoutMs: get<number>('identity.ldap.timeoutSeconds') * 1000,
  };
}

/** The `[identity.securityCompliance]` options; a regex that does not compile is refused. */
function securityCompliance(get: <T>(key: string) => T): SecurityComplianceOptions {
  const g = <T>(key: string) => get<T>(`identity.securityCompliance.${key}`);
  const regex = g<string>('passwordRegex') || undefined;
  if (regex !== undefined) {
    try {
      new RegExp(regex);
    } catch (err) {
      throw new StratusError(
        'invalid',
        `Invalid value for identity.securityCompliance.passwordRegex: ${(err as Error).message}`,
        { resource: 'config', id: 'identity.securityCompliance.passwordRegex', cause: err },
      );
    }
  }
  return {
    lockoutFailureAttempts: g('lockoutFailureAttempts'),
    lockoutDuration: g('lockoutDuration'),
    passwordExpiresDays: g('passwordExpiresDays'),
    uniqueLastPasswordCount: g('uniqueLastPasswordCount'),
    passwordRegex: regex,
    passwordRegexDescription: g<string>('passwordRegexDescription') || undefined,
    minimumPasswordAge: g('minimumPasswordAge'),
  };
}

/** Linux interface names: at most 15 characters, no '/' or spaces. */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function checkDataPlaneInterfaces(d: Config['dataPlane']): void {
  const fail = (key: string, message: string): never => {
    throw new StratusError('invalid', message, { resource: 'config', id: key });
  };
  for (const [key, value] of [
    ['dataPlane.flatInterface', d.flatInterface],
    ['dataPlane.publicInterface', d.publicInterface],
    ['dataPlane.underlayInterface', d.underlayInterface],
    ['dataPlane.routerInterface', d.routerInterface],
  ] as const) {
    if (value !== undefined && !IFNAME.test(value))
      fail(key, `Invalid value for ${key}: '${value}' is not an interface name.`);
  }
  if (d.flatInterface !== undefined && d.flatInterface === d.publicInterface) {
    fail(
      'dataPlane.publicInterface',
      `Invalid value for dataPlane.publicInterface: '${d.publicInterface}' is also the flat interface; the public segment needs an interface of its own.`,
    );
  }
  if (d.publicAddress !== undefined) {
    const [addr, bits] = d.publicAddress.split('/');
    const prefix = Number(bits);
    if (
      addr === undefined ||
      parseIpv4(addr) === undefined ||
      !/^\d{1,2}$/.test(bits ?? '') ||
      prefix < 8 ||
      prefix > 30
    ) {
      fail(
        'dataPlane.publicAddress',
        `Invalid value for dataPlane.publicAddress: '${d.publicAddress}' is not an address with its prefix, A.B.C.D/N with N from 8 to 30.`,
      );
    }
  }
  if (d.publicInterface !== undefined && d.publicAddress === undefined) {
    fail(
      'dataPlane.publicAddress',
      `--public-interface ${d.publicInterface} needs --public-address: this host's own address on the public segment (e.g. 172.24.4.11/24).`,
    );
  }
  if (d.underlayAddress !== undefined && !/^\d+\.\d+\.\d+\.\d+\/\d{1,2}$/.test(d.underlayAddress)) {
    fail(
      'dataPlane.underlayAddress',
      `Invalid value for dataPlane.underlayAddress: '${d.underlayAddress}' is not an address with its prefix, A.B.C.D/N.`,
    );
  }
  if (d.underlayAddress !== undefined) {
    const [addr = '', bits = ''] = d.underlayAddress.split('/');
    if (parseIpv4(addr) === undefined || Number(bits) < 8 || Number(bits) > 30) {
      fail(
        'dataPlane.underlayAddress',
        `Invalid value for dataPlane.underlayAddress: '${d.underlayAddress}' is not an address with its prefix, A.B.C.D/N with N from 8 to 30.`,
      );
    }
  }
  if ((d.underlayInterface === undefined) !== (d.underlayAddress === undefined)) {
    fail(
      d.underlayInterface === undefined
        ? 'dataPlane.underlayInterface'
        : 'dataPlane.underlayAddress',
      "--underlay-interface and --underlay-address go together: the interface on the underlay and this host's address on it (e.g. 10.99.0.11/24).",
    );
  }
  if ((d.networkHost || d.routerInterface !== undefined) && d.underlayInterface === undefined) {
    fail(
      'dataPlane.underlayInterface',
      '--network-host and --router-interface need --underlay-interface: project networks reach other hosts over the underlay.',
    );
  }
  if (d.routerInterface !== undefined && !d.networkHost) {
    fail(
      'dataPlane.routerInterface',
      '--router-interface is for the network host (--network-host), which carries the routers.',
    );
  }
  if (d.publicAddress !== undefined && d.publicInterface === undefined) {
    fail(
      'dataPlane.publicInterface',
      `--public-address ${d.publicAddress} needs --public-interface: the interface on the public segment it goes on.`,
    );
  }
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}
