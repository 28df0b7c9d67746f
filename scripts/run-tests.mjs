// Runs the compiled test files with node's test runner: every dist/**/*.test.js, or the
// files whose path contains one of the arguments.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

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
if (files.length === 0) {
  console.error('No test files found; run the build first.');
  process.exit(1);
}
// Stratus supports Node.js 20; the AWS SDK's notice about its own future needs is noise here.
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env };
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=3', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
