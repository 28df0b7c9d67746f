// The Image API's disk and container formats and the image store's kinds and qemu-img formats: what
// an image is created as, and how a stored image is shown.
import type { ImageKind, ImageRow } from '../../db/index.js';
import { invalid } from '../../errors.js';

/** Disk formats this cloud accepts; the API's iso and ploop are not among them. */
export const DISK_FORMATS = ['raw', 'qcow2', 'vmdk', 'vdi', 'vhd', 'vhdx', 'ami', 'aki', 'ari'];
/** Container formats this cloud accepts: no container (bare) or the EC2 kinds. */
export const CONTAINER_FORMATS = ['bare', 'ami', 'aki', 'ari'];

/**
 * The store's kind and qemu-img format for the API's formats: `aki` and `ari` (as both the
 * disk and the container format) are kernels and ramdisks, raw files; everything else is a
 * machine image, `ami` being raw and `vhd` qemu-img's `vpc`.
 */
export function storeFormat(
  diskFormat: string,
  containerFormat: string,
): { kind: ImageKind; diskFormat: string } {
  if (!DISK_FORMATS.includes(diskFormat)) {
    throw invalid(
      `The disk_format '${diskFormat}' is not supported; use one of ${DISK_FORMATS.join(', ')}.`,
      { resource: 'parameter', id: 'disk_format' },
    );
  }
  if (!CONTAINER_FORMATS.includes(containerFormat)) {
    throw invalid(
      `The container_format '${containerFormat}' is not supported; use one of ${CONTAINER_FORMATS.join(', ')}.`,
      { resource: 'parameter', id: 'container_format' },
    );
  }
  for (const [format, kind] of [
    ['aki', 'kernel'],
    ['ari', 'ramdisk'],
  ] as const) {
    if (diskFormat === format || containerFormat === format) {
      if (diskFormat !== containerFormat) {
        throw invalid(
          `A ${kind} image has disk_format and container_format '${format}' (got ${diskFormat} and ${containerFormat}).`,
          { resource: 'parameter', id: 'container_format' },
        );
      }
      return { kind, diskFormat: 'raw' };
    }
  }
  if (containerFormat === 'ami' && diskFormat !== 'ami' && diskFormat !== 'raw') {
    throw invalid(`The container_format 'ami' holds raw (disk_format ami or raw) images.`, {
      resource: 'parameter',
      id: 'container_format',
    });
  }
  const qemu = diskFormat === 'ami' ? 'raw' : diskFormat === 'vhd' ? 'vpc' : diskFormat;
  return { kind: 'machine', diskFormat: qemu };
}

/** How a stored image's formats are shown. */
export function apiFormat(row: ImageRow): { disk_format: string; container_format: string } {
  if (row.kind === 'kernel') return { disk_format: 'aki', container_format: 'aki' };
  if (row.kind === 'ramdisk') return { disk_format: 'ari', container_format: 'ari' };
  const disk = row.diskFormat === 'vpc' ? 'vhd' : (row.diskFormat ?? 'raw');
  return { disk_format: disk, container_format: 'bare' };
}
