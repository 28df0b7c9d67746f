// `stratus smoke`: the end-to-end check of a cloud through its EC2 API, from any machine.
import { Command, InvalidArgumentError, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/index.js';
import { invalid } from '../errors.js';
import { parseCidr } from '../network/index.js';
import type { Ec2Endpoint } from '../smoke/index.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return n;
}

function vpcCidr(value: string): string {
  const cidr = parseCidr(value, 16);
  if (!cidr || cidr.prefix > 24) {
    throw new InvalidArgumentError('must be an IPv4 network from /16 to /24, such as 10.77.0.0/16');
  }
  return value;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('must be a number of seconds > 0');
  return n;
}

/** Reads `export NAME='value'` lines, as `stratus manage rc` and the all-in-one write them. */
export function parseRcFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = (m[2] as string).trim();
    if (value.startsWith("'")) value = value.replace(/^'|'$/g, '').replace(/'\\''/g, "'");
    else if (value.startsWith('"')) value = value.replace(/^"|"$/g, '');
    out[m[1] as string] = value;
  }
  return out;
}

interface EndpointFlags {
  endpointUrl?: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  rc?: string;
  caBundle?: string;
}

/**
 * Where and as whom to test: flags, then an rc file (`--rc`), then the environment; with
 * none of these, the rc file the all-in-one wrote on this machine.
 */
export function resolveEndpoint(
  flags: EndpointFlags,
  env: NodeJS.ProcessEnv,
): Ec2Endpoint & { guestNetns?: string } {
  let rc: Record<string, string> = {};
  const fromEnv = env.AWS_ACCESS_KEY_ID || env.EC2_ACCESS_KEY;
  const rcPath =
    flags.rc ??
    (fromEnv || flags.accessKey
      ? undefined
      : path.join(loadConfig({ env: {}, flags: {} }).stateDir, 'stratusrc'));
  if (rcPath) {
    if (!fs.existsSync(rcPath)) {
      if (flags.rc) throw invalid(`The rc file ${rcPath} does not exist.`);
    } else {
      rc = parseRcFile(fs.readFileSync(rcPath, 'utf8'));
    }
  }
  const pick = (...values: (string | undefined)[]) =>
    values.find((v) => v !== undefined && v !== '');
  const url = pick(
    flags.endpointUrl,
    rc.AWS_ENDPOINT_URL_EC2,
    rc.EC2_URL,
    env.AWS_ENDPOINT_URL_EC2,
    env.EC2_URL,
  );
  const accessKeyId = pick(
    flags.accessKey,
    rc.AWS_ACCESS_KEY_ID,
    rc.EC2_ACCESS_KEY,
    env.AWS_ACCESS_KEY_ID,
    env.EC2_ACCESS_KEY,
  );
  const secretAccessKey = pick(
    flags.secretKey,
    rc.AWS_SECRET_ACCESS_KEY,
    rc.EC2_SECRET_KEY,
    env.AWS_SECRET_ACCESS_KEY,
    env.EC2_SECRET_KEY,
  );
  const region =
    pick(flags.region, rc.AWS_DEFAULT_REGION, env.AWS_DEFAULT_REGION, env.AWS_REGION) ??
    'RegionOne';
  const missing = [
    !url && 'the EC2 endpoint (--endpoint-url or EC2_URL)',
    !accessKeyId && 'the access key (--access-key or AWS_ACCESS_KEY_ID)',
    !secretAccessKey && 'the secret key (--secret-key or AWS_SECRET_ACCESS_KEY)',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw invalid(
      `stratus smoke needs ${missing.join(', ')}; source a stratusrc file or pass --rc FILE.`,
    );
  }
  try {
    new URL(url as string);
  } catch {
    throw invalid(`The EC2 endpoint '${url}' is not a URL.`);
  }
  // The namespace from which this machine reaches guests, when the cloud runs here.
  const guestNetns = pick(rc.STRATUS_GUEST_NETNS, env.STRATUS_GUEST_NETNS);
  // The CA an https endpoint's certificate is trusted with, as the AWS CLI reads it.
  const caFile = pick(flags.caBundle, rc.AWS_CA_BUNDLE, env.AWS_CA_BUNDLE);
  if (caFile && !fs.existsSync(caFile)) throw invalid(`The CA bundle ${caFile} does not exist.`);
  return {
    url: url as string,
    region,
    accessKeyId: accessKeyId as string,
    secretAccessKey: secretAccessKey as string,
    ...(caFile ? { caFile } : {}),
    ...(guestNetns ? { guestNetns } : {}),
  };
}

export function smokeCommand(exit: (code: number) => void): Command {
  const cmd = new Command('smoke')
    .description(
      'Check a cloud end to end: key pair, image, run, wait, open ssh, address, ssh in, ' +
        'terminate, revoke, delete. Cleans up what it made, also on Ctrl-C.',
    )
    .option('--endpoint-url <url>', 'EC2 endpoint (env AWS_ENDPOINT_URL_EC2 or EC2_URL).')
    .option('--access-key <key>', 'Access key (env AWS_ACCESS_KEY_ID).')
    .option('--secret-key <key>', 'Secret key (env AWS_SECRET_ACCESS_KEY).')
    .option('--region <name>', 'Region (env AWS_DEFAULT_REGION).')
    .option('--rc <file>', 'Read endpoint and credentials from this rc file.')
    .option(
      '--ca-bundle <file>',
      "PEM CA bundle to trust an https endpoint's certificate with (env AWS_CA_BUNDLE).",
    )
    .option('--image <id-or-name>', 'Image to boot (default: the Stratus guest image).')
    .option('--instance-type <name>', 'Instance type.', 'm1.tiny')
    .addOption(new Option('--parallel <n>', 'Scenarios at once.').argParser(positiveInt).default(1))
    .addOption(
      new Option('--instances <k>', 'Instances per scenario.').argParser(positiveInt).default(1),
    )
    .addOption(new Option('--iterations <m>', 'Times to repeat.').argParser(positiveInt).default(1))
    .option('--floating-ip', 'Reach each guest at an allocated and associated Elastic IP.', false)
    .addOption(
      new Option(
        '--vpc <cidr>',
        'Run in a VPC of its own with this CIDR (/16 to /24), through an internet gateway and Elastic IPs.',
      ).argParser(vpcCidr),
    )
    .option('--ssh-user <name>', 'User to ssh in as.', 'root')
    .option('--ssh-command <command>', 'Command to run in the guest.', 'uname -a')
    .option(
      '--netns <names>',
      'Run ssh from inside these network namespaces (comma-separated; scenario k uses the k-th; default STRATUS_GUEST_NETNS).',
    )
    .addOption(
      new Option('--boot-timeout <seconds>', 'How long an instance may take to be running.')
        .argParser(seconds)
        .default(300),
    )
    .addOption(
      new Option('--ssh-timeout <seconds>', 'How long ssh may take to be accepted once running.')
        .argParser(seconds)
        .default(180),
    )
    .option('--junit <file>', 'Write JUnit XML results to this file.');
  cmd.action(async () => {
    // Stratus supports Node.js 20; the SDK's notice about its own future needs is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const o = cmd.opts() as EndpointFlags & {
      image?: string;
      instanceType: string;
      parallel: number;
      instances: number;
      iterations: number;
      floatingIp: boolean;
      vpc?: string;
      sshUser: string;
      sshCommand: string;
      netns?: string;
      bootTimeout: number;
      sshTimeout: number;
      junit?: string;
    };
    const { guestNetns, ...endpoint } = resolveEndpoint(o, process.env);
    const netns = o.netns ?? guestNetns;
    // Loaded when the command runs: the AWS SDK it brings would otherwise cost every service
    // process (a compute host, an api) tens of MiB it never uses.
    const { runSmoke } = await import('../smoke/index.js');
    const summary = await runSmoke({
      endpoint,
      scenario: {
        ...(o.image ? { image: o.image } : {}),
        instanceType: o.instanceType,
        instances: o.instances,
        floatingIp: o.floatingIp,
        ...(o.vpc !== undefined ? { vpcCidr: o.vpc } : {}),
        sshUser: o.sshUser,
        sshCommand: o.sshCommand,
        bootTimeoutMs: o.bootTimeout * 1000,
        sshTimeoutMs: o.sshTimeout * 1000,
        pollMs: 500,
      },
      parallel: o.parallel,
      iterations: o.iterations,
      netns: netns
        ? netns
            .split(',')
            .map((n) => n.trim())
            .filter(Boolean)
        : [],
      ...(o.junit ? { junitFile: o.junit } : {}),
    });
    if (summary.failed > 0 || summary.interrupted || summary.results.length === 0) exit(1);
  });
  return cmd;
}
