// `stratus smoke` on the fake driver: its refusals of bad input, and its failure path. The
// guest-facing part runs inside an empty network namespace made here, so ssh finds no route
// and no packet leaves the test; the passing path against real guests is in smoke-qemu.test.ts.
import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRcFile, resolveEndpoint } from '../src/cli/smoke.js';
import { renderRcFile } from '../src/identity/index.js';
import { needs } from './support/capabilities.js';
import { startStratus, stratus } from './support/cli.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';

describe('stratus smoke: input', () => {
  it('reads endpoint and credentials from an rc file, flags first', () => {
    const rc = renderRcFile({
      ec2Url: 'http://127.0.0.1:8773/',
      accessKey: 'AK1',
      secretKey: "se'cret",
      region: 'RegionOne',
      identityUrl: 'http://127.0.0.1:5000/v3',
      username: 'u',
      password: null,
      projectName: 'p',
    });
    assert.equal(parseRcFile(rc).AWS_SECRET_ACCESS_KEY, "se'cret");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-smoke-rc-'));
    const file = path.join(dir, 'rc');
    fs.writeFileSync(file, rc);
    assert.deepEqual(resolveEndpoint({ rc: file }, {}), {
      url: 'http://127.0.0.1:8773/',
      region: 'RegionOne',
      accessKeyId: 'AK1',
      secretAccessKey: "se'cret",
    });
    const e = resolveEndpoint({ rc: file, accessKey: 'AK2', region: 'r2' }, {});
    assert.equal(e.accessKeyId, 'AK2');
    assert.equal(e.region, 'r2');
    const fromEnv = resolveEndpoint(
      {},
      { EC2_URL: 'http://127.0.0.1:1/', AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' },
    );
    assert.equal(fromEnv.url, 'http://127.0.0.1:1/');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses missing credentials, a missing rc file and bad numbers with a clear message', async () => {
    const env = {
      AWS_ACCESS_KEY_ID: '',
      EC2_ACCESS_KEY: '',
      STRATUS_STATE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-smoke-empty-')),
    };
    let r = await stratus(['smoke', '--rc', '/nonexistent/stratusrc'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rc file \/nonexistent\/stratusrc does not exist/);
    r = await stratus(['smoke', '--endpoint-url', 'http://127.0.0.1:9/'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /needs the access key/);
    r = await stratus(['smoke', '--parallel', '0'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--parallel.*must be a whole number/);
    r = await stratus(['smoke', '--ssh-timeout', 'soon'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--ssh-timeout.*seconds/);
    for (const bad of ['10.0.0.0/8', '10.77.0.0/25', '10.77.0.1/16', 'ten']) {
      r = await stratus(['smoke', '--vpc', bad], env);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /--vpc.*must be an IPv4 network from \/16 to \/24/, bad);
    }
  });
});

describe(
  'stratus smoke: a guest that cannot be reached',
  // ssh runs in a namespace of its own, which only root can make.
  needs('root', 'ssh'),
  () => {
    let tc: TestCloud;
    let rcFile: string;
    let dir: string;
    const netns = `st-smoke-${randomBytes(3).toString('hex')}`;
    before(async () => {
      tc = await startTestCloud();
      await tc.addImage({ name: 'stratus-guest-test' });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-smoke-'));
      rcFile = path.join(dir, 'stratusrc');
      fs.writeFileSync(
        rcFile,
        renderRcFile({
          ec2Url: tc.endpoint,
          accessKey: tc.adminCredentials.accessKeyId,
          secretKey: tc.adminCredentials.secretAccessKey,
          region: 'RegionOne',
          identityUrl: 'http://127.0.0.1:5000/v3',
          username: 'admin',
          password: null,
          projectName: 'admin',
        }),
      );
      // A namespace with nothing but a loopback that is down: ssh has no route anywhere.
      execFileSync('ip', ['netns', 'add', netns]);
    });
    after(async () => {
      execFileSync('ip', ['netns', 'delete', netns]);
      await tc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('cleans up what it made when interrupted with Ctrl-C while waiting for ssh', async () => {
      const smoke = startStratus([
        'smoke',
        '--rc',
        rcFile,
        '--netns',
        netns,
        '--ssh-timeout',
        '300',
      ]);
      await smoke.waitFor(/\[smoke-1\] find-address +\d+\.\d\d s {2}ok/, 30_000);
      const code = await smoke.stop('SIGINT');
      const out = smoke.output();
      assert.equal(code, 1, out);
      assert.match(out, /Received SIGINT: cleaning up/);
      assert.match(out, /\[smoke-1\] ssh +\d+\.\d\d s {2}FAILED interrupted/);
      assert.doesNotMatch(out, /left behind/);
      assert.match(out, /\n0 passed, 1 failed \(interrupted\)\n$/);
      const keys = await tc.admin.send(new DescribeKeyPairsCommand({}));
      assert.deepEqual(
        (keys.KeyPairs ?? []).filter((k) => k.KeyName?.startsWith('stratus-smoke-')),
        [],
      );
      const groups = await tc.admin.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(
        (groups.SecurityGroups ?? []).filter((g) => g.GroupName?.startsWith('stratus-smoke-')),
        [],
      );
    });

    it('fails, shows the console, cleans up everything and writes JUnit', async () => {
      const junit = path.join(dir, 'smoke.xml');
      const r = await stratus([
        'smoke',
        '--rc',
        rcFile,
        '--netns',
        netns,
        '--instances',
        '2',
        '--ssh-timeout',
        '2',
        '--junit',
        junit,
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      for (const step of [
        'create-keypair',
        'find-image',
        'create-security-group',
        'run-instances',
        'wait-running',
        'authorize-ssh',
        'find-address',
      ]) {
        assert.match(r.stdout, new RegExp(`\\[smoke-1\\] ${step} +\\d+\\.\\d\\d s  ok`), step);
      }
      assert.match(
        r.stdout,
        /\[smoke-1\] ssh +\d+\.\d\d s {2}FAILED ssh root@10\.\S+ not accepted/,
      );
      assert.match(r.stdout, /---- console output of i-[0-9a-f]{17} ----\nStratus fake guest/);
      assert.doesNotMatch(r.stdout, /left behind/);
      assert.match(r.stdout, /\n0 passed, 1 failed\n$/);
      const xml = fs.readFileSync(junit, 'utf8');
      assert.match(xml, /<testsuite name="stratus smoke" tests="1" failures="1"/);
      assert.match(xml, /<failure message="ssh: /);

      // Nothing the scenario made is left: its key pair and group are gone, its instances terminated.
      const keys = await tc.admin.send(new DescribeKeyPairsCommand({}));
      assert.deepEqual(
        (keys.KeyPairs ?? []).filter((k) => k.KeyName?.startsWith('stratus-smoke-')),
        [],
      );
      const groups = await tc.admin.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(
        (groups.SecurityGroups ?? []).filter((g) => g.GroupName?.startsWith('stratus-smoke-')),
        [],
      );
      const instances = await tc.admin.send(new DescribeInstancesCommand({}));
      const states = (instances.Reservations ?? []).flatMap((res) =>
        (res.Instances ?? []).map((i) => i.State?.Name),
      );
      // Its two, and the one of the interrupted scenario: all terminated.
      assert.equal(states.length, 3);
      assert.deepEqual(states, ['terminated', 'terminated', 'terminated']);
    });

    it('--vpc: makes its own VPC, subnet and gateway, launches there, and removes them all', async () => {
      const r = await stratus([
        'smoke',
        '--rc',
        rcFile,
        '--netns',
        netns,
        '--vpc',
        '10.77.0.0/16',
        '--ssh-timeout',
        '2',
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      for (const step of [
        'create-vpc',
        'create-internet-gateway',
        'create-security-group',
        'run-instances',
        'wait-running',
        'authorize-ssh',
        'find-address',
      ]) {
        assert.match(r.stdout, new RegExp(`\\[smoke-1\\] ${step} +\\d+\\.\\d\\d s  ok`), step);
      }
      assert.match(
        r.stdout,
        /\[smoke-1\] create-vpc .* 10\.77\.0\.0\/16, subnet-\S+ 10\.77\.0\.0\/24/,
      );
      // The guest is reached at its Elastic IP (the floating pool), not at its private address.
      assert.match(r.stdout, /\[smoke-1\] ssh +\d+\.\d\d s {2}FAILED ssh root@(\S+) not accepted/);
      assert.doesNotMatch(r.stdout, /ssh root@10\.77\./);
      assert.doesNotMatch(r.stdout, /left behind/);

      // Nothing is left: no VPC but the default one, no gateway, no address, no group.
      const vpcs = await tc.admin.send(new DescribeVpcsCommand({}));
      assert.deepEqual(
        (vpcs.Vpcs ?? []).filter((v) => v.CidrBlock === '10.77.0.0/16'),
        [],
      );
      // Describing VPCs makes the default VPC, with its own gateway: that one stays.
      const defaultVpc = (vpcs.Vpcs ?? []).find((v) => v.IsDefault)?.VpcId;
      const gateways = await tc.admin.send(new DescribeInternetGatewaysCommand({}));
      assert.deepEqual(
        (gateways.InternetGateways ?? []).filter(
          (g) => !(g.Attachments ?? []).some((a) => a.VpcId === defaultVpc),
        ),
        [],
      );
      const addresses = await tc.admin.send(new DescribeAddressesCommand({}));
      assert.deepEqual(addresses.Addresses ?? [], []);
      const groups = await tc.admin.send(new DescribeSecurityGroupsCommand({}));
      assert.deepEqual(
        (groups.SecurityGroups ?? []).filter((g) => g.GroupName?.startsWith('stratus-smoke-')),
        [],
      );
    });
  },
);
