// One run of the smoke scenario: the ten steps a user takes to check a cloud works, against any
// EC2 endpoint, with the real AWS SDK. Every resource it makes is written down as soon as it
// exists, so that whatever happens (a failed step, Ctrl-C) cleanup removes exactly those.
// Waiting for a state is polling; no API call is ever retried on failure.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateKeyPairCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteInternetGatewayCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  DetachInternetGatewayCommand,
  DisassociateAddressCommand,
  GetConsoleOutputCommand,
  ReleaseAddressCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import { randomBytes } from 'node:crypto';
import { sshRun, type SshTarget } from './ssh.js';

export interface ScenarioOptions {
  /** An image id or name; the cloud's guest image (or its first machine image) when absent. */
  image?: string;
  instanceType: string;
  /** Instances per scenario. */
  instances: number;
  floatingIp: boolean;
  /**
   * Run in a VPC of the scenario's own with this CIDR (a /16 or smaller; its first /24 is the
   * subnet), reached through an internet gateway and an Elastic IP: the scenario makes the VPC,
   * subnet, gateway and default route first and removes them last. Implies `floatingIp`.
   */
  vpcCidr?: string;
  sshUser: string;
  sshCommand: string;
  /** Network namespace the guest-facing part (ssh) runs in. */
  netns?: string;
  bootTimeoutMs: number;
  sshTimeoutMs: number;
  pollMs: number;
}

export interface StepResult {
  name: string;
  ms: number;
  error?: string;
  detail?: string;
}

export interface ScenarioResult {
  name: string;
  passed: boolean;
  ms: number;
  steps: StepResult[];
  /** Console output of each instance, when the scenario failed. */
  consoles: { instanceId: string; output: string }[];
  /** Cleanup failures: resources that may be left behind. */
  leftovers: string[];
}

export type StepListener = (scenario: string, step: StepResult) => void;

interface Made {
  vpcId?: string;
  subnetId?: string;
  gatewayId?: string;
  gatewayAttached: boolean;
  keyName?: string;
  groupId?: string;
  ruleAuthorized: boolean;
  instanceIds: string[];
  terminated: boolean;
  addresses: { allocationId: string; publicIp: string; associationId?: string }[];
}

const GUEST_IMAGE_NAME = 'stratus-guest';

/** Where an instance's ssh server is reached. */
interface SshAddress {
  instanceId: string;
  host: string;
  port?: number;
}

export class Scenario {
  readonly #ec2: EC2Client;
  readonly #opts: ScenarioOptions;
  readonly #name: string;
  readonly #onStep: StepListener;
  readonly #made: Made = {
    gatewayAttached: false,
    ruleAuthorized: false,
    instanceIds: [],
    terminated: false,
    addresses: [],
  };
  readonly #steps: StepResult[] = [];
  #key = '';
  #aborted = false;

  constructor(ec2: EC2Client, name: string, opts: ScenarioOptions, onStep: StepListener) {
    this.#ec2 = ec2;
    this.#name = name;
    this.#opts = opts;
    this.#onStep = onStep;
  }

  /** Stops waiting at the next poll; `run` then cleans up and reports failure. */
  abort(): void {
    this.#aborted = true;
  }

  async run(): Promise<ScenarioResult> {
    const started = Date.now();
    const tag = `stratus-smoke-${randomBytes(4).toString('hex')}`;
    let failed = false;
    try {
      await this.#step('create-keypair', async () => {
        const out = await this.#ec2.send(new CreateKeyPairCommand({ KeyName: tag }));
        this.#made.keyName = tag;
        this.#key = required(out.KeyMaterial, 'CreateKeyPair returned no key material');
        return { detail: `${tag} ${out.KeyFingerprint ?? ''}` };
      });
      const imageId = await this.#step('find-image', () => this.#findImage());
      if (this.#opts.vpcCidr !== undefined) await this.#makeVpc(this.#opts.vpcCidr);
      await this.#step('create-security-group', async () => {
        const out = await this.#ec2.send(
          new CreateSecurityGroupCommand({
            GroupName: tag,
            Description: 'stratus smoke test',
            ...(this.#made.vpcId ? { VpcId: this.#made.vpcId } : {}),
          }),
        );
        this.#made.groupId = required(out.GroupId, 'CreateSecurityGroup returned no GroupId');
        return { detail: this.#made.groupId };
      });
      await this.#step('run-instances', async () => {
        const out = await this.#ec2.send(
          new RunInstancesCommand({
            ImageId: imageId,
            // Any name the cloud offers; the SDK's type lists only AWS's own.
            InstanceType: this.#opts.instanceType as _InstanceType,
            MinCount: this.#opts.instances,
            MaxCount: this.#opts.instances,
            KeyName: this.#made.keyName,
            SecurityGroupIds: [this.#made.groupId as string],
            ...(this.#made.subnetId ? { SubnetId: this.#made.subnetId } : {}),
            ClientToken: tag,
          }),
        );
        this.#made.instanceIds = (out.Instances ?? []).map((i) => i.InstanceId as string);
        if (this.#made.instanceIds.length !== this.#opts.instances) {
          throw new Error(`RunInstances started ${this.#made.instanceIds.length} instances`);
        }
        return { detail: this.#made.instanceIds.join(' ') };
      });
      const running = await this.#step('wait-running', async () => {
        const list = await this.#waitFor('running', this.#opts.bootTimeoutMs);
        return { value: list, detail: list.map((i) => i.InstanceId).join(' ') };
      });
      await this.#step('authorize-ssh', async () => {
        await this.#ec2.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: this.#made.groupId,
            IpPermissions: [
              { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            ],
          }),
        );
        this.#made.ruleAuthorized = true;
        return { detail: 'tcp/22 from 0.0.0.0/0' };
      });
      const targets = await this.#step('find-address', async () => {
        const list: SshAddress[] = this.#floating()
          ? await this.#associateFloatingIps(running)
          : await Promise.all(running.map((i) => this.#privateTarget(i)));
        return {
          value: list,
          detail: list.map((t) => (t.port ? `${t.host}:${t.port}` : t.host)).join(' '),
        };
      });
      await this.#step('ssh', async () => {
        const outputs = await Promise.all(
          targets.map((t) =>
            sshRun(this.#sshTarget(t.host, t.port), this.#opts.sshCommand, {
              timeoutMs: this.#opts.sshTimeoutMs,
              pollMs: this.#opts.pollMs,
              aborted: () => this.#aborted,
            }),
          ),
        );
        return { detail: outputs.map((o) => o.trim()).join(' | ') };
      });
      await this.#step('terminate', async () => ({ detail: await this.#terminate() }));
      await this.#step('revoke-ssh', async () => this.#revoke());
      if (this.#floating()) {
        await this.#step('release-address', async () => ({ detail: await this.#release() }));
      }
      await this.#step('delete-security-group', async () => this.#deleteGroup());
      if (this.#opts.vpcCidr !== undefined) {
        await this.#step('delete-vpc', async () => ({ detail: await this.#deleteVpc() }));
      }
      await this.#step('delete-keypair', async () => this.#deleteKeypair());
    } catch {
      failed = true;
    }
    const consoles = failed ? await this.#consoles() : [];
    const leftovers = await this.#cleanup();
    return {
      name: this.#name,
      passed: !failed && leftovers.length === 0,
      ms: Date.now() - started,
      steps: this.#steps,
      consoles,
      leftovers,
    };
  }

  /** Runs one step, timing it; what it returns is its value and a line for the report. */
  async #step<T = undefined>(
    name: string,
    work: () => Promise<{ value?: T; detail?: string } | undefined>,
  ): Promise<T> {
    const started = Date.now();
    if (this.#aborted) {
      const step = { name, ms: 0, error: 'interrupted' };
      this.#record(step);
      throw new Error(step.error);
    }
    try {
      const out = await work();
      const detail = out?.detail;
      this.#record({ name, ms: Date.now() - started, ...(detail ? { detail } : {}) });
      return out?.value as T;
    } catch (err) {
      this.#record({ name, ms: Date.now() - started, error: describe(err) });
      throw err;
    }
  }

  #record(step: StepResult): void {
    this.#steps.push(step);
    this.#onStep(this.#name, step);
  }

  async #findImage(): Promise<{ value: string; detail: string }> {
    const wanted = this.#opts.image;
    if (wanted && /^ami-[0-9a-f]+$/.test(wanted)) {
      const out = await this.#ec2.send(new DescribeImagesCommand({ ImageIds: [wanted] }));
      const image = out.Images?.[0];
      if (!image) throw new Error(`no image ${wanted}`);
      return { value: wanted, detail: `${wanted} (${image.Name ?? ''})` };
    }
    const out = await this.#ec2.send(
      new DescribeImagesCommand({
        Filters: [
          { Name: 'image-type', Values: ['machine'] },
          { Name: 'state', Values: ['available'] },
          ...(wanted ? [{ Name: 'name', Values: [wanted] }] : []),
        ],
      }),
    );
    const images = out.Images ?? [];
    const pick: Image | undefined =
      images.find((i) => i.Name?.startsWith(GUEST_IMAGE_NAME)) ?? images[0];
    if (!pick?.ImageId) {
      throw new Error(
        wanted ? `no machine image named '${wanted}'` : 'the cloud has no machine image',
      );
    }
    return { value: pick.ImageId, detail: `${pick.ImageId} (${pick.Name ?? ''})` };
  }

  /** A private address is not reachable from outside a VPC: its guests get Elastic IPs. */
  #floating(): boolean {
    return this.#opts.floatingIp || this.#opts.vpcCidr !== undefined;
  }

  /** The VPC, its subnet, and a route to an internet gateway of its own. */
  async #makeVpc(cidr: string): Promise<void> {
    const subnetCidr = firstSubnet(cidr);
    await this.#step('create-vpc', async () => {
      const vpc = await this.#ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
      this.#made.vpcId = required(vpc.Vpc?.VpcId, 'CreateVpc returned no VpcId');
      // The subnet goes in the first zone the cloud offers, where its instances can run.
      const zones = await this.#ec2.send(
        new DescribeAvailabilityZonesCommand({
          Filters: [{ Name: 'state', Values: ['available'] }],
        }),
      );
      const zone = zones.AvailabilityZones?.[0]?.ZoneName;
      const subnet = await this.#ec2.send(
        new CreateSubnetCommand({
          VpcId: this.#made.vpcId,
          CidrBlock: subnetCidr,
          ...(zone ? { AvailabilityZone: zone } : {}),
        }),
      );
      this.#made.subnetId = required(subnet.Subnet?.SubnetId, 'CreateSubnet returned no SubnetId');
      return { detail: `${this.#made.vpcId} ${cidr}, ${this.#made.subnetId} ${subnetCidr}` };
    });
    await this.#step('create-internet-gateway', async () => {
      const igw = await this.#ec2.send(new CreateInternetGatewayCommand({}));
      const gatewayId = required(
        igw.InternetGateway?.InternetGatewayId,
        'CreateInternetGateway returned no InternetGatewayId',
      );
      this.#made.gatewayId = gatewayId;
      await this.#ec2.send(
        new AttachInternetGatewayCommand({ InternetGatewayId: gatewayId, VpcId: this.#made.vpcId }),
      );
      this.#made.gatewayAttached = true;
      const tables = await this.#ec2.send(
        new DescribeRouteTablesCommand({
          Filters: [
            { Name: 'vpc-id', Values: [this.#made.vpcId as string] },
            { Name: 'association.main', Values: ['true'] },
          ],
        }),
      );
      const main = required(
        tables.RouteTables?.[0]?.RouteTableId,
        `no main route table for ${this.#made.vpcId}`,
      );
      await this.#ec2.send(
        new CreateRouteCommand({
          RouteTableId: main,
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: gatewayId,
        }),
      );
      return { detail: `${gatewayId}, 0.0.0.0/0 in ${main}` };
    });
  }

  /** Undoes #makeVpc, last made first (the default route goes with the gateway's detach). */
  async #deleteVpc(): Promise<string> {
    const done: string[] = [];
    const { vpcId, subnetId, gatewayId } = this.#made;
    if (gatewayId && this.#made.gatewayAttached) {
      await this.#ec2.send(
        new DetachInternetGatewayCommand({ InternetGatewayId: gatewayId, VpcId: vpcId }),
      );
      this.#made.gatewayAttached = false;
    }
    if (gatewayId) {
      await this.#ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: gatewayId }));
      delete this.#made.gatewayId;
      done.push(gatewayId);
    }
    if (subnetId) {
      await this.#ec2.send(new DeleteSubnetCommand({ SubnetId: subnetId }));
      delete this.#made.subnetId;
      done.push(subnetId);
    }
    if (vpcId) {
      await this.#ec2.send(new DeleteVpcCommand({ VpcId: vpcId }));
      delete this.#made.vpcId;
      done.push(vpcId);
    }
    return done.join(' ');
  }

  /** Polls until every instance is in `state`; fails as soon as one can never get there. */
  async #waitFor(state: 'running' | 'terminated', timeoutMs: number): Promise<Instance[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = await this.#ec2.send(
        new DescribeInstancesCommand({ InstanceIds: this.#made.instanceIds }),
      );
      const list = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      const states = list.map((i) => i.State?.Name);
      if (list.length === this.#made.instanceIds.length && states.every((s) => s === state)) {
        return list;
      }
      if (state === 'running') {
        const dead = list.find((i) =>
          ['terminated', 'shutting-down', 'stopped'].includes(i.State?.Name ?? ''),
        );
        if (dead) {
          const why = dead.StateReason?.Message ?? dead.StateTransitionReason ?? '';
          throw new Error(
            `${dead.InstanceId} went ${dead.State?.Name} instead of running ${why}`.trim(),
          );
        }
      }
      if (Date.now() > deadline) {
        throw new Error(
          `not ${state} after ${Math.round(timeoutMs / 1000)} s (${states.join(', ')})`,
        );
      }
      if (this.#aborted) throw new Error('interrupted');
      await sleep(this.#opts.pollMs);
    }
  }

  async #associateFloatingIps(
    instances: Instance[],
  ): Promise<{ instanceId: string; host: string }[]> {
    const out: { instanceId: string; host: string }[] = [];
    for (const inst of instances) {
      const alloc = await this.#ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      const address = {
        allocationId: required(alloc.AllocationId, 'AllocateAddress returned no AllocationId'),
        publicIp: required(alloc.PublicIp, 'AllocateAddress returned no PublicIp'),
      } as Made['addresses'][number];
      this.#made.addresses.push(address);
      const assoc = await this.#ec2.send(
        new AssociateAddressCommand({
          AllocationId: address.allocationId,
          InstanceId: inst.InstanceId,
        }),
      );
      address.associationId = assoc.AssociationId;
      out.push({ instanceId: inst.InstanceId as string, host: address.publicIp });
    }
    return out;
  }

  /**
   * Where to ssh to an instance without an Elastic IP: its private address, or, for a guest on
   * QEMU's user-mode network (a host without the namespace data plane, ssh run from this
   * machine), the loopback port its console says ssh is forwarded from.
   */
  async #privateTarget(i: Instance): Promise<SshAddress> {
    const instanceId = i.InstanceId as string;
    if (!this.#opts.netns) {
      const c = await this.#ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
      const text = c.Output ? Buffer.from(c.Output, 'base64').toString('utf8') : '';
      const forwards = [...text.matchAll(/ssh to the guest is forwarded from 127\.0\.0\.1:(\d+)/g)];
      const last = forwards.at(-1);
      if (last) return { instanceId, host: '127.0.0.1', port: Number(last[1]) };
    }
    return { instanceId, host: privateIp(i) };
  }

  #sshTarget(host: string, port?: number): SshTarget {
    return {
      host,
      ...(port ? { port } : {}),
      user: this.#opts.sshUser,
      privateKey: this.#key,
      ...(this.#opts.netns ? { netns: this.#opts.netns } : {}),
    };
  }

  async #terminate(): Promise<string> {
    if (this.#made.instanceIds.length === 0 || this.#made.terminated) return '';
    await this.#ec2.send(new TerminateInstancesCommand({ InstanceIds: this.#made.instanceIds }));
    await this.#waitFor('terminated', this.#opts.bootTimeoutMs);
    this.#made.terminated = true;
    return this.#made.instanceIds.join(' ');
  }

  async #revoke(): Promise<undefined> {
    if (!this.#made.ruleAuthorized) return undefined;
    await this.#ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: this.#made.groupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    this.#made.ruleAuthorized = false;
    return undefined;
  }

  async #release(): Promise<string> {
    const released: string[] = [];
    while (this.#made.addresses.length > 0) {
      const a = this.#made.addresses[0] as Made['addresses'][number];
      // Terminating an instance disassociates its address; before that, it is ours to undo.
      if (a.associationId && !this.#made.terminated) {
        await this.#ec2.send(new DisassociateAddressCommand({ AssociationId: a.associationId }));
      }
      delete a.associationId;
      await this.#ec2.send(new ReleaseAddressCommand({ AllocationId: a.allocationId }));
      this.#made.addresses.shift();
      released.push(a.publicIp);
    }
    return released.join(' ');
  }

  async #deleteGroup(): Promise<undefined> {
    if (!this.#made.groupId) return undefined;
    await this.#ec2.send(new DeleteSecurityGroupCommand({ GroupId: this.#made.groupId }));
    delete this.#made.groupId;
    return undefined;
  }

  async #deleteKeypair(): Promise<undefined> {
    if (!this.#made.keyName) return undefined;
    await this.#ec2.send(new DeleteKeyPairCommand({ KeyName: this.#made.keyName }));
    delete this.#made.keyName;
    return undefined;
  }

  async #consoles(): Promise<ScenarioResult['consoles']> {
    const out: ScenarioResult['consoles'] = [];
    for (const instanceId of this.#made.instanceIds) {
      try {
        const c = await this.#ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
        out.push({
          instanceId,
          output: c.Output ? Buffer.from(c.Output, 'base64').toString('utf8') : '',
        });
      } catch (err) {
        out.push({ instanceId, output: `(no console output: ${describe(err)})` });
      }
    }
    return out;
  }

  /** Removes whatever the steps did not get to; returns what could not be removed. */
  async #cleanup(): Promise<string[]> {
    const leftovers: string[] = [];
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (err) {
        leftovers.push(`${what}: ${describe(err)}`);
      }
    };
    this.#aborted = false; // cleanup polls to the end even after an interrupt
    await attempt('addresses', () => this.#release());
    await attempt(`instances ${this.#made.instanceIds.join(' ')}`, () => this.#terminate());
    await attempt('ssh rule', () => this.#revoke());
    await attempt(`security group ${this.#made.groupId ?? ''}`, () => this.#deleteGroup());
    await attempt(`vpc ${this.#made.vpcId ?? ''}`, () => this.#deleteVpc());
    await attempt(`key pair ${this.#made.keyName ?? ''}`, () => this.#deleteKeypair());
    return leftovers;
  }
}

/** The first /24 of a VPC's CIDR (a network from /16 to /24), its one subnet. */
export function firstSubnet(cidr: string): string {
  const [a, b, c] = cidr.split('.');
  return `${a}.${b}.${c}.0/24`;
}

function privateIp(i: Instance): string {
  return required(i.PrivateIpAddress, `${i.InstanceId} has no private address`);
}

function required<T>(value: T | undefined | null, message: string): T {
  if (value === undefined || value === null || value === '') throw new Error(message);
  return value;
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { Code?: string; name?: string }).Code ?? err.name;
    return code && code !== 'Error' && !err.message.startsWith(code)
      ? `${code}: ${err.message}`
      : err.message;
  }
  return String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
