// The README's list of EC2 actions against the action table the endpoint serves: the same
// names, and the count the README states.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { it } from 'node:test';
import { ec2Actions, type Ec2Deps } from '../src/api/ec2/actions/index.js';

it('the README lists every EC2 action the endpoint serves, and says how many', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  const m = /The EC2 API serves these (\d+) actions: ([^.]+)\./.exec(readme);
  assert.ok(m, 'the README states "The EC2 API serves these N actions: ..."');
  const listed = [...(m[2] ?? '').matchAll(/`([A-Za-z]+)`/g)].map((x) => x[1]);
  // Building the table only makes closures: no dependency is touched.
  const served = Object.keys(ec2Actions({} as Ec2Deps)).sort();
  assert.deepEqual([...listed].sort(), served);
  assert.equal(Number(m[1]), served.length);
});
