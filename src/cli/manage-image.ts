// `stratus manage image ...`: import image files into the image store, list and delete images.
// Images are shown with their id and the EC2 id users launch them by (ami-/aki-/ari-).
import { Command, Option } from 'commander';
import { imageEc2Id, parseImageEc2Id } from '../ids/index.js';
import type { Config } from '../config/index.js';
import type { Database, ImageKind, ImageRow } from '../db/index.js';
import { invalid } from '../errors.js';
import type { IdentityService } from '../identity/index.js';
import { ARCHITECTURES, IMAGE_KINDS, ImageStore } from '../image/index.js';
import { isoTime, printRecord, printRows, type Format } from './output.js';
import { mib, progress } from './progress.js';

type Action = (ctx: {
  config: Config;
  database: Database;
  identity: IdentityService;
  format: Format;
}) => Promise<void>;

export interface ManageHelpers {
  /** A subcommand with the config options. */
  leaf(parent: Command, name: string, description: string): Command;
  /** Runs an action with the database open. */
  withDatabase(cmd: Command, action: Action): (...args: unknown[]) => Promise<void>;
}

export function addImageCommands(manage: Command, { leaf, withDatabase }: ManageHelpers): void {
  const image = manage.command('image').description('Images in the image store.');

  const importCmd = leaf(
    image,
    'import',
    'Import an image file (checked with qemu-img, copied into <state-dir>/images).',
  )
    .requiredOption('--name <name>', 'Image name, unique for its owner.')
    .requiredOption('--file <path>', 'The image file (raw, qcow2, vmdk, vdi, vpc or vhdx).')
    .addOption(
      new Option('--kind <kind>', 'What the file is.').choices(IMAGE_KINDS).default('machine'),
    )
    .option('--kernel <image>', 'Kernel image to boot a machine image with (id, aki-... or name).')
    .option('--ramdisk <image>', 'Ramdisk image for a machine image (id, ari-... or name).')
    .addOption(
      new Option('--architecture <arch>', 'CPU architecture.')
        .choices(ARCHITECTURES)
        .default('x86_64'),
    )
    .option('--project <project>', 'Owning project (id or name); without it, the cloud owns it.')
    .option('--private', 'Only the owning project may see and use it (needs --project).')
    .option('--description <text>', 'What the image is.');
  importCmd.action(
    withDatabase(importCmd, async ({ config, database, identity, format }) => {
      const o = importCmd.opts() as {
        name: string;
        file: string;
        kind: ImageKind;
        kernel?: string;
        ramdisk?: string;
        architecture: string;
        project?: string;
        private?: boolean;
        description?: string;
      };
      if (o.private && !o.project) {
        throw invalid(
          'A private image needs an owner: give --project (the cloud itself owns only public images).',
          { resource: 'parameter', id: 'private' },
        );
      }
      const store = new ImageStore({
        db: database.db,
        stateDir: config.stateDir,
        directory: config.image.directory,
      });
      const project = o.project ? await identity.getProject(o.project) : undefined;
      const link = async (ref: string | undefined, kind: 'kernel' | 'ramdisk') => {
        if (ref === undefined) return undefined;
        if (/^a[mkr]i-/.test(ref)) {
          const parsed = parseImageEc2Id(ref);
          if (parsed.kind !== kind)
            throw invalid(`The image '${ref}' is not a ${kind} image.`, { resource: 'image' });
          return (await store.resolve(parsed.uuidPrefix, { kind })).id;
        }
        return (await store.resolve(ref, { kind })).id;
      };
      const bar = progress(process.stderr, `Importing ${o.name}`);
      const row = await store
        .import({
          name: o.name,
          file: o.file,
          kind: o.kind,
          description: o.description,
          architecture: o.architecture,
          ownerProjectId: project?.id ?? null,
          isPublic: !o.private,
          kernelId: await link(o.kernel, 'kernel'),
          ramdiskId: await link(o.ramdisk, 'ramdisk'),
          onChecked: (info) =>
            process.stderr.write(
              `${o.file}: ${info.format} image, ${mib(info.virtualSizeBytes)} virtual, ${mib(info.sizeBytes)} file\n`,
            ),
          onProgress: (p) => bar.update(p.copiedBytes, p.totalBytes),
        })
        .finally(() => bar.finish());
      printRecord(format, record(row, project?.name ?? null));
    }),
  );

  const list = leaf(image, 'list', 'List images (every owner, including failed imports).').option(
    '--project <project>',
    'Only images this project owns.',
  );
  list.action(
    withDatabase(list, async ({ config, database, identity, format }) => {
      const o = list.opts() as { project?: string };
      const store = new ImageStore({
        db: database.db,
        stateDir: config.stateDir,
        directory: config.image.directory,
      });
      const only = o.project ? await identity.getProject(o.project) : undefined;
      const names = new Map((await identity.listProjects()).map((p) => [p.id, p.name]));
      const rows = (await store.list())
        .filter((r) => !only || r.ownerProjectId === only.id)
        .map((r) => record(r, r.ownerProjectId ? (names.get(r.ownerProjectId) ?? null) : null));
      printRows(format, rows, [
        'id',
        'ec2_id',
        'name',
        'kind',
        'status',
        'disk_format',
        'size_bytes',
        'visibility',
        'owner',
        'created',
      ]);
    }),
  );

  const del = leaf(
    image,
    'delete',
    'Delete an image and, when no other image shares it, its file.',
  ).argument('<image>', 'Image id, EC2 id (ami-..., aki-..., ari-...) or name.');
  del.action(
    withDatabase(del, async ({ config, database }) => {
      const ref = del.processedArgs[0] as string;
      const store = new ImageStore({
        db: database.db,
        stateDir: config.stateDir,
        directory: config.image.directory,
      });
      let row: ImageRow;
      if (/^a[mkr]i-/.test(ref)) {
        const parsed = parseImageEc2Id(ref);
        row = await store.resolve(parsed.uuidPrefix, { kind: parsed.kind });
      } else row = await store.resolve(ref);
      await store.delete(row.id);
    }),
  );
}

function record(r: ImageRow, ownerName: string | null): Record<string, unknown> {
  return {
    id: r.id,
    ec2_id: imageEc2Id(r.kind, r.id),
    name: r.name,
    kind: r.kind,
    status: r.status,
    disk_format: r.diskFormat,
    size_bytes: r.sizeBytes,
    sha256: r.checksum,
    architecture: r.architecture,
    visibility: r.isPublic === 1 ? 'public' : 'private',
    owner: r.ownerProjectId === null ? '(cloud)' : (ownerName ?? r.ownerProjectId),
    kernel: r.kernelId ? imageEc2Id('kernel', r.kernelId) : null,
    ramdisk: r.ramdiskId ? imageEc2Id('ramdisk', r.ramdiskId) : null,
    description: r.description,
    file: r.location,
    created: isoTime(r.createdAt),
  };
}
