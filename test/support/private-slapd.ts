// Test support: an OpenLDAP server of the test's own (Debian's slapd with a slapd.conf, data
// dir and test CA in a temp dir, on free loopback ports for ldap:// and ldaps://), seeded with
// ldapadd. Stopped by the pid of the process the test started; nothing else is touched.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/ports.js';

export const SLAPD = '/usr/sbin/slapd';
export const LDAPADD = '/usr/bin/ldapadd';
export const LDAPMODIFY = '/usr/bin/ldapmodify';

export const SUFFIX = 'dc=example,dc=org';
export const SERVICE_DN = `cn=stratus,${SUFFIX}`;
export const SERVICE_PASSWORD = 'service-secret';
export const USER_TREE = `ou=Users,${SUFFIX}`;
export const GROUP_TREE = `ou=Groups,${SUFFIX}`;

export interface DirectoryEntryUser {
  uid: string;
  password: string;
  mail?: string;
  /** The entry's `description`, which tests use as the enabled attribute. */
  enabled?: boolean;
}

export interface PrivateSlapd {
  /** `ldap://127.0.0.1:PORT` (StartTLS offered). */
  ldapUrl: string;
  /** `ldaps://127.0.0.1:PORT`. */
  ldapsUrl: string;
  /** The test CA that signed the server's certificate (PEM file). */
  caFile: string;
  /** Another CA, which did not. */
  otherCaFile: string;
  pid: number;
  /** Applies an LDIF change record (ldapmodify, as the directory's admin). */
  modify(ldif: string): void;
  /** Stops the server (SIGTERM to the pid started, then waits for it to exit). */
  stop(): Promise<void>;
  /** Stops it if running and removes its files. */
  remove(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, and a server certificate for 127.0.0.1 and localhost that it signed. */
function makeCertificates(dir: string): void {
  for (const ca of ['ca', 'other-ca']) {
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-subj',
      `/CN=Stratus test ${ca}`,
    ]);
  }
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  ]);
}

function slapdConf(dir: string): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${dir}/server.pem
TLSCertificateKeyFile ${dir}/server.key
database mdb
maxsize 104857600
suffix "${SUFFIX}"
rootdn "cn=admin,${SUFFIX}"
rootpw admin-secret
directory ${dir}/data
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="${SERVICE_DN}" read
  by self read
  by * none
`;
}

function seedLdif(users: readonly DirectoryEntryUser[], groups: Record<string, string[]>): string {
  const out = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ${SERVICE_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: stratus\nuserPassword: ${SERVICE_PASSWORD}\n`,
    `dn: ${USER_TREE}\nobjectClass: organizationalUnit\nou: Users\n`,
    `dn: ${GROUP_TREE}\nobjectClass: organizationalUnit\nou: Groups\n`,
  ];
  for (const u of users) {
    out.push(
      [
        `dn: uid=${u.uid},${USER_TREE}`,
        'objectClass: inetOrgPerson',
        `uid: ${u.uid}`,
        `cn: ${u.uid}`,
        `sn: ${u.uid}`,
        `mail: ${u.mail ?? `${u.uid}@example.org`}`,
        `description: ${u.enabled === false ? 'FALSE' : 'TRUE'}`,
        `userPassword: ${u.password}`,
        '',
      ].join('\n'),
    );
  }
  for (const [cn, members] of Object.entries(groups)) {
    out.push(
      [
        `dn: cn=${cn},${GROUP_TREE}`,
        'objectClass: groupOfNames',
        `cn: ${cn}`,
        // groupOfNames needs a member: the service account stands in for an empty group.
        ...(members.length > 0 ? members : ['']).map((m) =>
          m === '' ? `member: ${SERVICE_DN}` : `member: uid=${m},${USER_TREE}`,
        ),
        '',
      ].join('\n'),
    );
  }
  return out.join('\n');
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`slapd exited: ${log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`slapd did not listen on ${port} within 15 s: ${log()}`);
}

/** Starts slapd with its own config, data and CA, seeded with `users` and `groups`. */
export async function startPrivateSlapd(
  users: readonly DirectoryEntryUser[],
  groups: Record<string, string[]>,
): Promise<PrivateSlapd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-slapd-'));
  fs.mkdirSync(path.join(dir, 'data'));
  makeCertificates(dir);
  fs.writeFileSync(path.join(dir, 'slapd.conf'), slapdConf(dir));
  const [port, tlsPort] = [await freePort(), await freePort()];
  const ldapUrl = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${tlsPort}`;
  const logFile = path.join(dir, 'slapd.log');
  const log = fs.openSync(logFile, 'a');
  // -d 0: stay in the foreground (a child the test can stop by its pid), logging nothing.
  const child = spawn(
    SLAPD,
    ['-d', '0', '-f', path.join(dir, 'slapd.conf'), '-h', `${ldapUrl}/ ${ldapsUrl}/`],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const readLog = () => fs.readFileSync(logFile, 'utf8').slice(-2000);
  let exited = false;
  const exitedNow = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited || child.pid === undefined) return;
    process.kill(child.pid, 'SIGTERM');
    await exitedNow;
  };
  try {
    await waitForPort(port, child, readLog);
    await waitForPort(tlsPort, child, readLog);
    fs.writeFileSync(path.join(dir, 'seed.ldif'), seedLdif(users, groups));
    execFileSync(
      LDAPADD,
      ['-x', '-H', ldapUrl, '-D', `cn=admin,${SUFFIX}`, '-w', 'admin-secret', '-f', 'seed.ldif'],
      { cwd: dir, stdio: 'pipe' },
    );
  } catch (err) {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ldapUrl,
    ldapsUrl,
    caFile: path.join(dir, 'ca.pem'),
    otherCaFile: path.join(dir, 'other-ca.pem'),
    pid: child.pid as number,
    modify(ldif: string) {
      execFileSync(
        LDAPMODIFY,
        ['-x', '-H', ldapUrl, '-D', `cn=admin,${SUFFIX}`, '-w', 'admin-secret'],
        { input: ldif, stdio: ['pipe', 'pipe', 'pipe'] },
      );
    },
    stop,
    async remove() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
