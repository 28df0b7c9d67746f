// Test support: what a test needs from the machine (root, namespaces, QEMU, the guest image,
// clients, back-end servers), asked for by name. Without it the test is skipped with a reason
// naming the capability; when STRATUS_REQUIRE names it, the test fails instead, saying what is
// missing and how to get it. Every skip in the suite goes through here.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { dataPlaneUnavailable } from '../../src/network/dataplane/index.js';

import { GUEST, GUEST_DIR } from './guest.js';

/** The PostgreSQL server the database tests make their databases on. */
export const POSTGRES_ADMIN_URL =
  process.env.STRATUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Where PostgreSQL 15's server programs are (Debian's postgresql-15). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
/** Where RabbitMQ's own scripts are (Debian's rabbitmq-server, without its su wrapper). */
export const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
/** The RabbitMQ server the bus tests use. */
export const AMQP_URL = process.env.STRATUS_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

interface CapabilityCheck {
  /** What the capability is, for the summary. */
  what: string;
  /** Why it is missing here (a sentence), or undefined when it is present. */
  probe(): string | undefined;
  /** How to get it. */
  remedy: string;
}

function missingFile(file: string): string | undefined {
  return fs.existsSync(file) ? undefined : `${file} is not installed.`;
}

function missingFiles(files: readonly string[], what: string): string | undefined {
  const absent = files.filter((f) => !fs.existsSync(f));
  return absent.length === 0 ? undefined : `${what}: no ${absent.join(', ')}.`;
}

/** Whether something accepts TCP connections at `url`'s host and port, within 2 s. */
function missingServer(url: string, defaultPort: number, name: string): string | undefined {
  const u = new URL(url);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port) || defaultPort;
  const script =
    'const s=require("net").connect(+process.argv[2],process.argv[1]);' +
    's.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1));' +
    'setTimeout(()=>process.exit(1),2000);';
  const r = spawnSync(process.execPath, ['-e', script, host, String(port)], { timeout: 5000 });
  return r.status === 0 ? undefined : `nothing accepts connections for ${name} on ${host}:${port}.`;
}

const CHECKS = {
  root: {
    what: 'running as root',
    probe: () => (process.getuid?.() === 0 ? undefined : 'the tests do not run as root.'),
    remedy: 'run the tests as root (CI runs them as root)',
  },
  netns: {
    what: 'network namespaces with the data plane tools (root, ip, nft, dnsmasq, dhcp_release)',
    probe: () => dataPlaneUnavailable(),
    remedy: 'run as root; scripts/setup installs iproute2, nftables, dnsmasq-base, dnsmasq-utils',
  },
  busybox: {
    what: "busybox, which the namespace guests' DHCP client and servers are",
    probe: () =>
      ['/usr/bin/busybox', '/bin/busybox'].some((f) => fs.existsSync(f))
        ? undefined
        : 'busybox is not installed.',
    remedy: 'apt-get install busybox-static (scripts/setup installs it)',
  },
  arping: {
    what: 'arping (iputils), with which a host announces a floating IP on the public segment',
    probe: () =>
      ['/usr/sbin/arping', '/usr/bin/arping'].some((f) => fs.existsSync(f))
        ? undefined
        : 'arping is not installed.',
    remedy: 'apt-get install iputils-arping (scripts/setup installs it)',
  },
  qemu: {
    what: 'QEMU (qemu-system-x86_64)',
    probe: () => missingFile('/usr/bin/qemu-system-x86_64'),
    remedy: 'apt-get install qemu-system-x86 (scripts/setup installs it)',
  },
  'qemu-storage-daemon': {
    what: 'qemu-storage-daemon, which exports attached volumes over NBD',
    probe: () => missingFile('/usr/bin/qemu-storage-daemon'),
    remedy: 'apt-get install qemu-system-common (scripts/setup installs it with qemu)',
  },
  'qemu-img': {
    what: 'qemu-img, with which the image store checks every file it imports',
    probe: () => {
      try {
        execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
        return undefined;
      } catch {
        return 'qemu-img does not run.';
      }
    },
    remedy: 'apt-get install qemu-utils (scripts/setup installs it)',
  },
  'guest-image': {
    what: `the built guest image in ${GUEST_DIR}`,
    probe: () => missingFiles(Object.values(GUEST), 'the guest image is not built'),
    remedy: 'run guest/build.sh as root (scripts/setup runs it)',
  },
  'guest-ext4': {
    what: 'a guest image that makes and mounts ext4 on a hot-plugged disk (stratus-guest 0.2+)',
    probe: () => {
      let version: string;
      try {
        version = fs.readFileSync(path.join(GUEST_DIR, 'VERSION'), 'utf8');
      } catch {
        return `the guest image is not built in ${GUEST_DIR}.`;
      }
      const m = /^stratus-guest (\d+)\.(\d+)/.exec(version);
      const [major, minor] = [Number(m?.[1] ?? 0), Number(m?.[2] ?? 0)];
      return major > 0 || minor >= 2
        ? undefined
        : `the guest image in ${GUEST_DIR} is older than 0.2 (${version.trim()}): no mkfs.ext4.`;
    },
    remedy: 'run guest/build.sh as root again (its stamp changed, so it rebuilds)',
  },
  ssh: {
    what: "OpenSSH's client (ssh, ssh-keygen, ssh-keyscan)",
    probe: () =>
      missingFiles(
        ['/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/ssh-keyscan'],
        'the OpenSSH client is not installed',
      ),
    remedy: 'apt-get install openssh-client (scripts/setup installs it)',
  },
  openssl: {
    what: 'the openssl command',
    probe: () => missingFile('/usr/bin/openssl'),
    remedy: 'apt-get install openssl',
  },
  awscli: {
    what: "Debian's AWS CLI (/usr/bin/aws)",
    probe: () => missingFile('/usr/bin/aws'),
    remedy: 'apt-get install awscli (scripts/test-services installs it)',
  },
  openstackclient: {
    what: "Debian's openstackclient (/usr/bin/openstack)",
    probe: () => missingFile('/usr/bin/openstack'),
    remedy: 'apt-get install python3-openstackclient (scripts/test-services installs it)',
  },
  boto3: {
    what: "Debian's boto3 for the system Python (/usr/bin/python3 -c 'import boto3')",
    probe: () =>
      spawnSync('/usr/bin/python3', ['-c', 'import boto3'], { stdio: 'ignore', timeout: 20_000 })
        .status === 0
        ? undefined
        : 'the system Python cannot import boto3.',
    remedy: 'apt-get install python3-boto3 (scripts/setup installs it)',
  },
  postgres: {
    what: `PostgreSQL at ${new URL(POSTGRES_ADMIN_URL).host} (STRATUS_TEST_POSTGRES_URL)`,
    probe: () => missingServer(POSTGRES_ADMIN_URL, 5432, 'PostgreSQL'),
    remedy:
      'scripts/test-services installs and starts PostgreSQL on 127.0.0.1:5432 with trust auth, ' +
      'or set STRATUS_TEST_POSTGRES_URL',
  },
  'postgres-server': {
    what: "PostgreSQL 15's server programs, to run a private server a test may stop",
    probe: () => missingFile(`${POSTGRES_BIN}/pg_ctl`),
    remedy: 'apt-get install postgresql-15',
  },
  rabbitmq: {
    what: `RabbitMQ at ${new URL(AMQP_URL).host} (STRATUS_TEST_AMQP_URL)`,
    probe: () => missingServer(AMQP_URL, 5672, 'RabbitMQ'),
    remedy:
      'scripts/test-services installs and starts RabbitMQ on 127.0.0.1:5672 (guest/guest), ' +
      'or set STRATUS_TEST_AMQP_URL',
  },
  'rabbitmq-server': {
    what: "RabbitMQ's server programs, to run a private node a test may stop and restart",
    probe: () =>
      missingFiles(
        [`${RABBITMQ_BIN}/rabbitmq-server`, `${RABBITMQ_BIN}/rabbitmqctl`],
        'RabbitMQ is not installed',
      ),
    remedy: 'apt-get install rabbitmq-server (scripts/test-services installs it)',
  },
  chromium: {
    what: "Debian's Chromium (/usr/bin/chromium), which the dashboard tests drive with Playwright",
    probe: () => missingFile('/usr/bin/chromium'),
    remedy: 'apt-get install chromium (scripts/setup installs it)',
  },
  slapd: {
    what: "OpenLDAP's server and tools (slapd, ldapadd), to run a private directory",
    probe: () => missingFiles(['/usr/sbin/slapd', '/usr/bin/ldapadd'], 'OpenLDAP is not installed'),
    remedy: 'apt-get install slapd ldap-utils (scripts/setup installs them)',
  },
} as const satisfies Record<string, CapabilityCheck>;

/** A capability a test may need from the machine. */
export type Capability = keyof typeof CHECKS;

/** Every capability, in the order the summary lists them. */
export const CAPABILITIES = Object.keys(CHECKS) as readonly Capability[];

function isCapability(name: string): name is Capability {
  return Object.hasOwn(CHECKS, name);
}

/** The capabilities an environment variable names (comma-separated); refuses unknown names. */
export function capabilityList(variable: string, value = process.env[variable]): Capability[] {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !isCapability(n));
  if (unknown.length > 0) {
    throw new Error(
      `${variable} names unknown capabilities: ${unknown.join(', ')}. Known: ${CAPABILITIES.join(', ')}.`,
    );
  }
  return names as Capability[];
}

/**
 * STRATUS_REQUIRE: capabilities whose absence fails the tests that need them (CI sets every
 * capability its machine has). STRATUS_WITHOUT: capabilities to treat as missing even where
 * present, to see what a run on a machine without them does.
 */
const REQUIRED = new Set(capabilityList('STRATUS_REQUIRE'));
const WITHOUT = new Set(capabilityList('STRATUS_WITHOUT'));

const probed = new Map<Capability, string | undefined>();

/** Why `capability` is missing here (a sentence), or undefined when it is present. Cached. */
export function whyMissing(capability: Capability): string | undefined {
  if (WITHOUT.has(capability)) return 'STRATUS_WITHOUT names it.';
  if (!probed.has(capability)) probed.set(capability, CHECKS[capability].probe());
  return probed.get(capability);
}

/** Each of `capabilities` that is missing here, with why, in the order given. */
export function missingOf(
  ...capabilities: Capability[]
): { capability: Capability; reason: string }[] {
  return capabilities.flatMap((capability) => {
    const reason = whyMissing(capability);
    return reason === undefined ? [] : [{ capability, reason }];
  });
}

/**
 * A one-line reason the work needing `capabilities` cannot run here, or undefined when it can:
 * for benchmarks and scripts, which report it themselves. Tests use `needs`.
 */
export function unavailable(...capabilities: Capability[]): string | undefined {
  const [gap] = missingOf(...capabilities);
  return (
    gap && `needs ${gap.capability}: ${gap.reason} To get it: ${CHECKS[gap.capability].remedy}.`
  );
}

/**
 * Test options for a suite or test that needs `capabilities`: `{ skip: false }` when all are
 * here; otherwise `{ skip: 'needs CAPABILITY: why. To get it: how.' }` for the first missing
 * one. For each missing one that STRATUS_REQUIRE names, it also registers, beside the suite or
 * test, a test named `requires CAPABILITY` that fails saying what is missing and how to get it,
 * so the run fails instead of passing with less tested. Call it where the suite or test is
 * declared:
 *   describe('...', needs('netns', 'busybox'), () => { ... });
 *   it('...', { ...needs('awscli'), timeout: 60_000 }, async () => { ... });
 */
export function needs(...capabilities: Capability[]): { skip: string | false } {
  const missing = missingOf(...capabilities);
  const first = missing[0];
  if (!first) return { skip: false };
  const required = missing.filter((m) => REQUIRED.has(m.capability));
  if (required.length === 0) {
    const remedy = CHECKS[first.capability].remedy;
    return { skip: `needs ${first.capability}: ${first.reason} To get it: ${remedy}.` };
  }
  for (const { capability, reason } of required) {
    const message =
      `${capability} (${CHECKS[capability].what}) is required by STRATUS_REQUIRE but missing: ` +
      `${reason} To get it: ${CHECKS[capability].remedy}.`;
    test(`requires ${capability}`, () => {
      throw new Error(message);
    });
  }
  const names = required.map((m) => m.capability).join(', ');
  return { skip: `needs ${names}: required by STRATUS_REQUIRE and missing (see "requires")` };
}
