// Boots the guest image that guest/build.sh makes, under TCG with direct kernel boot and QEMU's
// user-mode network: the guest must print its banner and DHCP settings, install the SSH key it
// fetches from a metadata responder (served through guestfwd), run its user-data script, let
// ssh in with that key, and power off on an ACPI power-button press. Traffic stays on loopback
// and inside QEMU's user-mode network. With guest-ext4 and qemu-img it also hot-plugs a blank
// qcow2 disk over QMP (blockdev-add + device_add, as a volume attach does), makes, mounts,
// writes and reads an ext4 filesystem on it from inside the guest, unplugs it, and finds the
// file in the disk image from the host. Needs the capabilities qemu, ssh and guest-image.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { freePort } from '../src/ports.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const SSH = '/usr/bin/ssh';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SSH_KEYSCAN = '/usr/bin/ssh-keyscan';
const IMAGE_DIR = process.env.STRATUS_GUEST_CACHE || '/var/cache/stratus/guest';
const MAC = '52:54:00:5a:00:01';

// The metadata responder: QEMU starts it for each guest connection to 169.254.169.254:80 with
// the connection on stdin and stdout. It answers one HTTP request from data.json and logs the
// path it was asked for.
const RESPONDER = `import fs from 'node:fs';
const here = new URL('.', import.meta.url);
const data = JSON.parse(fs.readFileSync(new URL('data.json', here), 'utf8'));
let request = '';
process.stdin.on('data', (chunk) => {
  request += chunk.toString('latin1');
  if (!request.includes('\\r\\n\\r\\n')) return;
  const target = request.split(' ')[1] ?? '';
  fs.appendFileSync(new URL('requests.log', here), target + '\\n');
  const body = data[target];
  const status = body === undefined ? '404 Not Found' : '200 OK';
  const text = body ?? '';
  process.stdout.end(
    'HTTP/1.0 ' + status + '\\r\\nContent-Type: text/plain\\r\\nContent-Length: ' +
      Buffer.byteLength(text) + '\\r\\nConnection: close\\r\\n\\r\\n' + text,
    () => process.exit(0),
  );
});
process.stdin.on('end', () => process.exit(0));
`;

/** SHA256 fingerprints hold characters (+, /) that mean something in a regular expression. */
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

type QmpCommand = string | { execute: string; arguments?: Record<string, unknown> };

/** Sends QMP commands in order after the capabilities handshake; resolves with the replies. */
function qmp(socketPath: string, commands: QmpCommand[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const queue: QmpCommand[] = ['qmp_capabilities', ...commands];
    const replies: unknown[] = [];
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('QMP did not answer within 10 s'));
    }, 10_000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (chunk) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if ('event' in msg) continue;
        if ('error' in msg) {
          clearTimeout(timer);
          sock.destroy();
          reject(new Error(`QMP error: ${JSON.stringify(msg.error)}`));
          return;
        }
        if ('return' in msg) replies.push(msg.return);
        const next = queue.shift();
        if (next === undefined) {
          clearTimeout(timer);
          sock.end();
          resolve(replies.slice(1));
          return;
        }
        sock.write(JSON.stringify(typeof next === 'string' ? { execute: next } : next) + '\n');
      }
    });
  });
}

const NEEDS = needs('qemu', 'ssh', 'guest-image');
const NEEDS_EXT4 = needs('qemu', 'qemu-img', 'ssh', 'guest-ext4');

describe('guest image (QEMU, TCG, direct kernel boot)', NEEDS, () => {
  let dir: string;
  let qemu: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let started = 0;
  let port = 0;
  let consoleLog: string;
  let qmpSocket: string;
  let qemuStderr = '';
  const token = randomBytes(6).toString('hex');
  const timings: Record<string, number> = {};
  let poweroffSeconds: number | undefined;

  const elapsed = () => (Date.now() - started) / 1000;
  const consoleText = () => (fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8') : '');

  /** Waits until the console matches `re`; records the time under `label`. */
  async function waitConsole(
    re: RegExp,
    seconds: number,
    label: string,
  ): Promise<RegExpMatchArray> {
    const deadline = started + seconds * 1000;
    for (;;) {
      const m = consoleText().match(re);
      if (m) {
        timings[label] ??= elapsed();
        return m;
      }
      if (qemu?.exitCode !== null || Date.now() > deadline) {
        const why = qemu?.exitCode !== null ? 'qemu exited' : `not within ${seconds} s`;
        assert.fail(
          `console never matched ${re} (${why})\n--- console ---\n${consoleText()}\n` +
            `--- qemu stderr ---\n${qemuStderr}`,
        );
      }
      await sleep(100);
    }
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-guest-'));
    consoleLog = path.join(dir, 'console.log');
    qmpSocket = path.join(dir, 'qmp.sock');
    const key = path.join(dir, 'id_ed25519');
    execFileSync(SSH_KEYGEN, [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `stratus-test-${token}`,
      '-f',
      key,
    ]);
    fs.writeFileSync(path.join(dir, 'responder.mjs'), RESPONDER);
    fs.writeFileSync(
      path.join(dir, 'data.json'),
      JSON.stringify({
        '/latest/meta-data/public-keys/0/openssh-key': fs.readFileSync(`${key}.pub`, 'utf8'),
        '/latest/meta-data/local-hostname': 'i-guesttest.stratus.internal',
        '/latest/user-data': `#!/bin/sh\necho "user-data says hello ${token}"\n`,
      }),
    );
    port = await freePort();
    // QEMU option values escape a comma by doubling it.
    const responder = `${process.execPath} ${path.join(dir, 'responder.mjs')}`.replace(/,/g, ',,');
    const args = [
      '-accel',
      'tcg',
      '-machine',
      'pc',
      '-m',
      '128',
      '-smp',
      '1',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-no-reboot',
      '-kernel',
      path.join(IMAGE_DIR, 'vmlinux'),
      '-initrd',
      path.join(IMAGE_DIR, 'initrd.img'),
      '-append',
      'console=ttyS0 quiet panic=-1',
      '-chardev',
      `file,id=con,path=${consoleLog}`,
      '-serial',
      'chardev:con',
      '-device',
      'virtio-rng-pci',
      '-netdev',
      `user,id=n0,restrict=on,net=169.254.169.0/24,` +
        `hostfwd=tcp:127.0.0.1:${port}-:22,guestfwd=tcp:169.254.169.254:80-cmd:${responder}`,
      '-device',
      `virtio-net-pci,netdev=n0,mac=${MAC},romfile=`,
      '-qmp',
      `unix:${qmpSocket},server=on,wait=off`,
    ];
    started = Date.now();
    const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    qemu = child;
    child.stderr?.on('data', (c: Buffer) => (qemuStderr += c.toString()));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  });

  after(async () => {
    if (qemu && qemu.exitCode === null && qemu.pid !== undefined) {
      process.kill(qemu.pid, 'SIGKILL');
      await exited;
    }
    if (Object.keys(timings).length > 0) {
      const line = Object.entries(timings)
        .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
        .join(', ');
      console.log(`# guest timings from qemu start (TCG, vmlinux, virtio-rng): ${line}`);
    }
    if (poweroffSeconds !== undefined) {
      console.log(`# qemu exited ${poweroffSeconds.toFixed(2)} s after system_powerdown`);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints its banner on the serial console within 60 s', async () => {
    const m = await waitConsole(/=== Stratus guest (\S+) ===/, 60, 'banner');
    assert.match(m[1] ?? '', /^\d+\.\d+/);
    // The version line follows the banner (it may not be written yet when the banner is).
    // Each pattern ends with the character after its last field: the console may be read while
    // the guest is half-way through writing a line.
    const v = await waitConsole(/^stratus-guest (\S+) \(kernel (\S+)\s/m, 60, 'version');
    assert.equal(v[1], m[1]);
    assert.match(v[2] ?? '', /-amd64,?$/);
  });

  it('takes an address over DHCP and prints its network settings', async () => {
    const m = await waitConsole(
      /^net: eth0 ip=(\S+)\/(\d+) gateway=(\S+) mac=(\S+)\s/m,
      90,
      'dhcp',
    );
    assert.match(m[1] ?? '', /^169\.254\.169\.\d+$/);
    assert.equal(m[2], '24');
    assert.equal(m[4], MAC);
  });

  it('installs the metadata key: ssh with that key runs uname -a', async () => {
    const key = path.join(dir, 'id_ed25519');
    const deadline = started + 120_000;
    let last = { ok: false, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      last = await run(
        SSH,
        [
          '-i',
          key,
          '-o',
          'StrictHostKeyChecking=no',
          '-o',
          'UserKnownHostsFile=/dev/null',
          '-o',
          'BatchMode=yes',
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'ConnectTimeout=10',
          '-o',
          'LogLevel=ERROR',
          '-p',
          String(port),
          'root@127.0.0.1',
          'uname',
          '-a',
        ],
        30_000,
      );
      if (last.ok) break;
      if (qemu?.exitCode !== null) break;
      await sleep(250);
    }
    assert.ok(last.ok, `ssh failed: ${last.stderr}\n--- console ---\n${consoleText()}`);
    timings.ssh ??= elapsed();
    assert.match(last.stdout, /^Linux i-guesttest \S+ .* x86_64/);
    const requests = fs.readFileSync(path.join(dir, 'requests.log'), 'utf8');
    assert.match(requests, /^\/latest\/meta-data\/public-keys\/0\/openssh-key$/m);
    // The console names the key it installed by its fingerprint and comment.
    const fp = execFileSync(SSH_KEYGEN, ['-l', '-f', `${key}.pub`])
      .toString()
      .split(' ')[1];
    assert.match(
      consoleText(),
      new RegExp(
        `authorized key for root: ssh-ed25519 ${escapeRegExp(fp ?? '?')} stratus-test-${token}`,
      ),
    );
  });

  /** Runs `command` on the guest as root over the forwarded port. */
  const ssh = (command: string, timeoutMs = 120_000) =>
    run(
      SSH,
      [
        '-i',
        path.join(dir, 'id_ed25519'),
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'ConnectTimeout=10',
        '-o',
        'LogLevel=ERROR',
        '-p',
        String(port),
        'root@127.0.0.1',
        command,
      ],
      timeoutMs,
    );

  it('makes, mounts, writes and reads ext4 on a hot-plugged virtio disk', NEEDS_EXT4, async () => {
    const disk = path.join(dir, 'volume.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
    const serial = `vol-${token}`.slice(0, 20);
    const t0 = Date.now();
    await qmp(qmpSocket, [
      {
        execute: 'blockdev-add',
        arguments: {
          'node-name': 'vol1',
          driver: 'qcow2',
          file: { driver: 'file', filename: disk },
        },
      },
      {
        execute: 'device_add',
        arguments: { driver: 'virtio-blk-pci', drive: 'vol1', id: 'vol1dev', serial },
      },
    ]);
    // The guest finds the disk by its serial (the ACPI hot-plug event makes /dev/vdX appear
    // through devtmpfs; there is no udev).
    const find = `for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = ${serial} ] && echo \${b##*/}; done`;
    let dev = '';
    while (Date.now() - t0 < 60_000 && !dev) {
      const r = await ssh(find, 30_000);
      dev = r.stdout.trim();
      if (!dev) await sleep(250);
    }
    assert.match(dev, /^vd[a-z]$/, `no disk with serial ${serial}\n${consoleText()}`);
    timings['hotplug-seen'] = (Date.now() - t0) / 1000;
    const text = `written on ext4 ${token}`;
    const r = await ssh(
      [
        'set -e',
        `mkfs.ext4 -q -L stratus-vol /dev/${dev}`,
        'mkdir -p /mnt/vol',
        `mount -t ext4 /dev/${dev} /mnt/vol`,
        `echo '${text}' > /mnt/vol/hello.txt`,
        'sync',
        'umount /mnt/vol',
        'echo 3 > /proc/sys/vm/drop_caches',
        `mount -t ext4 -o ro /dev/${dev} /mnt/vol`,
        'cat /mnt/vol/hello.txt',
        "grep ' /mnt/vol ' /proc/mounts",
        'umount /mnt/vol',
        `e2fsck -n /dev/${dev} >/dev/null && echo fsck-clean`,
      ].join('\n'),
    );
    assert.ok(r.ok, `${r.stderr}\n--- console ---\n${consoleText()}`);
    assert.match(r.stdout, new RegExp(`^${text}$`, 'm'));
    assert.match(r.stdout, /^\/dev\/vd[a-z] \/mnt\/vol ext4 ro/m);
    assert.match(r.stdout, /^fsck-clean$/m);
    // The modules came on demand, through the guest's modprobe.
    const mods = await ssh('cat /proc/modules');
    assert.match(mods.stdout, /^ext4 /m);
    assert.match(mods.stdout, /^jbd2 /m);
    timings['ext4-done'] = (Date.now() - t0) / 1000;

    // Unplug: the guest lets go of the device (ACPI eject), then the block node can go.
    await qmp(qmpSocket, [{ execute: 'device_del', arguments: { id: 'vol1dev' } }]);
    let gone = false;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !gone;) {
      const pci = (await qmp(qmpSocket, ['query-block']))[0] as { qdev?: string }[];
      gone = !pci.some((b) => b.qdev?.includes('vol1dev'));
      if (!gone) await sleep(250);
    }
    assert.ok(gone, 'the guest never released the hot-plugged disk');
    await qmp(qmpSocket, [{ execute: 'blockdev-del', arguments: { 'node-name': 'vol1' } }]);
    const left = await ssh(find, 30_000);
    assert.equal(left.stdout.trim(), '');

    // What the guest wrote is in the disk image: read it from the host with debugfs.
    const raw = path.join(dir, 'volume.raw');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk, raw]);
    const cat = await run('/sbin/debugfs', ['-R', 'cat /hello.txt', raw], 30_000);
    assert.ok(cat.ok, cat.stderr);
    assert.equal(cat.stdout.trim(), text);
  });

  it('prints the fingerprint of the host key its SSH server presents', async () => {
    const scan = await run(SSH_KEYSCAN, ['-t', 'ed25519', '-p', String(port), '127.0.0.1'], 30_000);
    assert.ok(scan.ok, scan.stderr);
    const fp = execFileSync(SSH_KEYGEN, ['-l', '-f', '-'], { input: scan.stdout })
      .toString()
      .split(' ')[1];
    const m = await waitConsole(
      /-----BEGIN SSH HOST KEY FINGERPRINTS-----\r?\n256 (SHA256:\S+) root@\S+ \(ED25519\)\r?\n/,
      120,
      'hostkey',
    );
    assert.equal(m[1], fp);
  });

  it('runs its #! user-data script and reports ready', async () => {
    await waitConsole(/=== Stratus guest ready/, 120, 'ready');
    await waitConsole(new RegExp(`user-data says hello ${token}`), 120, 'user-data');
    await waitConsole(/user-data script exited with status 0/, 120, 'user-data-exit');
  });

  it('powers off within 30 s of system_powerdown over QMP', async () => {
    const t0 = Date.now();
    await qmp(qmpSocket, ['system_powerdown']);
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
    assert.notEqual(code, 'timeout', `qemu still running 30 s after system_powerdown`);
    assert.equal(code, 0);
    poweroffSeconds = (Date.now() - t0) / 1000;
    assert.match(consoleText(), /powering off \(ACPI power button\)/);
  });
});
