// `stratus manage image ...` as an operator uses it: importing real files checked by qemu-img,
// refusing bad ones without leaving anything behind, listing and deleting.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type ImageRow } from '../src/db/index.js';
import { needs } from './support/capabilities.js';
import { stratus } from './support/cli.js';

interface Printed {
  id: string;
  ec2_id: string;
  name: string;
  kind: string;
  status: string;
  disk_format: string;
  size_bytes: number;
  sha256: string;
  visibility: string;
  owner: string;
  kernel: string | null;
  ramdisk: string | null;
  file: string;
}

describe(
  'stratus manage image',
  // qemu-img checks every file the command imports.
  needs('qemu-img'),
  () => {
    let stateDir: string;
    let dir: string;
    const manage = (...args: string[]) => stratus(['manage', '--state-dir', stateDir, ...args]);
    const file = (name: string) => path.join(dir, name);
    const rows = async (): Promise<ImageRow[]> => {
      const database = await openDatabase(`sqlite:${path.join(stateDir, 'stratus.sqlite')}`);
      try {
        return await database.db.selectFrom('images').selectAll().execute();
      } finally {
        await database.close();
      }
    };
    const stored = () => {
      const images = path.join(stateDir, 'images');
      return fs.existsSync(images) ? fs.readdirSync(images).sort() : [];
    };
    const importJson = async (...args: string[]) => {
      const r = await manage('--format', 'json', 'image', 'import', ...args);
      assert.equal(r.code, 0, r.stderr);
      return { printed: JSON.parse(r.stdout) as Printed, stderr: r.stderr };
    };

    before(async () => {
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-manage-image-'));
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-manage-files-'));
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file('good.qcow2'), '128M']);
      fs.writeFileSync(file('disk.raw'), Buffer.alloc(2 * 1024 * 1024, 3));
      fs.writeFileSync(file('cut.qcow2'), fs.readFileSync(file('good.qcow2')).subarray(0, 2000));
      fs.writeFileSync(file('empty.img'), '');
      assert.equal((await manage('project', 'create', 'demo')).code, 0);
    });
    after(() => {
      fs.rmSync(stateDir, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('imports a qcow2 file, prints the image with its EC2 id and reports progress', async () => {
      const { printed, stderr } = await importJson(
        '--name',
        'guest',
        '--file',
        file('good.qcow2'),
        '--description',
        'The guest',
      );
      assert.match(printed.ec2_id, /^ami-[0-9a-f]{17}$/);
      assert.equal(printed.ec2_id, `ami-${printed.id.replace(/-/g, '').slice(0, 17)}`);
      assert.equal(printed.status, 'active');
      assert.equal(printed.kind, 'machine');
      assert.equal(printed.disk_format, 'qcow2');
      assert.equal(printed.visibility, 'public');
      assert.equal(printed.owner, '(cloud)');
      const bytes = fs.readFileSync(file('good.qcow2'));
      assert.equal(printed.size_bytes, bytes.length);
      assert.equal(printed.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(printed.file, path.join(stateDir, 'images', printed.id));
      assert.deepEqual(fs.readFileSync(printed.file), bytes);
      // stderr is a pipe here: plain progress lines, no carriage returns.
      assert.match(stderr, /qcow2 image, 128\.0 MiB virtual/);
      assert.match(stderr, /^Importing guest: 100% \(/m);
      assert.doesNotMatch(stderr, /\r/);
    });

    it('imports raw kernel and ramdisk files and a private machine image that boots them', async () => {
      const kernel = (
        await importJson('--name', 'vmlinuz', '--file', file('disk.raw'), '--kind', 'kernel')
      ).printed;
      assert.match(kernel.ec2_id, /^aki-/);
      assert.equal(kernel.disk_format, 'raw');
      const ramdisk = (
        await importJson('--name', 'initrd', '--file', file('disk.raw'), '--kind', 'ramdisk')
      ).printed;
      assert.match(ramdisk.ec2_id, /^ari-/);
      const machine = (
        await importJson(
          '--name',
          'booted',
          '--file',
          file('disk.raw'),
          '--kernel',
          kernel.ec2_id,
          '--ramdisk',
          'initrd',
          '--private',
          '--project',
          'demo',
        )
      ).printed;
      assert.equal(machine.kernel, kernel.ec2_id);
      assert.equal(machine.ramdisk, ramdisk.ec2_id);
      assert.equal(machine.visibility, 'private');
      assert.equal(machine.owner, 'demo');
      assert.equal(machine.disk_format, 'raw');
    });

    it('lists images with their EC2 ids, owners and states', async () => {
      const r = await manage('image', 'list');
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^id +ec2_id +name +kind +status +disk_format +size_bytes +visibility +owner +created$/m,
      );
      assert.match(
        r.stdout,
        /ami-[0-9a-f]{17} +guest +machine +active +qcow2 +\d+ +public +\(cloud\)/,
      );
      assert.match(r.stdout, /aki-[0-9a-f]{17} +vmlinuz +kernel +active +raw/);
      assert.match(r.stdout, /booted +machine +active +raw +\d+ +private +demo/);
      const mine = await manage('--format', 'json', 'image', 'list', '--project', 'demo');
      assert.deepEqual(
        (JSON.parse(mine.stdout) as Printed[]).map((p) => p.name),
        ['booted'],
      );
    });

    const refused: [string, () => string[], RegExp][] = [
      [
        'a truncated qcow2 file',
        () => ['--name', 'bad', '--file', file('cut.qcow2')],
        /damaged or incomplete qcow2 image/,
      ],
      ['an empty file', () => ['--name', 'bad', '--file', file('empty.img')], /is empty/],
      [
        'a missing file',
        () => ['--name', 'bad', '--file', file('missing.qcow2')],
        /missing\.qcow2 does not exist/,
      ],
      [
        'a qcow2 file as a kernel',
        () => ['--name', 'bad', '--file', file('good.qcow2'), '--kind', 'kernel'],
        /a kernel image must be raw/,
      ],
      [
        'a taken name',
        () => ['--name', 'guest', '--file', file('disk.raw')],
        /An image named 'guest' already exists/,
      ],
      [
        'an unknown kind',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--kind', 'floppy'],
        /Allowed choices are machine, kernel, ramdisk/,
      ],
      [
        '--private without --project',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--private'],
        /A private image needs an owner: give --project/,
      ],
      [
        'an unknown project',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--project', 'nope'],
        /The project 'nope' does not exist/,
      ],
      [
        'an unknown kernel',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--kernel', 'no-such-kernel'],
        /The kernel image 'no-such-kernel' does not exist/,
      ],
      [
        'a machine image as kernel',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--kernel', 'guest'],
        /The kernel image 'guest' does not exist/,
      ],
      [
        'a missing --file',
        () => ['--name', 'bad'],
        /required option '--file <path>' not specified/,
      ],
      [
        'an unknown architecture',
        () => ['--name', 'bad', '--file', file('disk.raw'), '--architecture', 'sparc'],
        /Allowed choices are x86_64, i386, arm64/,
      ],
    ];
    for (const [what, args, message] of refused) {
      it(`refuses ${what} with a clear message, a non-zero exit and nothing left behind`, async () => {
        const before = { rows: (await rows()).length, files: stored() };
        const r = await manage('image', 'import', ...args());
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(r.stdout, '');
        assert.equal((await rows()).length, before.rows);
        assert.ok(!(await rows()).some((row) => row.name === 'bad'));
        assert.deepEqual(stored(), before.files);
      });
    }

    it('deletes images by EC2 id or name, removing their files, and refuses kernels in use', async () => {
      const all = await rows();
      const byName = (name: string) => all.find((r) => r.name === name) as ImageRow;
      const kernel = await manage('image', 'delete', 'vmlinuz');
      assert.notEqual(kernel.code, 0);
      assert.match(kernel.stderr, /is used by the machine image 'booted'/);

      const booted = byName('booted');
      const ec2 = `ami-${booted.id.replace(/-/g, '').slice(0, 17)}`;
      assert.equal((await manage('image', 'delete', ec2)).code, 0);
      assert.ok(!fs.existsSync(booted.location as string));
      assert.equal((await manage('image', 'delete', 'vmlinuz')).code, 0);
      const guest = byName('guest');
      assert.equal((await manage('image', 'delete', guest.id)).code, 0);
      assert.ok(!fs.existsSync(guest.location as string));
      const list = await manage('image', 'list');
      assert.doesNotMatch(list.stdout, /guest|booted|vmlinuz/);
      assert.match(list.stdout, /initrd/);

      const again = await manage('image', 'delete', 'guest');
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /The image 'guest' does not exist/);
      const malformed = await manage('image', 'delete', 'ami-xyz');
      assert.notEqual(malformed.code, 0);
      assert.match(malformed.stderr, /Invalid id: "ami-xyz"/);
    });
  },
);
