// The all-in-one's first-start import of the Stratus guest image (guest/build.sh) as the
// cloud's own kernel, ramdisk and machine image, so a new user's first RunInstances boots
// something real.
import fs from 'node:fs';
import path from 'node:path';
import { ImageRepo, type Db, type ImageRow } from '../db/index.js';
import type { ImageStore } from '../image/index.js';

export const GUEST_IMAGE_NAME = 'stratus-guest';

export interface GuestImageFiles {
  kernel: string;
  ramdisk: string;
  disk: string;
}

/** The guest image's files in `dir`, or undefined when it is not built there. */
export function guestImageFiles(dir: string): GuestImageFiles | undefined {
  const files = {
    kernel: path.join(dir, 'vmlinux'),
    ramdisk: path.join(dir, 'initrd.img'),
    disk: path.join(dir, 'disk.qcow2'),
  };
  return Object.values(files).every((f) => fs.existsSync(f)) ? files : undefined;
}

/**
 * Imports the guest image unless the cloud already has a live machine image of that name;
 * returns the machine image, or undefined when it existed already. Images imported before a
 * failure are deleted again.
 */
export async function ensureGuestImage(
  db: Db,
  store: ImageStore,
  files: GuestImageFiles,
): Promise<ImageRow | undefined> {
  const images = new ImageRepo(db);
  if (await images.findByName(null, GUEST_IMAGE_NAME)) return undefined;
  const version = (() => {
    try {
      return fs.readFileSync(path.join(path.dirname(files.kernel), 'VERSION'), 'utf8').trim();
    } catch {
      return 'Stratus guest image';
    }
  })();
  const made: ImageRow[] = [];
  try {
    // A kernel or ramdisk left by an earlier, interrupted start is used as it is.
    const importOnce = async (kind: 'kernel' | 'ramdisk', file: string) => {
      const name = `${GUEST_IMAGE_NAME}-${kind}`;
      const found = await images.findByName(null, name);
      if (found && found.status === 'active') return found;
      const row = await store.import({ name, description: version, kind, file });
      made.push(row);
      return row;
    };
    const kernel = await importOnce('kernel', files.kernel);
    const ramdisk = await importOnce('ramdisk', files.ramdisk);
    return await store.import({
      name: GUEST_IMAGE_NAME,
      description: version,
      file: files.disk,
      kernelId: kernel.id,
      ramdiskId: ramdisk.id,
    });
  } catch (err) {
    for (const row of made.reverse()) await store.delete(row.id).catch(() => undefined);
    throw err;
  }
}
