// The Compute API's server actions on real guests (the qemu driver, QEMU's user-mode network):
// one guest, reused across the steps because TCG is slow. Pause stops it answering ssh and
// unpause brings it back without a reboot; suspend saves its state (a file in its tmpfs /tmp
// survives resume); rescue boots the image with the guest's own disk second; resize gives it
// the new flavor's memory and a grown disk, revert and confirm; rebuild gives it a new disk
// from another image with the same address, and ssh gets in again. Skipped when QEMU or the
// guest image is missing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { ImageRepo } from '../src/db/index.js';
import { IdentityService } from '../src/identity/index.js';
import { ImageStore } from '../src/image/index.js';
import { silentLogger } from '../src/log.js';
import { startCloud, type Cloud } from '../src/main.js';
import { needs } from './support/capabilities.js';
import {
  BANNER,
  count,
  eventually,
  GUEST,
  GUEST_DIR,
  makeKey,
  sshOnce,
  sshUntil,
  waitSshServer,
  killLeftoverGuests,
} from './support/guest.js';
import { login, PASSWORD } from './support/openstack.js';
import { FREE_PORTS } from './support/ports.js';

const NEEDS = needs('qemu', 'qemu-img', 'ssh', 'guest-image');

interface Server {
  id: string;
  status: string;
  image: { id: string };
  /** From 2.47 the flavor is shown as it was at launch, by its name. */
  flavor: { original_name: string };
  addresses: Record<string, { addr: string }[]>;
  'OS-EXT-STS:task_state': string | null;
}

/** A marker written straight to a block device, past anything the image itself holds. */
const MARK_OFFSET_MB = 900;

describe('Compute server actions on the qemu driver with the real guest image', NEEDS, () => {
  let stateDir: string;
  let cloud: Cloud;
  let token: string;
  let url: string;
  let keyFile: string;
  let imageId: string;
  let otherImageId: string;
  let serverId: string;

  const call = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${url}${p}`, {
      method,
      headers: {
        'x-auth-token': token,
        'openstack-api-version': 'compute 2.73',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const act = async (body: unknown, status = 202) => {
    const r = await call('POST', `/v2.1/servers/${serverId}/action`, body);
    assert.equal(r.status, status, JSON.stringify(r.body));
    return r.body;
  };
  const show = async () => (await call('GET', `/v2.1/servers/${serverId}`)).body.server as Server;
  const settle = (status: string, ms = 120_000) =>
    eventually(
      async () => {
        const s = await show();
        if (s.status === 'ERROR') throw new Error(`server ${serverId} went to ERROR`);
        return s.status === status && s['OS-EXT-STS:task_state'] === null ? s : undefined;
      },
      ms,
      `server ${serverId} ${status}`,
      250,
    );
  const consoleText = async () =>
    ((await call('POST', `/v2.1/servers/${serverId}/action`, { 'os-getConsoleOutput': {} })).body
      .output as string) ?? '';
  /** The loopback port the driver forwards to the guest's ssh (the console names it). */
  const sshPort = async () => {
    const m = /forwarded from 127\.0\.0\.1:(\d+)\n(?![\s\S]*forwarded from)/.exec(
      await consoleText(),
    );
    assert.ok(m, 'the console names the ssh forward');
    return Number(m[1]);
  };
  const ssh = async (command: string) => sshUntil(await sshPort(), keyFile, command, 120_000);
  const uptime = async () => Number((await ssh('cat /proc/uptime')).split(' ')[0]);
  const addressOf = (s: Server) => Object.values(s.addresses).flat()[0]?.addr;

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sq-act-'));
    let publicKey: string;
    ({ keyFile, publicKey } = makeKey(stateDir, 'compute-actions-qemu'));
    const config = loadConfig({
      env: {},
      flags: {
        'state-dir': stateDir,
        virt: 'qemu',
        'data-plane': 'user',
        ...FREE_PORTS,
        'log-level': 'warn',
        'power-sync-seconds': '1',
        'qemu-power-off-timeout-seconds': '20',
        'qemu-reboot-timeout-seconds': '20',
        'guest-image-dir': GUEST_DIR,
      },
    });
    cloud = await startCloud(config, ['network', 'scheduler', 'compute', 'api'], {
      bootstrap: true,
      logger: silentLogger(),
    });
    assert.ok(cloud.urls);
    url = cloud.urls.compute.replace(/\/v2\.1$/, '');
    await new IdentityService(cloud.database.db).setPassword('admin', PASSWORD);
    token = await login(cloud.urls.identity, 'admin', 'admin');
    const store = new ImageStore({ db: cloud.database.db, stateDir: config.stateDir });
    const machine = await new ImageRepo(cloud.database.db).findByName(null, 'stratus-guest');
    assert.ok(machine?.kernelId && machine.ramdiskId, 'the first start imported the guest');
    imageId = machine.id;
    // A second machine image for the rebuild: the same guest, imported again.
    otherImageId = (
      await store.import({
        name: 'stratus-guest-again',
        file: GUEST.disk,
        kernelId: machine.kernelId,
        ramdiskId: machine.ramdiskId,
      })
    ).id;
    const key = await call('POST', '/v2.1/os-keypairs', {
      keypair: { name: 'k', public_key: publicKey },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
  });

  after(async () => {
    await cloud?.stop();
    // Whatever a failed step left running is ended by its pid.
    killLeftoverGuests(stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('boots the guest and gets in over ssh', async () => {
    const r = await call('POST', '/v2.1/servers', {
      // At 2.37 and later a server names its networks; "auto" is the cloud's own.
      server: { name: 'real', imageRef: imageId, flavorRef: '1', key_name: 'k', networks: 'auto' },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    serverId = (r.body.server as { id: string }).id;
    await settle('ACTIVE');
    assert.equal((await ssh('echo ok')).trim(), 'ok');
  });

  it('pause: the guest stops answering ssh; unpause: it answers again, without a reboot', async () => {
    const before = await uptime();
    const banners = count(await consoleText(), BANNER);
    const port = await sshPort();
    await act({ pause: null });
    await settle('PAUSED');
    // The forward still accepts connections, but nobody inside says hello.
    await assert.rejects(waitSshServer(port, 3000));
    await act({ unpause: null });
    await settle('ACTIVE');
    const afterUptime = await uptime();
    assert.ok(afterUptime >= before, `uptime ${afterUptime} continues from ${before}`);
    assert.equal(count(await consoleText(), BANNER), banners, 'the guest did not boot again');
  });

  it('suspend saves the guest state to disk; resume restores it (a tmpfs file survives)', async () => {
    const marker = randomUUID();
    // The guest runs from its initramfs: /tmp is memory only, gone unless the state is kept.
    await ssh(`echo ${marker} > /tmp/marker`);
    const before = await uptime();
    await act({ suspend: null });
    await settle('SUSPENDED');
    const vmDir = path.join(stateDir, 'qemu', 'instances', serverId);
    assert.ok(fs.existsSync(path.join(vmDir, 'suspended.state')), 'the state is saved');
    assert.equal((await sshOnce(await sshPort(), keyFile, 'true', 5000)).ok, false);
    await act({ resume: null });
    await settle('ACTIVE');
    assert.equal((await ssh('cat /tmp/marker')).trim(), marker);
    assert.ok((await uptime()) >= before, 'the guest did not boot again');
    assert.equal(fs.existsSync(path.join(vmDir, 'suspended.state')), false);
  });

  it('rescue boots the image with the old disk as the second disk; unrescue boots the guest again', async () => {
    const marker = randomUUID().slice(0, 16);
    await ssh(
      `printf ${marker} | dd of=/dev/vda bs=1M seek=${MARK_OFFSET_MB} conv=notrunc 2>/dev/null && sync`,
    );
    const body = await act({ rescue: null }, 200);
    assert.equal(typeof body.adminPass, 'string');
    await settle('RESCUE');
    const read = (dev: string) =>
      `dd if=${dev} bs=1M skip=${MARK_OFFSET_MB} count=1 2>/dev/null | head -c 16`;
    assert.equal(await ssh(read('/dev/vdb')), marker, 'the old disk is the second disk');
    assert.notEqual(await ssh(read('/dev/vda')), marker, 'the rescue disk is a fresh one');
    await act({ unrescue: null });
    await settle('ACTIVE');
    assert.equal(await ssh(read('/dev/vda')), marker, 'the guest has its own disk first again');
    assert.equal((await ssh('ls /dev/vdb 2>/dev/null || echo none')).trim(), 'none');
  });

  it('resize: the guest sees the new memory and the grown disk; revert and confirm', async () => {
    const memTotal = async () =>
      Number(/MemTotal:\s+(\d+) kB/.exec(await ssh('cat /proc/meminfo'))?.[1]);
    const diskBytes = async () => Number(await ssh('cat /sys/block/vda/size')) * 512;
    const smallMem = await memTotal();
    assert.ok(smallMem < 200 * 1024, `MemTotal ${smallMem} kB is m1.nano's 128 MiB`);
    assert.equal(await diskBytes(), 1024 ** 3);
    const flavorName = async (id: string) =>
      ((await call('GET', `/v2.1/flavors/${id}`)).body.flavor as { name: string }).name;
    const [small, big] = [await flavorName('1'), await flavorName('3')];
    await act({ resize: { flavorRef: '3' } });
    let s = await settle('VERIFY_RESIZE');
    assert.equal(s.flavor.original_name, big);
    const bigMem = await memTotal();
    assert.ok(bigMem > 1536 * 1024, `MemTotal ${bigMem} kB is the new flavor's 2 GiB`);
    assert.equal(await diskBytes(), 20 * 1024 ** 3, 'the disk grew to 20 GiB');
    await act({ revertResize: null });
    s = await settle('ACTIVE');
    assert.equal(s.flavor.original_name, small);
    assert.ok((await memTotal()) < 200 * 1024, 'back to 128 MiB');
    assert.equal(await diskBytes(), 1024 ** 3, 'the old disk is back');
    await act({ resize: { flavorRef: '3' } });
    await settle('VERIFY_RESIZE');
    await act({ confirmResize: null }, 204);
    s = await settle('ACTIVE');
    assert.equal(s.flavor.original_name, big);
    assert.ok((await memTotal()) > 1536 * 1024);
    assert.equal(await diskBytes(), 20 * 1024 ** 3);
  });

  it('rebuild: a new disk from another image, the same address, and ssh gets in', async () => {
    const marker = randomUUID().slice(0, 16);
    await ssh(
      `printf ${marker} | dd of=/dev/vda bs=1M seek=${MARK_OFFSET_MB} conv=notrunc 2>/dev/null && sync`,
    );
    const address = addressOf(await show());
    assert.ok(address);
    const r = await act({ rebuild: { imageRef: otherImageId } });
    assert.equal(typeof (r.server as { adminPass?: string }).adminPass, 'string');
    const s = await settle('ACTIVE');
    assert.equal(s.image.id, otherImageId);
    assert.equal(addressOf(s), address);
    const read = `dd if=/dev/vda bs=1M skip=${MARK_OFFSET_MB} count=1 2>/dev/null | head -c 16`;
    assert.notEqual(await ssh(read), marker, 'the disk is a new one');
    assert.equal((await ssh('echo rebuilt')).trim(), 'rebuilt');
  });
});
