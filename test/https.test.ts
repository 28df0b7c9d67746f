// HTTPS on every API listener (issue 13): a throwaway CA and a server certificate for
// 127.0.0.1 made with openssl, a test cloud serving them, and the clients users have (the AWS
// CLI, boto3, openstackclient) given the CA through the rc file the cloud wrote. Without the
// CA they refuse the certificate; plain HTTP to a TLS port is refused at once; a bad
// certificate, key or CA file stops the start before anything opened; a certificate renewed on
// disk is served without a restart.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import { resolveEndpoint } from '../src/cli/smoke.js';
import { loadConfig } from '../src/config/index.js';
import { smokeEc2Client } from '../src/smoke/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from './support/ec2.js';
import { FREE_PORTS } from './support/ports.js';

const AWS = '/usr/bin/aws';
const OPENSTACK = '/usr/bin/openstack';
const PYTHON = '/usr/bin/python3';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (`<name>-ca.pem`) and a certificate for 127.0.0.1 and localhost it signed. */
function makeCertificates(dir: string, name: string): { ca: string; cert: string; key: string } {
  const f = (s: string) => path.join(dir, `${name}-${s}`);
  // prettier-ignore
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', `/CN=Stratus test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  // prettier-ignore
  openssl(dir, [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost',
  ]);
  fs.writeFileSync(
    f('ext.cnf'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  // prettier-ignore
  openssl(dir, [
    'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'),
  ]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** The variables an rc file exports. */
function parseRc(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) {
    out[m[1] as string] = (m[2] as string).replace(/'\\''/g, "'");
  }
  return out;
}

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs a command line in bash after sourcing the rc file, as a user would; never rejects. */
function withRc(rcFile: string, home: string, script: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      '/bin/bash',
      ['-c', `. "$RC" && ${script}`],
      {
        env: {
          PATH: '/usr/bin:/bin',
          HOME: home,
          RC: rcFile,
          AWS_PAGER: '',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_MAX_ATTEMPTS: '1',
          AWS_RETRY_MODE: 'standard',
        },
        timeout: 90_000,
      },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
          out: String(stdout),
          err: String(stderr),
        }),
    );
  });
}

/** A GET over HTTPS trusting only `ca`: the status code, or the error it failed with. */
function httpsGet(url: string, ca: Buffer): Promise<{ status?: number; error?: Error }> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ error }));
  });
}

describe('HTTPS on every API listener', needs('openssl'), () => {
  let dir: string;
  let home: string;
  let certs: { ca: string; cert: string; key: string };
  let t: TestCloud;
  let rcFile: string;
  let rc: Record<string, string>;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-https-'));
    home = path.join(dir, 'home');
    fs.mkdirSync(home);
    certs = makeCertificates(dir, 'one');
    // The files the cloud serves, which the rotation test below replaces.
    fs.copyFileSync(certs.cert, path.join(dir, 'live.pem'));
    fs.copyFileSync(certs.key, path.join(dir, 'live.key'));
    t = await startTestCloud({
      'tls-cert-file': path.join(dir, 'live.pem'),
      'tls-key-file': path.join(dir, 'live.key'),
      'tls-ca-file': certs.ca,
      'tls-reload-seconds': '0.2',
    });
    rcFile = t.cloud.rcFile as string;
    rc = parseRc(fs.readFileSync(rcFile, 'utf8'));
  });
  after(async () => {
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves every API over HTTPS, and the rc file and the catalog say https and name the CA', async () => {
    const urls = t.cloud.urls;
    assert.ok(urls);
    const ca = fs.readFileSync(certs.ca);
    for (const [name, url] of Object.entries(urls)) {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+/, name);
      const r = await httpsGet(name === 'status' ? `${url}/healthz` : url, ca);
      assert.equal(r.error, undefined, `${name}: ${r.error?.message}`);
      assert.ok(r.status && r.status < 500, `${name} answered ${r.status}`);
    }
    assert.equal(rc.EC2_URL, urls.ec2);
    assert.equal(rc.AWS_ENDPOINT_URL_EC2, urls.ec2);
    assert.equal(rc.OS_AUTH_URL, urls.identity);
    assert.equal(rc.AWS_CA_BUNDLE, certs.ca);
    assert.equal(rc.OS_CACERT, certs.ca);

    const catalog = await withRc(rcFile, home, `${OPENSTACK} catalog list -f json`);
    assert.equal(catalog.code, 0, catalog.err);
    const entries = JSON.parse(catalog.out) as { Type: string; Endpoints: { url: string }[] }[];
    assert.deepEqual(entries.map((e) => e.Type).sort(), [
      'block-storage',
      'compute',
      'dashboard',
      'ec2',
      'identity',
      'image',
      'network',
      'volumev3',
    ]);
    for (const e of entries) {
      for (const ep of e.Endpoints) assert.match(ep.url, /^https:\/\/127\.0\.0\.1:/, e.Type);
    }
  });

  it(
    'the AWS CLI works with the CA from the rc file, and refuses the certificate without it',
    needs('awscli'),
    async () => {
      const regions = await withRc(
        rcFile,
        home,
        `${AWS} ec2 --endpoint-url "$EC2_URL" --output json describe-regions`,
      );
      assert.equal(regions.code, 0, regions.err);
      assert.deepEqual(
        (JSON.parse(regions.out) as { Regions: { RegionName: string }[] }).Regions.map(
          (r) => r.RegionName,
        ),
        [t.region],
      );
      const instances = await withRc(
        rcFile,
        home,
        `${AWS} ec2 --endpoint-url "$EC2_URL" --ca-bundle "$AWS_CA_BUNDLE" --output json describe-instances`,
      );
      assert.equal(instances.code, 0, instances.err);
      assert.deepEqual(JSON.parse(instances.out), { Reservations: [] });

      const untrusted = await withRc(
        rcFile,
        home,
        `unset AWS_CA_BUNDLE && ${AWS} ec2 --endpoint-url "$EC2_URL" describe-regions`,
      );
      assert.notEqual(untrusted.code, 0);
      assert.match(untrusted.err, /SSL|certificate verify failed/i);
    },
  );

  it(
    'boto3 works with verify= the CA, and refuses the certificate without it',
    needs('boto3'),
    async () => {
      const script = [
        'import json, os, sys, boto3, botocore.config',
        'c = boto3.client("ec2", endpoint_url=os.environ["EC2_URL"], region_name=os.environ["AWS_DEFAULT_REGION"],',
        '    verify=sys.argv[1] if sys.argv[1] else None,',
        '    config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))',
        'try:',
        '    r = c.describe_regions()',
        '    n = c.describe_instances()',
        '    print(json.dumps({"regions": [x["RegionName"] for x in r["Regions"]], "reservations": n["Reservations"]}))',
        'except Exception as e:',
        '    print(type(e).__name__ + ": " + str(e), file=sys.stderr)',
        '    sys.exit(3)',
      ].join('\n');
      fs.writeFileSync(path.join(dir, 'ec2.py'), script);
      const py = path.join(dir, 'ec2.py');
      const trusted = await withRc(
        rcFile,
        home,
        `unset AWS_CA_BUNDLE && ${PYTHON} ${py} "${certs.ca}"`,
      );
      assert.equal(trusted.code, 0, trusted.err);
      assert.deepEqual(JSON.parse(trusted.out), { regions: [t.region], reservations: [] });
      const untrusted = await withRc(rcFile, home, `unset AWS_CA_BUNDLE && ${PYTHON} ${py} ""`);
      assert.equal(untrusted.code, 3, untrusted.err);
      assert.match(untrusted.err, /SSLError|certificate verify failed/i);
    },
  );

  it(
    'openstackclient works with OS_CACERT from the rc file, and refuses the certificate without it',
    needs('openstackclient'),
    async () => {
      const token = await withRc(rcFile, home, `${OPENSTACK} token issue -f json`);
      assert.equal(token.code, 0, token.err);
      assert.equal(
        (JSON.parse(token.out) as { project_id: string }).project_id,
        t.cloud.admin?.project.id,
      );
      // Through the catalog's https Compute endpoint.
      const servers = await withRc(rcFile, home, `${OPENSTACK} server list -f json`);
      assert.equal(servers.code, 0, servers.err);
      assert.deepEqual(JSON.parse(servers.out), []);
      const untrusted = await withRc(
        rcFile,
        home,
        `unset OS_CACERT && ${OPENSTACK} token issue -f json`,
      );
      assert.notEqual(untrusted.code, 0);
      assert.match(untrusted.err, /SSL|certificate verify failed/i);
    },
  );

  it('stratus smoke takes the CA from the rc file (AWS_CA_BUNDLE) for the SDK for JavaScript', async () => {
    const endpoint = resolveEndpoint({ rc: rcFile }, {});
    assert.equal(endpoint.url, t.endpoint);
    assert.equal(endpoint.caFile, certs.ca);
    const trusted = smokeEc2Client(endpoint);
    const untrusted = smokeEc2Client({ ...endpoint, caFile: undefined });
    try {
      const r = await trusted.send(new DescribeRegionsCommand({}));
      assert.deepEqual(
        r.Regions?.map((x) => x.RegionName),
        [t.region],
      );
      await assert.rejects(untrusted.send(new DescribeRegionsCommand({})), /certificate/i);
    } finally {
      trusted.destroy();
      untrusted.destroy();
    }
  });

  it('refuses plain HTTP on a TLS port at once, without hanging', async () => {
    const status = t.cloud.urls?.status as string;
    const plain = status.replace(/^https:/, 'http:');
    const started = Date.now();
    await assert.rejects(
      fetch(`${plain}/healthz`, { signal: AbortSignal.timeout(10_000) }),
      (err: Error) => err.name !== 'TimeoutError' && err.name !== 'AbortError',
    );
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  it('serves a certificate renewed on disk to new connections, and keeps the old one over a bad file', async () => {
    const two = makeCertificates(dir, 'two');
    const ec2 = t.cloud.urls?.ec2 as string;
    const caOne = fs.readFileSync(certs.ca);
    const caTwo = fs.readFileSync(two.ca);
    // A broken key first: logged and ignored, the old pair still served.
    fs.writeFileSync(path.join(dir, 'live.key.tmp'), 'not a key\n');
    fs.renameSync(path.join(dir, 'live.key.tmp'), path.join(dir, 'live.key'));
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await httpsGet(ec2, caOne)).error, undefined);
    // Then the new pair, each file replaced by a rename as renewal tools do.
    for (const [from, to] of [
      [two.key, 'live.key'],
      [two.cert, 'live.pem'],
    ] as const) {
      fs.copyFileSync(from, path.join(dir, `${to}.tmp`));
      fs.renameSync(path.join(dir, `${to}.tmp`), path.join(dir, to));
    }
    await waitUntil(async () => (await httpsGet(ec2, caTwo)).status, 10_000, 'the new certificate');
    const old = await httpsGet(ec2, caOne);
    assert.match(String(old.error?.message), /certificate/i);
  });
});

describe('HTTPS options that cannot work stop the start', needs('openssl'), () => {
  let dir: string;
  let certs: { ca: string; cert: string; key: string };
  let other: { ca: string; cert: string; key: string };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-https-bad-'));
    certs = makeCertificates(dir, 'one');
    other = makeCertificates(dir, 'two');
    fs.writeFileSync(path.join(dir, 'garbage.pem'), 'this is not PEM\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const config = (flags: Record<string, string>, stateDir = path.join(dir, 'state')) =>
    loadConfig({
      env: {},
      flags: { 'state-dir': stateDir, ...FREE_PORTS, 'log-level': 'warn', ...flags },
    });

  it('a certificate without its key, a key without its certificate, a CA alone', () => {
    assert.throws(() => config({ 'tls-cert-file': certs.cert }), /needs --tls-key-file/);
    assert.throws(() => config({ 'tls-key-file': certs.key }), /needs --tls-cert-file/);
    assert.throws(() => config({ 'tls-ca-file': certs.ca }), /needs --tls-cert-file/);
    const c = config({ 'tls-cert-file': certs.cert, 'tls-key-file': certs.key });
    assert.deepEqual(c.api.tls, { certFile: certs.cert, keyFile: certs.key, caFile: undefined });
    assert.equal(config({}).api.tls, undefined);
  });

  for (const [what, flags, message] of [
    [
      'a missing certificate file',
      () => ({ 'tls-cert-file': path.join(dir, 'nope.pem'), 'tls-key-file': certs.key }),
      () => new RegExp(`Cannot read the TLS certificate file '${path.join(dir, 'nope.pem')}'`),
    ],
    [
      'a certificate file that is not PEM',
      () => ({ 'tls-cert-file': path.join(dir, 'garbage.pem'), 'tls-key-file': certs.key }),
      () => new RegExp(`'${path.join(dir, 'garbage.pem')}' holds no PEM certificate`),
    ],
    [
      'a key file that is not PEM',
      () => ({ 'tls-cert-file': certs.cert, 'tls-key-file': path.join(dir, 'garbage.pem') }),
      () => new RegExp(`TLS key file '${path.join(dir, 'garbage.pem')}' is not a usable PEM`),
    ],
    [
      'the key of another certificate',
      () => ({ 'tls-cert-file': certs.cert, 'tls-key-file': other.key }),
      () => new RegExp(`'${other.key}' does not hold the private key of the certificate`),
    ],
    [
      'a CA file that is not PEM',
      () => ({
        'tls-cert-file': certs.cert,
        'tls-key-file': certs.key,
        'tls-ca-file': path.join(dir, 'garbage.pem'),
      }),
      () => new RegExp(`TLS CA file '${path.join(dir, 'garbage.pem')}' holds no PEM`),
    ],
  ] as const) {
    it(`${what}: a clear error naming the file, and nothing started`, async () => {
      const stateDir = path.join(dir, `state-${what.replace(/\W+/g, '-')}`);
      await assert.rejects(
        startCloud(config(flags(), stateDir), ['network', 'scheduler', 'compute', 'api'], {
          bootstrap: true,
          logger: silentLogger(),
        }),
        message(),
      );
      // Not even the state directory (and so no database) was made.
      assert.equal(fs.existsSync(stateDir), false);
    });
  }
});
