// The image store on every database back end, with real files checked by the real qemu-img:
// good imports, refused files that leave nothing behind, killed imports, shared files and
// their deletion, links to kernels and ramdisks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../db/index.js';
import { needs } from '../../test/support/capabilities.js';
import { openTestDatabase, TEST_BACKENDS } from '../../test/support/databases.js';
import { StratusError } from '../errors.js';
import { IdentityService } from '../identity/index.js';
import { ImageStore, QemuImg } from './index.js';

function isError(kind: StratusError['kind'], pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof StratusError, `expected a StratusError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

for (const backend of TEST_BACKENDS) {
  describe(
    `the image store on ${backend.name}`,
    // qemu-img checks every file the store imports.
    needs('qemu-img', ...backend.needs),
    () => {
      let database: Database;
      let dir: string;
      let store: ImageStore;
      let projectId: string;
      let files: Record<
        'qcow2' | 'raw' | 'truncated' | 'empty' | 'backed' | 'dataFile' | 'flatVmdk',
        string
      >;

      before(async () => {
        database = await openTestDatabase(backend);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-image-store-'));
        store = new ImageStore({ db: database.db, stateDir: path.join(dir, 'state') });
        projectId = (await new IdentityService(database.db).createProject({ name: 'demo' })).id;
        const at = (name: string) => path.join(dir, name);
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', at('good.qcow2'), '64M']);
        execFileSync('qemu-img', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          at('good.qcow2'),
          '-F',
          'qcow2',
          at('backed.qcow2'),
        ]);
        fs.writeFileSync(at('disk.raw'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
        fs.writeFileSync(at('cut.qcow2'), fs.readFileSync(at('good.qcow2')).subarray(0, 1000));
        fs.writeFileSync(at('empty.img'), '');
        execFileSync('qemu-img', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-o',
          `data_file=${at('outside.raw')}`,
          at('data-file.qcow2'),
          '1M',
        ]);
        execFileSync('qemu-img', [
          'create',
          '-q',
          '-f',
          'vmdk',
          '-o',
          'subformat=monolithicFlat',
          at('flat.vmdk'),
          '1M',
        ]);
        files = {
          qcow2: at('good.qcow2'),
          raw: at('disk.raw'),
          truncated: at('cut.qcow2'),
          empty: at('empty.img'),
          backed: at('backed.qcow2'),
          dataFile: at('data-file.qcow2'),
          flatVmdk: at('flat.vmdk'),
        };
      });
      after(async () => {
        await database?.close();
        fs.rmSync(dir, { recursive: true, force: true });
      });

      const storedFiles = () =>
        fs.existsSync(store.directory) ? fs.readdirSync(store.directory).sort() : [];
      const rowsNamed = (name: string) =>
        database.db.selectFrom('images').selectAll().where('name', '=', name).execute();

      it('imports a qcow2 file: active, its SHA-256, its format, a copy under images/<id>', async () => {
        const seen: number[] = [];
        const row = await store.import({
          name: 'guest',
          file: files.qcow2,
          onProgress: (p) => seen.push(p.copiedBytes),
        });
        assert.equal(row.status, 'active');
        assert.equal(row.kind, 'machine');
        assert.equal(row.diskFormat, 'qcow2');
        assert.equal(row.ownerProjectId, null);
        assert.equal(row.isPublic, 1);
        assert.equal(row.sizeBytes, fs.statSync(files.qcow2).size);
        assert.equal(row.checksum, sha256(files.qcow2));
        assert.equal(row.location, path.join(store.directory, row.id));
        assert.equal(sha256(row.location as string), row.checksum);
        assert.equal(seen.at(-1), row.sizeBytes);
        assert.deepEqual(await store.fileOf(row.id), {
          path: row.location,
          format: 'qcow2',
          sizeBytes: row.sizeBytes,
          sha256: row.checksum,
        });
      });

      it('a host that mounts the image directory elsewhere finds the file there by name', async () => {
        const row = await store.import({ name: 'shared', file: files.qcow2 });
        const mount = path.join(dir, 'mounted-images');
        fs.mkdirSync(mount);
        fs.copyFileSync(row.location as string, path.join(mount, row.id));
        const host = new ImageStore({
          db: database.db,
          stateDir: path.join(dir, 'host'),
          directory: mount,
        });
        assert.equal(host.directory, mount);
        assert.equal((await host.fileOf(row.id)).path, path.join(mount, row.id));
        await store.delete(row.id);
      });

      it('imports a raw file as a private image of a project', async () => {
        const row = await store.import({
          name: 'raw-disk',
          file: files.raw,
          ownerProjectId: projectId,
          isPublic: false,
          description: 'A raw disk',
        });
        assert.equal(row.diskFormat, 'raw');
        assert.equal(row.ownerProjectId, projectId);
        assert.equal(row.isPublic, 0);
        assert.equal(row.sizeBytes, 3 * 1024 * 1024 + 17);
        assert.equal(row.checksum, sha256(files.raw));
        assert.equal((await store.list({ visibleTo: projectId })).length, 2);
        const other = await new IdentityService(database.db).createProject({ name: 'other' });
        assert.deepEqual(
          (await store.list({ visibleTo: other.id })).map((r) => r.name),
          ['guest'],
        );
      });

      const refused: [string, () => string, RegExp][] = [
        ['a truncated qcow2 file', () => files.truncated, /damaged or incomplete qcow2 image/],
        ['an empty file', () => files.empty, /is empty/],
        ['a missing file', () => path.join(dir, 'nope.qcow2'), /does not exist/],
        ['a directory', () => dir, /not a regular file/],
        ['a qcow2 file over a backing file', () => files.backed, /backing file/],
        ['a qcow2 file with an external data file', () => files.dataFile, /external data file/],
        ['a vmdk whose data is in another file', () => files.flatVmdk, /monolithicFlat/],
      ];
      for (const [what, file, message] of refused) {
        it(`refuses ${what} and leaves no record and no file`, async () => {
          const before = storedFiles();
          await assert.rejects(
            store.import({ name: 'refused', file: file() }),
            isError('invalid', message),
          );
          assert.deepEqual(await rowsNamed('refused'), []);
          assert.deepEqual(storedFiles(), before);
        });
      }

      it('refuses a qcow2 file as a kernel: kernels and ramdisks are raw files', async () => {
        await assert.rejects(
          store.import({ name: 'refused', file: files.qcow2, kind: 'kernel' }),
          isError('invalid', /a kernel image must be raw/),
        );
        assert.deepEqual(await rowsNamed('refused'), []);
      });

      it('refuses a second image of the same name for one owner, not for another', async () => {
        await assert.rejects(
          store.import({ name: 'guest', file: files.raw }),
          isError('already_exists', /An image named 'guest' already exists/),
        );
        const mine = await store.import({
          name: 'guest',
          file: files.raw,
          ownerProjectId: projectId,
          isPublic: false,
        });
        assert.equal(mine.name, 'guest');
        await store.delete(mine.id);
      });

      it('marks an image killed and removes the partial file when the copy fails', async () => {
        const before = storedFiles();
        await assert.rejects(
          store.import({
            name: 'interrupted',
            file: files.raw,
            onProgress: () => {
              throw new Error('disk unplugged');
            },
          }),
          isError('unavailable', /disk unplugged.*marked killed/),
        );
        const [row] = await rowsNamed('interrupted');
        assert.equal(row?.status, 'killed');
        assert.equal(row?.location, null);
        assert.deepEqual(storedFiles(), before);
        await assert.rejects(store.fileOf(row?.id as string), isError('invalid', /is killed/));
        await store.delete(row?.id as string);
        assert.deepEqual(await store.list({ name: 'interrupted' }), []);
      });

      it('links a machine image to a kernel and ramdisk, and keeps those while it lives', async () => {
        const kernel = await store.import({ name: 'vmlinuz', file: files.raw, kind: 'kernel' });
        const ramdisk = await store.import({ name: 'initrd', file: files.raw, kind: 'ramdisk' });
        const machine = await store.import({
          name: 'booted',
          file: files.qcow2,
          kernelId: kernel.id,
          ramdiskId: ramdisk.id,
        });
        assert.equal(machine.kernelId, kernel.id);
        assert.equal(machine.ramdiskId, ramdisk.id);
        await assert.rejects(
          store.import({ name: 'wrong', file: files.qcow2, kernelId: ramdisk.id }),
          isError('not_found', /kernel image/),
        );
        await assert.rejects(
          store.import({ name: 'wrong', file: files.raw, kind: 'kernel', ramdiskId: ramdisk.id }),
          isError('invalid', /Only a machine image/),
        );
        await assert.rejects(store.delete(kernel.id), isError('conflict', /used by the machine/));
        await store.delete(machine.id);
        await store.delete(kernel.id);
        await store.delete(ramdisk.id);
      });

      it('refuses a public image that boots a private kernel others cannot use', async () => {
        const kernel = await store.import({
          name: 'private-kernel',
          file: files.raw,
          kind: 'kernel',
          ownerProjectId: projectId,
          isPublic: false,
        });
        await assert.rejects(
          store.import({ name: 'public-over-private', file: files.qcow2, kernelId: kernel.id }),
          isError('not_found', /not available to every user/),
        );
        const own = await store.import({
          name: 'private-over-private',
          file: files.qcow2,
          kernelId: kernel.id,
          ownerProjectId: projectId,
          isPublic: false,
        });
        await store.delete(own.id);
        await store.delete(kernel.id);
      });

      it('registers images over a stored file and removes the file with the last of them', async () => {
        const source = await store.import({ name: 'shared', file: files.qcow2 });
        const copy = await store.register({
          sourceId: source.id,
          name: 'shared-copy',
          ownerProjectId: projectId,
          isPublic: false,
          tags: [{ key: 'team', value: 'blue' }],
        });
        assert.equal(copy.location, source.location);
        assert.equal(copy.checksum, source.checksum);
        assert.equal(copy.kind, 'machine');
        const tags = await database.db
          .selectFrom('tags')
          .selectAll()
          .where('resourceId', '=', copy.id)
          .execute();
        assert.deepEqual(
          tags.map((t) => [t.key, t.value, t.projectId]),
          [['team', 'blue', projectId]],
        );
        await store.delete(source.id);
        assert.ok(fs.existsSync(source.location as string), 'the file stays while a copy uses it');
        assert.equal((await store.fileOf(copy.id)).path, source.location);
        await assert.rejects(store.get(source.id), isError('not_found'));
        await store.delete(copy.id);
        assert.ok(!fs.existsSync(source.location as string), 'the last delete removes the file');
        await assert.rejects(store.delete(copy.id), isError('not_found'));
      });

      it('removes a shared file exactly when concurrent deletes take its last images', async () => {
        const source = await store.import({ name: 'raced', file: files.raw });
        const copies = await Promise.all(
          [1, 2, 3].map((n) =>
            store.register({ sourceId: source.id, name: `raced-${n}`, ownerProjectId: projectId }),
          ),
        );
        await Promise.all([source, ...copies].map((r) => store.delete(r.id)));
        assert.ok(!fs.existsSync(source.location as string));
        assert.deepEqual(await store.list({ name: 'raced' }), []);
      });

      it('lets only one of several concurrent imports of one name in a project win', async () => {
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map(() =>
            store.import({ name: 'contended', file: files.raw, ownerProjectId: projectId }),
          ),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) {
          if (r.status === 'rejected') isError('already_exists')(r.reason);
        }
        const [row] = await rowsNamed('contended');
        assert.equal((await rowsNamed('contended')).length, 1);
        assert.ok(storedFiles().includes(row?.id as string));
        assert.ok(!storedFiles().some((f) => f.endsWith('.part')));
      });

      it('refuses to register over an image that is gone or not active', async () => {
        const gone = await store.import({ name: 'gone', file: files.raw });
        await store.delete(gone.id);
        await assert.rejects(
          store.register({ sourceId: gone.id, name: 'from-gone' }),
          isError('not_found'),
        );
        assert.deepEqual(await rowsNamed('from-gone'), []);
      });

      it('finds images by id, leading id characters or name, and says when a name is ambiguous', async () => {
        const guest = (await store.list({ name: 'guest' }))[0];
        assert.ok(guest);
        assert.equal((await store.resolve(guest.id)).id, guest.id);
        assert.equal((await store.resolve(guest.id.slice(0, 8))).id, guest.id);
        assert.equal((await store.resolve('guest')).id, guest.id);
        await assert.rejects(store.resolve('no-such-image'), isError('not_found'));
        const mine = await store.import({
          name: 'guest',
          file: files.raw,
          ownerProjectId: projectId,
        });
        await assert.rejects(store.resolve('guest'), isError('invalid', /More than one image/));
        const other = (await new IdentityService(database.db).findProject('other'))?.id as string;
        assert.equal((await store.resolve('guest', { visibleTo: other })).id, guest.id);
        assert.equal(
          (await store.resolve(mine.id.slice(0, 8), { visibleTo: projectId })).id,
          mine.id,
        );
        await assert.rejects(
          store.resolve(mine.id, { visibleTo: other }),
          isError('not_found'),
          "another project's private image is not found",
        );
        await store.delete(mine.id);
      });

      it('creates a queued image and takes its uploaded data: active with the SHA-256, once', async () => {
        const queued = await store.create({
          name: 'uploaded',
          diskFormat: 'qcow2',
          ownerProjectId: projectId,
          isPublic: false,
        });
        assert.equal(queued.status, 'queued');
        assert.equal(queued.location, null);
        await assert.rejects(store.fileOf(queued.id), isError('invalid', /queued/));
        const row = await store.upload(queued.id, fs.createReadStream(files.qcow2));
        assert.equal(row.status, 'active');
        assert.equal(row.sizeBytes, fs.statSync(files.qcow2).size);
        assert.equal(row.checksum, sha256(files.qcow2));
        assert.equal(sha256(row.location as string), row.checksum);
        await assert.rejects(
          store.upload(queued.id, fs.createReadStream(files.qcow2)),
          isError('conflict', /is active; data can only be uploaded to a queued image/),
        );
        await store.delete(row.id);
      });

      it('refuses a create in a format its kind does not allow, and leaves nothing', async () => {
        await assert.rejects(
          store.create({ name: 'k', kind: 'kernel', diskFormat: 'qcow2' }),
          isError('invalid', /not allowed for a kernel image/),
        );
        await assert.rejects(
          store.create({ name: 'k', diskFormat: 'iso' }),
          isError('invalid', /not allowed for a machine image/),
        );
        assert.deepEqual(await rowsNamed('k'), []);
      });

      const badUploads: [string, () => fs.ReadStream, string, RegExp][] = [
        [
          'truncated data',
          () => fs.createReadStream(files.truncated),
          'qcow2',
          /damaged or incomplete/,
        ],
        [
          'data of another format',
          () => fs.createReadStream(files.qcow2),
          'raw',
          /is a qcow2 image, but the image's disk format is raw/,
        ],
        [
          'an image over a backing file',
          () => fs.createReadStream(files.backed),
          'qcow2',
          /backing file/,
        ],
        ['empty data', () => fs.createReadStream(files.empty), 'raw', /empty/],
        [
          'a qcow2 image with an external data file',
          () => fs.createReadStream(files.dataFile),
          'qcow2',
          /uploaded data is a qcow2 image with an external data file/,
        ],
      ];
      for (const [what, data, diskFormat, message] of badUploads) {
        it(`refuses an upload of ${what}: the image is killed, no file is left`, async () => {
          const before = storedFiles();
          const queued = await store.create({ name: `bad-${what}`, diskFormat });
          await assert.rejects(store.upload(queued.id, data()), isError('invalid', message));
          const row = await store.get(queued.id);
          assert.equal(row.status, 'killed');
          assert.equal(row.location, null);
          assert.doesNotMatch(String(row.checksum), /[0-9a-f]{64}/);
          assert.deepEqual(storedFiles(), before);
          await store.delete(queued.id);
        });
      }

      it('kills an upload whose stream fails, and one over the size limit', async () => {
        const before = storedFiles();
        const queued = await store.create({ name: 'broken-stream', diskFormat: 'raw' });
        const failing = new Readable({
          read() {
            this.push(Buffer.alloc(64 * 1024, 1));
            this.destroy(new Error('the client went away'));
          },
        });
        await assert.rejects(
          store.upload(queued.id, failing),
          isError('unavailable', /the client went away\. The image .* is marked killed/),
        );
        assert.equal((await store.get(queued.id)).status, 'killed');
        const big = await store.create({ name: 'too-big', diskFormat: 'raw' });
        await assert.rejects(
          store.upload(big.id, fs.createReadStream(files.raw), { maxBytes: 1024 }),
          isError('invalid', /larger than the limit of 1024 bytes/),
        );
        assert.equal((await store.get(big.id)).status, 'killed');
        assert.deepEqual(storedFiles(), before);
      });

      it('says qemu-img cannot be run, with or without the prlimit caps', async () => {
        for (const prlimit of [undefined, null]) {
          await assert.rejects(
            new QemuImg({ binary: '/nonexistent/qemu-img', prlimit }).probe(files.qcow2),
            isError('unavailable', /Cannot run \/nonexistent\/qemu-img.*install qemu-utils/),
          );
        }
        assert.equal((await new QemuImg().probe(files.qcow2)).format, 'qcow2');
      });

      it('lets only one of two concurrent uploads to one image run', async () => {
        const queued = await store.create({ name: 'raced', diskFormat: 'raw' });
        const results = await Promise.allSettled([
          store.upload(queued.id, fs.createReadStream(files.raw)),
          store.upload(queued.id, fs.createReadStream(files.raw)),
        ]);
        assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.ok(isError('conflict')(lost.reason));
        assert.equal((await store.get(queued.id)).checksum, sha256(files.raw));
        await store.delete(queued.id);
      });
    },
  );
}
