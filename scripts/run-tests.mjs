// Runs the compiled test files with node's test runner: every dist/**/*.test.js, or the
// files whose path contains one of the arguments. It first says which capabilities this machine
// has and which STRATUS_REQUIRE requires (test/support/capabilities.ts), and ends with what was
// skipped and why, gathered by test/support/skip-reporter.ts beside the usual report.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? find(p) : e.name.endsWith('.test.js') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = [...find('dist/src'), ...find('dist/test')]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const support = path.resolve('dist/test/support');
if (files.length === 0 || !fs.existsSync(path.join(support, 'capabilities.js'))) {
  console.error('No test files found; run the build first.');
  process.exit(1);
}

// Which capabilities are here; a name STRATUS_REQUIRE or STRATUS_WITHOUT does not know stops
// the run before it starts.
let caps;
let required;
try {
  caps = await import(pathToFileURL(path.join(support, 'capabilities.js')).href);
  required = new Set(caps.capabilityList('STRATUS_REQUIRE'));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
const present = caps.CAPABILITIES.filter((c) => caps.whyMissing(c) === undefined);
const absent = caps.CAPABILITIES.filter((c) => caps.whyMissing(c) !== undefined);
const missingRequired = absent.filter((c) => required.has(c));
console.log(`Capabilities here: ${present.join(', ') || 'none'}`);
if (absent.length > 0) console.log(`Capabilities missing: ${absent.join(', ')}`);
console.log(
  `Required (STRATUS_REQUIRE): ${[...required].join(', ') || 'none; a missing capability skips the tests that need it'}`,
);
for (const c of missingRequired) {
  console.log(`  REQUIRED BUT MISSING: ${caps.unavailable(c)}`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-tests-'));
// Stratus supports Node.js 20; the AWS SDK's notice about its own future needs is noise here.
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env };
// Files that kill Stratus processes at random moments and hold the restart to a time bound run
// after the others, alone: beside guests under TCG on a busy machine a restarted process can
// stall long past the bound, which would test the machine's load, not the recovery.
const ALONE = ['regressions/13-launch-left-behind'];
const alone = files.filter((f) => ALONE.some((a) => f.includes(a)));
const together = files.filter((f) => !alone.includes(f));
const totals = { pass: 0, fail: 0, cancelled: 0 };
let status = 0;
const skipLogs = [];
for (const [batch, concurrency] of [
  [together, 3],
  [alone, 1],
]) {
  if (batch.length === 0) continue;
  const tap = path.join(dir, `summary-${concurrency}.tap`);
  const skipLog = path.join(dir, `skips-${concurrency}.jsonl`);
  skipLogs.push(skipLog);
  const result = spawnSync(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${pathToFileURL(path.join(support, 'skip-reporter.js')).href}`,
      `--test-reporter-destination=${skipLog}`,
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...batch,
    ],
    { stdio: 'inherit', env },
  );
  if ((result.status ?? 1) !== 0) status = result.status ?? 1;
  const summary = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  for (const key of Object.keys(totals)) {
    const m = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(summary);
    totals[key] += m ? Number(m[1]) : 0;
  }
}

const records = skipLogs
  .filter((f) => fs.existsSync(f))
  .flatMap((f) =>
    fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l)),
  );
fs.rmSync(dir, { recursive: true, force: true });
console.log('');
if (records.length === 0) {
  console.log('Skipped: nothing; every test in these files ran.');
} else {
  // Grouped by the capability a skip names ("needs X: ..."), or by its reason.
  const groups = new Map();
  for (const r of records) {
    const key = /^needs ([\w-]+)/.exec(r.reason)?.[1] ?? `${r.kind}: ${r.reason}`;
    const group = groups.get(key) ?? { reason: r.reason, tests: [] };
    group.tests.push(`${path.relative('dist', r.file).replace(/\.js$/, '.ts')}: ${r.name}`);
    groups.set(key, group);
  }
  console.log(`Skipped, and why (${records.length} tests or suites):`);
  for (const [, group] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`- ${group.reason}`);
    for (const t of group.tests.sort()) console.log(`    ${t}`);
  }
}
console.log(`${totals.pass} passed, ${totals.fail + totals.cancelled} failed`);
process.exit(status);
