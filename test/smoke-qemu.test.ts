// The seed's scenario end to end, as CI runs it: the all-in-one with real QEMU guests on its
// namespace data plane, and `stratus smoke` against it once; three at once with two instances
// each and Elastic IPs, each from its own client namespace; twenty in a row; the same scenario
// through the AWS CLI; and a guest whose init fails, which must fail the smoke test with its
// console shown and nothing left behind. All traffic stays inside namespaces made here.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needs } from './support/capabilities.js';
import { readRcFile, startStratus, stratus, type RunningStratus } from './support/cli.js';
import { GUEST } from './support/guest.js';
import { FREE_PORT_ARGS } from './support/ports.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image', 'netns', 'awscli');
const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

/** Seconds each scenario took, from the `[name] PASSED in N s` lines. */
function summary(out: string): string[] {
  return out.split('\n').filter((l) => /PASSED|FAILED|passed, \d+ failed/.test(l));
}

/** Shows figures in the test report, under a title. */
function show(t: TestContext, title: string, lines: string[]): void {
  t.diagnostic(title);
  for (const l of lines) t.diagnostic(`  ${l}`);
}

describe('stratus smoke against the all-in-one with real guests', NEEDS, () => {
  const tag = randomBytes(3).toString('hex');
  const netns = `st-smk-${tag}`;
  const clients = [1, 2, 3].map((i) => `st-smk-${tag}-c${i}`);
  let dir: string;
  let cloud: RunningStratus;
  let rc: Record<string, string>;
  /** Only what the rc file says: a new user's environment after `. stratusrc`. */
  let userEnv: NodeJS.ProcessEnv;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-smoke-qemu-'));
    cloud = startStratus([
      'all-in-one',
      '--state-dir',
      dir,
      '--virt',
      'qemu',
      '--data-plane',
      'namespace',
      '--data-plane-namespace',
      netns,
      ...FREE_PORT_ARGS,
      '--quota-instances',
      '20',
      '--quota-addresses',
      '10',
    ]);
    await cloud.waitFor(/Press Ctrl-C to stop/, 60_000);
    rc = readRcFile(path.join(dir, 'stratusrc'));
    userEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...rc };
    for (const c of clients) execFileSync(path.join(SCRIPTS, 'client-netns'), ['add', c, netns]);
  });

  after(async () => {
    for (const c of clients) {
      execFileSync(path.join(SCRIPTS, 'client-netns'), ['del', c, netns], { stdio: 'ignore' });
    }
    await cloud?.stop('SIGTERM');
    // The data plane outlives the process by design (guests keep their network): remove it.
    const r = await stratus([
      'manage',
      '--state-dir',
      dir,
      'network',
      'teardown',
      '--data-plane-namespace',
      netns,
    ]);
    assert.equal(r.code, 0, r.stderr);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('1. passes once with nothing but the rc file', async (t) => {
    assert.equal(rc.STRATUS_GUEST_NETNS, netns);
    const r = await run(
      process.execPath,
      [path.join(SCRIPTS, '../bin/stratus.js'), 'smoke', '--instance-type', 'm1.nano'],
      userEnv,
    );
    show(t, 'smoke x1', summary(r.out));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\[smoke-1\] ssh +\d+\.\d\d s {2}ok {2}Linux ip-10-20-/);
    assert.match(r.out, /\n1 passed, 0 failed\n$/);
  });

  it('2. passes three at once, two instances each, at Elastic IPs from three client namespaces', async (t) => {
    const r = await run(
      process.execPath,
      [
        path.join(SCRIPTS, '../bin/stratus.js'),
        'smoke',
        '--instance-type',
        'm1.nano',
        '--parallel',
        '3',
        '--instances',
        '2',
        '--floating-ip',
        '--netns',
        clients.join(','),
      ],
      userEnv,
    );
    show(t, 'smoke --parallel 3 --instances 2 --floating-ip', summary(r.out));
    assert.equal(r.code, 0, r.out);
    // Each scenario reached its two guests at floating addresses, from its own namespace.
    for (const s of ['smoke-1', 'smoke-2', 'smoke-3']) {
      assert.match(
        r.out,
        new RegExp(
          `\\[${s}\\] find-address +\\d+\\.\\d\\d s {2}ok {2}172\\.24\\.4\\.\\d+ 172\\.24\\.4\\.\\d+`,
        ),
      );
    }
    assert.match(r.out, /\n3 passed, 0 failed\n$/);
  });

  it('3. passes twenty times in a row', async (t) => {
    const junit = path.join(dir, 'smoke-20.xml');
    const r = await run(
      process.execPath,
      [
        path.join(SCRIPTS, '../bin/stratus.js'),
        'smoke',
        '--instance-type',
        'm1.nano',
        '--iterations',
        '20',
        '--junit',
        junit,
      ],
      userEnv,
    );
    show(t, 'smoke --iterations 20', summary(r.out));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\n20 passed, 0 failed\n$/);
    assert.match(
      fs.readFileSync(junit, 'utf8'),
      /<testsuite name="stratus smoke" tests="20" failures="0"/,
    );
  });

  it('4. passes through the AWS CLI', async (t) => {
    const r = await run(
      path.join(SCRIPTS, 'smoke-awscli'),
      ['--instance-type', 'm1.nano'],
      userEnv,
    );
    show(
      t,
      'smoke-awscli',
      r.out.split('\n').filter((l) => l.startsWith('[awscli]')),
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\[awscli\] ssh +\d+\.\d\d s {2}ok {2}Linux ip-10-20-/);
    assert.match(r.out, /\n1 passed, 0 failed\n$/);
  });

  it('fails on a guest whose init fails, showing its console, and leaves nothing behind', async () => {
    // An initramfs whose /init reports itself and gives up: the kernel panics.
    const root = path.join(dir, 'broken-root');
    fs.mkdirSync(path.join(root, 'dev'), { recursive: true });
    fs.mkdirSync(path.join(root, 'bin'));
    execFileSync('mknod', [path.join(root, 'dev/console'), 'c', '5', '1']);
    fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
    fs.writeFileSync(
      path.join(root, 'init'),
      '#!/bin/busybox sh\necho "broken-guest: init fails on purpose"\nexit 1\n',
      { mode: 0o755 },
    );
    const initrd = path.join(dir, 'broken.img');
    execFileSync('sh', [
      '-c',
      `cd '${root}' && find . | cpio -o -H newc --quiet | gzip > '${initrd}'`,
    ]);
    const manage = (...args: string[]) => stratus(['manage', '--state-dir', dir, ...args]);
    let r = await manage(
      'image',
      'import',
      '--name',
      'broken-ramdisk',
      '--kind',
      'ramdisk',
      '--file',
      initrd,
    );
    assert.equal(r.code, 0, r.stderr);
    r = await manage(
      'image',
      'import',
      '--name',
      'broken-guest',
      '--file',
      GUEST.disk,
      '--kernel',
      'stratus-guest-kernel',
      '--ramdisk',
      'broken-ramdisk',
    );
    assert.equal(r.code, 0, r.stderr);

    const smoke = await run(
      process.execPath,
      [
        path.join(SCRIPTS, '../bin/stratus.js'),
        'smoke',
        '--image',
        'broken-guest',
        '--instance-type',
        'm1.nano',
        '--ssh-timeout',
        '25',
      ],
      userEnv,
    );
    assert.equal(smoke.code, 1, smoke.out);
    assert.match(smoke.out, /\[smoke-1\] (wait-running|ssh) +\d+\.\d\d s {2}FAILED /);
    assert.match(
      smoke.out,
      /---- console output of i-[0-9a-f]{17} ----[\s\S]*broken-guest: init fails on purpose[\s\S]*Kernel panic/,
    );
    assert.doesNotMatch(smoke.out, /left behind/);
    assert.match(smoke.out, /\n0 passed, 1 failed\n$/);

    // Nothing of any scenario is left: no key pair, group or address, every instance gone.
    const aws = (...args: string[]) =>
      run(
        '/usr/bin/aws',
        ['--endpoint-url', rc.EC2_URL as string, '--output', 'json', 'ec2', ...args],
        userEnv,
      );
    const keys = JSON.parse((await aws('describe-key-pairs')).out) as {
      KeyPairs: { KeyName: string }[];
    };
    assert.deepEqual(
      keys.KeyPairs.filter((k) => k.KeyName.startsWith('stratus-smoke-')),
      [],
    );
    const groups = JSON.parse((await aws('describe-security-groups')).out) as {
      SecurityGroups: { GroupName: string }[];
    };
    assert.deepEqual(
      groups.SecurityGroups.map((g) => g.GroupName),
      ['default'],
    );
    const addresses = JSON.parse((await aws('describe-addresses')).out) as { Addresses: unknown[] };
    assert.deepEqual(addresses.Addresses, []);
    const instances = JSON.parse((await aws('describe-instances')).out) as {
      Reservations: { Instances: { State: { Name: string } }[] }[];
    };
    const live = instances.Reservations.flatMap((res) => res.Instances).filter(
      (i) => i.State.Name !== 'terminated',
    );
    assert.deepEqual(live, []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'qemu', 'instances')), [], 'no VM files left');
  });
});

describe(
  'stratus smoke against a cloud whose guests are on QEMU user-mode networking',
  needs('qemu', 'qemu-img', 'ssh', 'guest-image'),
  () => {
    let dir: string;
    let cloud: RunningStratus;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-smoke-user-'));
      cloud = startStratus([
        'all-in-one',
        '--state-dir',
        dir,
        '--virt',
        'qemu',
        '--data-plane',
        'user',
        ...FREE_PORT_ARGS,
      ]);
      await cloud.waitFor(/Press Ctrl-C to stop/, 60_000);
    });

    after(async () => {
      await cloud?.stop('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('reaches the guest at the loopback port its console names, and passes', async (t) => {
      assert.match(cloud.output(), /guest network: QEMU user mode, because asked for/);
      const rc = readRcFile(path.join(dir, 'stratusrc'));
      assert.equal(rc.STRATUS_GUEST_NETNS, undefined);
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...rc };
      const bin = path.join(SCRIPTS, '../bin/stratus.js');
      const r = await run(process.execPath, [bin, 'smoke', '--instance-type', 'm1.nano'], env);
      show(t, 'smoke on user-mode networking', summary(r.out));
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /\[smoke-1\] find-address +\d+\.\d\d s {2}ok {2}127\.0\.0\.1:\d+\n/);
      assert.match(r.out, /\n1 passed, 0 failed\n$/);
    });
  },
);
