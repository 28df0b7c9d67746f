// Benchmark of real guests on the QEMU driver (TCG here, KVM where the host has it): a bare
// qemu boot of the guest image for comparison, the same guest through the driver and through
// the whole cloud's RunInstances on QEMU's user-mode network, each timed to running / banner
// on the console / ssh runs a command; RunInstances on the namespace data plane (DHCP, the
// metadata service, the security group), ssh at the private IP, with KVM and with TCG where
// the host has KVM; the memory and CPU one idle guest costs; five parallel boots.
//   npm run bench:qemu          (or: node dist/bench/qemu.js [--runs N])
import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeInstancesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { ImageRepo } from '../src/db/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud } from '../src/main.js';
import { removeDataPlane } from '../src/network/index.js';
import { sshRun } from '../src/smoke/ssh.js';
import { QemuDriver, type GuestSpec } from '../src/virt/index.js';
import { qemuArgs } from '../src/virt/qemu/cmdline.js';
import { RESPONDER_SCRIPT, writeMetadataTree } from '../src/virt/qemu/metadata-files.js';
import {
  GUEST,
  GUEST_DIR,
  makeKey,
  QEMU,
  sleep,
  sshAnswersIn,
  sshOnce,
  waitSshServer,
} from '../test/support/guest.js';
import { unavailable } from '../test/support/capabilities.js';
import { FREE_PORTS } from '../test/support/ports.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 3;
const BANNER = /=== Stratus guest \d+\.\d+ ===/;

interface Boot {
  running: number;
  banner: number;
  ssh: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function report(label: string, boots: Boot[]): void {
  const col = (k: keyof Boot) =>
    `${s(median(boots.map((b) => b[k])))} (${boots.map((b) => (b[k] / 1000).toFixed(2)).join(', ')})`;
  console.log(`${label}`);
  if (boots.some((b) => b.running > 0)) console.log(`  -> running           ${col('running')}`);
  console.log(`  -> banner on console ${col('banner')}`);
  console.log(`  -> ssh runs command  ${col('ssh')}`);
}

/** Milliseconds from `t0` until `probe` holds, polling every `everyMs`. */
async function until(t0: number, probe: () => Promise<boolean>, everyMs = 20): Promise<number> {
  const deadline = Date.now() + 180_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('gave up after 180 s');
    await sleep(everyMs);
  }
  return Date.now() - t0;
}

/** The guest's ssh server answers, then a command runs (a probe first: see waitSshServer). */
const sshWorks = (port: number, key: string) => {
  let listening = false;
  return async () => {
    if (!listening) {
      await waitSshServer(port, 180_000);
      listening = true;
    }
    return (await sshOnce(port, key, 'true', 10_000)).ok;
  };
};

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function metadata(publicKey: string, name: string): Record<string, string> {
  return {
    '/latest/meta-data/instance-id': name,
    '/latest/meta-data/local-hostname': name,
    '/latest/meta-data/public-keys/0/openssh-key': `${publicKey}\n`,
  };
}

/** qemu started by hand with the driver's own flags (not detached), for the baseline. */
async function bareBoot(
  accelerator: 'kvm' | 'tcg',
  dir: string,
  key: string,
  publicKey: string,
  port: number,
): Promise<Boot> {
  const vm = path.join(dir, `bare-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(vm);
  writeMetadataTree(path.join(vm, 'md'), metadata(publicKey, 'bare'));
  fs.writeFileSync(path.join(vm, 'md.sh'), RESPONDER_SCRIPT, { mode: 0o755 });
  const consoleLog = path.join(vm, 'console.log');
  const args = qemuArgs({
    serialSocket: path.join(vm, 'serial.sock'),
    name: 'bench-bare',
    accelerator,
    memoryMb: 128,
    vcpus: 1,
    kernel: GUEST.kernel,
    ramdisk: GUEST.ramdisk,
    consoleLog,
    qmpSocket: path.join(vm, 'qmp.sock'),
    pidFile: path.join(vm, 'qemu.pid'),
    macAddress: '52:54:00:00:00:09',
    attachment: { kind: 'user' },
    sshPort: port,
    metadataCommand: `/bin/sh ${path.join(vm, 'md.sh')} ${path.join(vm, 'md')}`,
    tbSizeMb: 64,
  }).filter((a) => a !== '-daemonize');
  const t0 = Date.now();
  const child = spawn(QEMU, args, { stdio: 'ignore' });
  try {
    const running = 0;
    const banner = await until(t0, async () =>
      BANNER.test(fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8') : ''),
    );
    const ssh = await until(t0, sshWorks(port, key), 50);
    return { running, banner, ssh };
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as import('node:net').AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

function guestSpec(publicKey: string): GuestSpec {
  const id = randomUUID();
  return {
    instanceId: id,
    name: `bench-${id.slice(0, 8)}`,
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    imageId: 'bench',
    image: { path: GUEST.disk, format: 'qcow2' },
    kernel: { path: GUEST.kernel },
    ramdisk: { path: GUEST.ramdisk },
    network: { macAddress: '52:54:00:00:00:0a', attachment: { kind: 'user' } },
    metadata: metadata(publicKey, `bench-${id.slice(0, 8)}`),
  };
}

async function driverBoot(driver: QemuDriver, key: string, publicKey: string): Promise<Boot> {
  const spec = guestSpec(publicKey);
  const t0 = Date.now();
  const info = await driver.spawn(spec);
  const running = Date.now() - t0;
  try {
    const banner = await until(t0, async () =>
      BANNER.test(await driver.consoleOutput(spec.instanceId, 65536)),
    );
    const ssh = await until(t0, sshWorks(info.ssh?.port ?? 0, key), 50);
    return { running, banner, ssh };
  } finally {
    await driver.destroy(spec.instanceId);
  }
}

async function main(): Promise<void> {
  // Stratus supports Node.js 20; the AWS SDK's notice about its own future needs is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const why = unavailable('qemu', 'qemu-img', 'ssh', 'guest-image');
  if (why) {
    console.log(`bench:qemu skipped: ${why}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqb-'));
  const { keyFile, publicKey } = makeKey(dir, 'bench');
  const driver = new QemuDriver({ stateDir: path.join(dir, 'q') });
  await driver.init();
  console.log(
    `Stratus QEMU benchmark: ${driver.capabilities.accelerator} (${driver.acceleration.reason}), ` +
      `${os.cpus().length} cores, guest 1 vCPU / 128 MiB, ${RUNS} runs each; median (runs)`,
  );
  // RunInstances on the namespace data plane: with each accelerator the host has.
  const planeSkip = unavailable('netns');
  const accelerators: ('kvm' | 'tcg')[] =
    driver.capabilities.accelerator === 'kvm' ? ['kvm', 'tcg'] : ['tcg'];
  const clouds: Ec2Path[] = [];
  try {
    // Warm the base image caches and the page cache first; then the paths take turns, so that
    // load from elsewhere on the host falls on all of them alike.
    const accel = driver.acceleration.accelerator;
    clouds.push(
      await ec2Cloud(path.join(dir, 'cloud-user'), keyFile, publicKey, { accelerator: accel }),
    );
    if (!planeSkip) {
      for (const a of accelerators) {
        clouds.push(
          await ec2Cloud(path.join(dir, `cloud-ns-${a}`), keyFile, publicKey, {
            accelerator: a,
            namespace: `st-bench-${randomUUID().slice(0, 6)}-${a}`,
          }),
        );
      }
    }
    await driverBoot(driver, keyFile, publicKey);
    for (const c of clouds) await c.boot();
    const bare: Boot[] = [];
    const viaDriver: Boot[] = [];
    const viaEc2 = clouds.map(() => [] as Boot[]);
    for (let i = 0; i < RUNS; i++) {
      bare.push(await bareBoot(accel, dir, keyFile, publicKey, await freePort()));
      viaDriver.push(await driverBoot(driver, keyFile, publicKey));
      for (const [j, c] of clouds.entries()) viaEc2[j]?.push(await c.boot());
    }
    report(`bare qemu (${accel}, same flags, started by hand)`, bare);
    report('QemuDriver.spawn', viaDriver);
    for (const [j, c] of clouds.entries()) report(c.label, viaEc2[j] ?? []);
    const overhead = median((viaEc2[0] ?? []).map((b) => b.ssh)) - median(bare.map((b) => b.ssh));
    console.log(
      `Stratus adds ${s(overhead)} to the bare boot to ssh (EC2 path, user mode, medians)`,
    );
    if (planeSkip) console.log(`RunInstances on the namespace data plane: skipped, ${planeSkip}`);
    else if (accelerators.length === 1)
      console.log(`RunInstances with KVM: not measured, ${driver.acceleration.reason}`);
    console.log(
      `load average at the end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    for (const c of clouds.splice(0)) await c.stop();

    // One idle guest: memory and CPU.
    const spec = guestSpec(publicKey);
    const info = await driver.spawn(spec);
    await until(Date.now(), sshWorks(info.ssh?.port ?? 0, keyFile), 100);
    await sleep(5000);
    const pid = Number(
      fs.readFileSync(path.join(dir, 'q', 'instances', spec.instanceId, 'pid'), 'utf8'),
    );
    const cpu0 = cpuSeconds(pid);
    await sleep(10_000);
    const cpu = (cpuSeconds(pid) - cpu0) / 10;
    console.log(
      `one idle guest: qemu RSS ${rssMb(pid).toFixed(0)} MiB, CPU ${(cpu * 100).toFixed(1)} % of a core`,
    );
    await driver.destroy(spec.instanceId);

    // Five at once.
    const specs = Array.from({ length: 5 }, () => guestSpec(publicKey));
    const t0 = Date.now();
    const infos = await Promise.all(specs.map((sp) => driver.spawn(sp)));
    const each = await Promise.all(
      infos.map((g) => until(t0, sshWorks(g.ssh?.port ?? 0, keyFile), 100)),
    );
    console.log(
      `5 parallel boots through the driver, to ssh: all by ${s(Math.max(...each))} ` +
        `(first ${s(Math.min(...each))})`,
    );
    await Promise.all(specs.map((sp) => driver.destroy(sp.instanceId)));
  } finally {
    for (const c of clouds) await c.stop();
    for (const g of await driver.list()) await driver.destroy(g.instanceId);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Ec2Path {
  label: string;
  boot(): Promise<Boot>;
  stop(): Promise<void>;
}

/** The guest's ssh server answers inside `netns`, then a command runs. */
const sshWorksIn = (netns: string, address: string, privateKey: string) => {
  let answered = false;
  return async () => {
    answered ||= await sshAnswersIn(netns, address);
    if (!answered) return false;
    const target = { host: address, user: 'root', privateKey, netns };
    await sshRun(target, 'true', { timeoutMs: 30_000, pollMs: 50 });
    return true;
  };
};

/**
 * A whole cloud on the qemu driver in this process, and a way to time one RunInstances: on
 * QEMU's user-mode network (ssh forwarded on loopback, measured as the bare boot is), or with a
 * `namespace` on the data plane (ssh from that namespace at the guest's private IP).
 */
async function ec2Cloud(
  stateDir: string,
  keyFile: string,
  publicKey: string,
  plane: { accelerator: 'kvm' | 'tcg'; namespace?: string },
): Promise<Ec2Path> {
  const netns = plane.namespace;
  const config = loadConfig({
    env: {},
    flags: {
      'state-dir': stateDir,
      virt: 'qemu',
      'qemu-accelerator': plane.accelerator,
      ...(netns
        ? { 'data-plane': 'namespace', 'data-plane-namespace': netns }
        : { 'data-plane': 'user' }),
      ...FREE_PORTS,
      'log-level': 'warn',
      'guest-image-dir': GUEST_DIR,
    },
  });
  const label = netns
    ? `EC2 RunInstances, namespace data plane, ssh at the private IP (${plane.accelerator})`
    : `EC2 RunInstances, QEMU user-mode network (${plane.accelerator})`;
  const privateKey = fs.readFileSync(keyFile, 'utf8');
  const cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
    bootstrap: true,
    logger: silentLogger(),
  });
  const admin = cloud.admin;
  if (!admin || !cloud.urls) throw new Error('the cloud has no admin or no API');
  const client = new EC2Client({
    endpoint: cloud.urls.ec2,
    region: config.region,
    credentials: {
      accessKeyId: admin.credential.accessKey,
      secretAccessKey: admin.credential.secretKey,
    },
    maxAttempts: 1,
  });
  const stop = async () => {
    client.destroy();
    await cloud.stop();
    // The data plane outlives the cloud by design (guests keep their network): remove it.
    if (netns) await removeDataPlane(netns);
  };
  try {
    // The first start imported the guest image (aki, ari and ami).
    const ami = await new ImageRepo(cloud.database.db).findByName(null, 'stratus-guest');
    if (!ami) throw new Error(`the cloud did not import the guest image from ${GUEST_DIR}`);
    await client.send(
      new ImportKeyPairCommand({ KeyName: 'bench', PublicKeyMaterial: Buffer.from(publicKey) }),
    );
    // On the data plane the default group lets nothing in until it is told to.
    if (netns) {
      await client.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupName: 'default',
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        }),
      );
    }
    const boot = async (): Promise<Boot> => {
      const t0 = Date.now();
      const r = await client.send(
        new RunInstancesCommand({
          ImageId: `ami-${ami.id.replace(/-/g, '').slice(0, 17)}`,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          KeyName: 'bench',
        }),
      );
      const id = r.Instances?.[0]?.InstanceId as string;
      // Polling the API costs CPU the guest needs on a small host: every 100 ms, not faster.
      const running = await until(
        t0,
        async () => {
          const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
          return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running';
        },
        20,
      );
      let text = '';
      const banner = await until(
        t0,
        async () => {
          const o = await client.send(new GetConsoleOutputCommand({ InstanceId: id }));
          text = Buffer.from(o.Output ?? '', 'base64').toString();
          return BANNER.test(text);
        },
        100,
      );
      let ssh: number;
      if (netns) {
        const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        const ip = d.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '';
        ssh = await until(t0, sshWorksIn(netns, ip, privateKey), 50);
      } else {
        const port = Number(/forwarded from 127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
        ssh = await until(t0, sshWorks(port, keyFile), 50);
      }
      await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await until(Date.now(), async () => {
        const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'terminated';
      });
      return { running, banner, ssh };
    };
    return { label, boot, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
