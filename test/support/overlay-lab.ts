// What the tests of project networks on real guests share: `stratus lab up --virt qemu
// --overlay` (compute hosts on a VXLAN underlay, lab-node1 also the network host), a second
// project made as an operator does, a client namespace on the public segment with a TCP
// listener that records who connected and what they said, a key pair, ssh from the client
// namespace, and `stratus lab down` at the end.
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../../src/db/index.js';
import { IdentityService } from '../../src/identity/index.js';
import { readState, type LabState } from '../../src/lab/index.js';
import { sshCommandLine } from '../../src/smoke/ssh.js';
import { needs } from './capabilities.js';
import { readRcFile, stratus, type CliResult } from './cli.js';
import { ec2Client } from './ec2.js';
import { makeKey } from './guest.js';

/** What a test on an overlay lab needs of the machine. */
export const OVERLAY_LAB_NEEDS = needs(
  'root',
  'netns',
  'arping',
  'qemu',
  'qemu-img',
  'guest-image',
  'ssh',
  'postgres',
  'rabbitmq',
);

/** The client namespace's address on the public segment (the lab's first client). */
export const CLIENT_IP = '172.24.4.100';

export interface SshResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export interface OverlayLab {
  /** The temporary directory holding the lab dir and the key. */
  top: string;
  dir: string;
  state: LabState;
  database: Database;
  /** The lab's stratusrc: the admin project's EC2 and OS_* credentials, the API URLs. */
  rc: Record<string, string>;
  /** `a`: the admin project; `b`: a second project with a member user. */
  ec2: Record<'a' | 'b', EC2Client>;
  projectIds: Record<'a' | 'b', string>;
  /** The client namespace on the public segment (CLIENT_IP). */
  clientNs: string;
  key: { keyFile: string; publicKey: string };
  /** The port the listener in the client namespace listens on (CLIENT_IP). */
  listenPort: number;
  /** Each connection to the listener: its source address and what it said. */
  heard: { from: string; said: string }[];
  /** The guest image's EC2 id. */
  imageId: string;
  /** Runs `stratus lab ARGS --dir <dir>`. */
  lab(...args: string[]): Promise<CliResult>;
  /** Runs `command` on a guest over ssh from the client namespace; never throws. */
  ssh(address: string, command: string, timeoutMs?: number): Promise<SshResult>;
  /** Retries `ssh` until it succeeds; resolves with its stdout, rejects after `timeoutMs`. */
  sshUntil(address: string, command: string, timeoutMs: number): Promise<string>;
}

/** Starts the lab with `hosts` compute hosts (2 by default). */
export async function startOverlayLab(
  options: { prefix?: string; hosts?: number; listenPort?: number } = {},
): Promise<OverlayLab> {
  const prefix = options.prefix ?? 'ov';
  const name = `${prefix}${randomBytes(4).toString('hex')}`;
  const top = fs.mkdtempSync(path.join(os.tmpdir(), `s${prefix}-`));
  const dir = path.join(top, 'lab');
  const lab = (...args: string[]) => stratus(['lab', ...args, '--dir', dir]);
  const listenPort = options.listenPort ?? 9099;
  const heard: { from: string; said: string }[] = [];
  let listener: ChildProcess | undefined;
  const partial: Partial<OverlayLab> & { listener?: ChildProcess } = { top, dir, lab };
  try {
    const up = await lab(
      'up',
      '--hosts',
      String(options.hosts ?? 2),
      '--virt',
      'qemu',
      '--overlay',
      '--name',
      name,
      '--heartbeat-seconds',
      '1',
      '--down-after-seconds',
      '6',
    );
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stdout}\n${up.stderr}`);
    const state = readState(dir) as LabState;
    const database = await openDatabase(state.plan.databaseUrl, { migrate: false });
    partial.state = state;
    partial.database = database;
    const rc = readRcFile(path.join(dir, 'stratusrc'));
    const region = rc.AWS_DEFAULT_REGION as string;
    const a = ec2Client(rc.EC2_URL as string, region, {
      accessKeyId: rc.AWS_ACCESS_KEY_ID as string,
      secretAccessKey: rc.AWS_SECRET_ACCESS_KEY as string,
    });
    // The second project, made as an operator does (on the database).
    const identity = new IdentityService(database.db);
    const project = await identity.createProject({ name: `${prefix}-b` });
    const user = await identity.createUser({ name: `${prefix}-b-user` });
    await identity.grantRole(user.id, project.id, 'member');
    const cred = await identity.createEc2Credential(user.id, project.id);
    const b = ec2Client(rc.EC2_URL as string, region, {
      accessKeyId: cred.accessKey,
      secretAccessKey: cred.secretKey,
    });
    partial.ec2 = { a, b };
    const admin = await identity.findProject('admin');
    partial.projectIds = { a: admin?.id ?? '', b: project.id };
    const client = await lab('client', 'add', 'c1');
    if (client.code !== 0) throw new Error(`lab client add failed: ${client.stderr}`);
    const clientNs = `${state.plan.segments?.public}-client-c1`;
    const key = makeKey(top, prefix);
    // The listener on the public segment: each line is the source address and what it said.
    listener = spawn(
      'ip',
      [
        'netns',
        'exec',
        clientNs,
        process.execPath,
        '-e',
        `require('net').createServer((s) => { const from = String(s.remoteAddress).replace(/^::ffff:/, ''); let d = ''; s.on('data', (c) => (d += c)); s.on('close', () => console.log(from + ' ' + d.trim())); s.on('error', () => {}); }).listen(${listenPort}, '${CLIENT_IP}');`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    partial.listener = listener;
    let rest = '';
    listener.stdout?.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const [from, ...said] = line.split(' ');
        heard.push({ from: from ?? '', said: said.join(' ') });
      }
    });
    const images = await a.send(
      new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['stratus-guest'] }] }),
    );
    const imageId = images.Images?.[0]?.ImageId;
    if (!imageId) throw new Error('the lab has no stratus-guest image');
    const ssh = (address: string, command: string, timeoutMs = 20_000): Promise<SshResult> => {
      const [file, args] = sshCommandLine(
        { host: address, user: 'root', netns: clientNs },
        key.keyFile,
        command,
        3,
      );
      return new Promise((resolve) =>
        execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
          resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) }),
        ),
      );
    };
    const sshUntil = async (address: string, command: string, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      let last: SshResult = { ok: false, stdout: '', stderr: '' };
      while (Date.now() < deadline) {
        last = await ssh(address, command);
        if (last.ok) return last.stdout;
        await new Promise((r) => setTimeout(r, 1000));
      }
      throw new Error(`ssh root@${address} did not succeed within ${timeoutMs} ms: ${last.stderr}`);
    };
    const labHandle: OverlayLab & { listener?: ChildProcess } = {
      top,
      dir,
      state,
      database,
      rc,
      ec2: { a, b },
      projectIds: partial.projectIds,
      clientNs,
      key,
      listenPort,
      heard,
      imageId,
      lab,
      ssh,
      sshUntil,
      listener,
    };
    return labHandle;
  } catch (err) {
    await stopOverlayLab(partial as OverlayLab);
    throw err;
  }
}

/** Stops the listener, the clients and the lab, and removes its files. */
export async function stopOverlayLab(lab: OverlayLab | undefined): Promise<void> {
  if (!lab) return;
  const listener = (lab as { listener?: ChildProcess }).listener;
  if (listener?.pid !== undefined) listener.kill('SIGTERM');
  lab.ec2?.a?.destroy();
  lab.ec2?.b?.destroy();
  await lab.database?.close();
  if (fs.existsSync(lab.dir)) {
    const down = await lab.lab('down');
    if (down.code !== 0) console.error(`lab down failed: ${down.stdout}\n${down.stderr}`);
  }
  fs.rmSync(lab.top, { recursive: true, force: true });
}

export interface LabVpc {
  vpcId: string;
  subnetId: string;
  gatewayId: string;
  routeTableId: string;
  /** The VPC's own default security group, which launches naming no group are in. */
  defaultGroupId: string;
}

/**
 * A VPC of `cidr` with one subnet `subnetCidr` in the lab's zone (its hosts are all in the
 * first one), an internet gateway attached and the main route table's default route to it.
 */
export async function makeLabVpc(c: EC2Client, cidr: string, subnetCidr: string): Promise<LabVpc> {
  const vpcId = (await c.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc?.VpcId as string;
  const subnetId = (
    await c.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: subnetCidr,
        AvailabilityZone: 'lab-zone1',
      }),
    )
  ).Subnet?.SubnetId as string;
  const gatewayId = (await c.send(new CreateInternetGatewayCommand({}))).InternetGateway
    ?.InternetGatewayId as string;
  await c.send(new AttachInternetGatewayCommand({ InternetGatewayId: gatewayId, VpcId: vpcId }));
  const routeTableId = (
    await c.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }))
  ).RouteTables?.[0]?.RouteTableId as string;
  await c.send(
    new CreateRouteCommand({
      RouteTableId: routeTableId,
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: gatewayId,
    }),
  );
  const defaultGroupId = (
    await c.send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: ['default'] },
        ],
      }),
    )
  ).SecurityGroups?.[0]?.GroupId as string;
  if (!vpcId || !subnetId || !gatewayId || !routeTableId || !defaultGroupId) {
    throw new Error(`the VPC ${cidr} was not made whole`);
  }
  return { vpcId, subnetId, gatewayId, routeTableId, defaultGroupId };
}
