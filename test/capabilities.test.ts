// How the suite says what it tested: a test that needs a capability the machine lacks is
// skipped with a reason naming it, fails instead when STRATUS_REQUIRE requires it, and
// scripts/run-tests.mjs ends with the list of what was skipped and why. STRATUS_WITHOUT
// stands in for a machine without the capability.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CAPABILITIES = new URL('./support/capabilities.js', import.meta.url).href;
const REPORTER = new URL('./support/skip-reporter.js', import.meta.url).href;

interface Run {
  code: number | null;
  out: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Without NODE_TEST_CONTEXT, which tells node it runs inside a test and must not start more.
    const { NODE_TEST_CONTEXT: _, ...outer } = process.env;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...outer, STRATUS_REQUIRE: '', STRATUS_WITHOUT: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('capabilities a test needs', () => {
  let dir: string;
  let file: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-caps-'));
    file = path.join(dir, 'needs.test.mjs');
    fs.writeFileSync(
      file,
      `import { describe, it } from 'node:test';
import { needs } from ${JSON.stringify(CAPABILITIES)};
describe('a suite', () => {
  it('runs anywhere', () => {});
  it('uses the AWS CLI', needs('awscli'), () => {});
  it('uses QEMU and the AWS CLI', needs('qemu', 'awscli'), () => {});
});
`,
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const nodeTest = (extra: string[] = []) => [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    ...extra,
    file,
  ];

  it('skips a test whose capability is missing, naming it and how to get it', async () => {
    const r = await run(nodeTest(), { STRATUS_WITHOUT: 'awscli' });
    assert.equal(r.code, 0, r.out);
    assert.match(
      r.out,
      /uses the AWS CLI .*# needs awscli: STRATUS_WITHOUT names it\. To get it: apt-get install awscli/,
    );
    assert.match(r.out, /uses QEMU and the AWS CLI .*# needs awscli: STRATUS_WITHOUT names it/);
    assert.match(r.out, /pass 1\n.*fail 0\n.*\n.*skipped 2/);
  });

  it('runs it where the capability is present, and skips for the first one missing', async () => {
    const r = await run(nodeTest(), { STRATUS_WITHOUT: 'qemu' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /uses QEMU and the AWS CLI .*# needs qemu: STRATUS_WITHOUT names it/);
    assert.match(r.out, /pass 2\n.*fail 0\n.*\n.*skipped 1/);
  });

  it('fails instead when STRATUS_REQUIRE requires the missing capability', async () => {
    const r = await run(nodeTest(), { STRATUS_WITHOUT: 'awscli', STRATUS_REQUIRE: 'qemu,awscli' });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /✖ requires awscli/);
    assert.match(
      r.out,
      /awscli \(Debian's AWS CLI \(\/usr\/bin\/aws\)\) is required by STRATUS_REQUIRE but missing: .* To get it: apt-get install awscli/,
    );
    assert.match(
      r.out,
      /uses the AWS CLI .*# needs awscli: required by STRATUS_REQUIRE and missing/,
    );
  });

  it('fails for a required capability even when another missing one is not required', async () => {
    const r = await run(nodeTest(), { STRATUS_WITHOUT: 'qemu,awscli', STRATUS_REQUIRE: 'awscli' });
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /uses QEMU and the AWS CLI .*# needs awscli: required by STRATUS_REQUIRE and missing/,
    );
    assert.equal(r.out.match(/✖ requires awscli/g)?.length, 4, 'two tests, each failing');
  });

  it('refuses a capability name it does not know', async () => {
    const r = await run(nodeTest(), { STRATUS_REQUIRE: 'netns,qemuu' });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /STRATUS_REQUIRE names unknown capabilities: qemuu\. Known: root, netns/);
  });

  it('reports each skip with its file, suites and reason through the skip reporter', async () => {
    const log = path.join(dir, 'skips.jsonl');
    const r = await run(
      nodeTest([`--test-reporter=${REPORTER}`, `--test-reporter-destination=${log}`]),
      { STRATUS_WITHOUT: 'awscli' },
    );
    assert.equal(r.code, 0, r.out);
    const records = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    const reason =
      'needs awscli: STRATUS_WITHOUT names it. To get it: apt-get install awscli ' +
      '(scripts/test-services installs it).';
    assert.deepEqual(records, [
      { file, name: 'a suite > uses the AWS CLI', kind: 'skip', reason },
      { file, name: 'a suite > uses QEMU and the AWS CLI', kind: 'skip', reason },
    ]);
  });
});

describe('scripts/run-tests.mjs', () => {
  it('says which capabilities are here and ends with what was skipped and why', async () => {
    const r = await run(['scripts/run-tests.mjs', 'ec2-awscli.test'], {
      STRATUS_WITHOUT: 'awscli',
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^Capabilities here: .*\nCapabilities missing: .*awscli/m);
    assert.match(r.out, /Required \(STRATUS_REQUIRE\): none/);
    assert.match(
      r.out,
      /Skipped, and why \(1 tests or suites\):\n- needs awscli: STRATUS_WITHOUT names it\..*\n {4}test\/ec2-awscli\.test\.ts: the smoke path through the AWS CLI\n/,
    );
  });

  it('fails the run when a required capability is missing, and says so first', async () => {
    const r = await run(['scripts/run-tests.mjs', 'ec2-awscli.test'], {
      STRATUS_WITHOUT: 'awscli',
      STRATUS_REQUIRE: 'awscli',
    });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /REQUIRED BUT MISSING: needs awscli/);
    assert.match(r.out, /✖ requires awscli/);
  });

  it('stops before running anything when STRATUS_REQUIRE names an unknown capability', async () => {
    const r = await run(['scripts/run-tests.mjs', 'ec2-awscli.test'], { STRATUS_REQUIRE: 'kvmm' });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /STRATUS_REQUIRE names unknown capabilities: kvmm/);
    assert.doesNotMatch(r.out, /Capabilities here/);
  });
});
