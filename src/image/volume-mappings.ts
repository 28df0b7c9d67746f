// The block device mapping of a volume-backed (EBS-style) image, kept as Nova keeps it in the
// image's properties: `bdm_v2` "True", `root_device_name`, and `block_device_mapping`, a JSON
// list of mappings from volume snapshots. Such an image has no data of its own: launching it
// makes each mapping's volume from its snapshot and boots from the root one.
import type { ImageRow } from '../db/index.js';
import { imageProperties } from './image-store.js';

/** One volume of a volume-backed image. */
export interface ImageVolumeMapping {
  /** The device name, with /dev/. */
  device: string;
  snapshotId: string;
  sizeGb: number;
  deleteOnTermination: boolean;
  volumeType: string | null;
  /** 0 for the root volume, null for the others. */
  bootIndex: number | null;
}

/** Whether the image is volume-backed (its root is a volume made from a snapshot). */
export function isVolumeBacked(image: Pick<ImageRow, 'properties'>): boolean {
  return volumeMappingsOf(image) !== undefined;
}

/** The image's volumes, the root first; undefined for an image with data of its own. */
export function volumeMappingsOf(
  image: Pick<ImageRow, 'properties'>,
): ImageVolumeMapping[] | undefined {
  const props = imageProperties(image as ImageRow);
  if (props.bdm_v2 !== 'True' || props.block_device_mapping === undefined) return undefined;
  let list: unknown;
  try {
    list = JSON.parse(props.block_device_mapping);
  } catch {
    return undefined;
  }
  if (!Array.isArray(list)) return undefined;
  const out: ImageVolumeMapping[] = [];
  for (const raw of list as Record<string, unknown>[]) {
    if (raw === null || typeof raw !== 'object') continue;
    if (raw.source_type !== 'snapshot' || typeof raw.snapshot_id !== 'string') continue;
    const boot =
      raw.boot_index === null || raw.boot_index === undefined ? null : Number(raw.boot_index);
    out.push({
      device: typeof raw.device_name === 'string' ? raw.device_name : '',
      snapshotId: raw.snapshot_id,
      sizeGb: Number(raw.volume_size) || 1,
      deleteOnTermination: raw.delete_on_termination === true,
      volumeType: typeof raw.volume_type === 'string' ? raw.volume_type : null,
      bootIndex: boot === 0 ? 0 : null,
    });
  }
  if (!out.some((m) => m.bootIndex === 0)) return undefined;
  return out.sort((a, b) => (a.bootIndex === 0 ? -1 : b.bootIndex === 0 ? 1 : 0));
}

/** The root device name the image names, if any. */
export function rootDeviceNameOf(image: Pick<ImageRow, 'properties'>): string | undefined {
  return imageProperties(image as ImageRow).root_device_name;
}

/** The image properties that make an image volume-backed with these volumes (root first). */
export function volumeMappingProperties(
  rootDevice: string,
  mappings: readonly ImageVolumeMapping[],
): Record<string, string> {
  return {
    bdm_v2: 'True',
    root_device_name: rootDevice,
    block_device_mapping: JSON.stringify(
      mappings.map((m) => ({
        boot_index: m.bootIndex,
        device_name: m.device,
        source_type: 'snapshot',
        destination_type: 'volume',
        snapshot_id: m.snapshotId,
        volume_size: m.sizeGb,
        volume_type: m.volumeType,
        delete_on_termination: m.deleteOnTermination,
        device_type: 'disk',
        disk_bus: 'virtio',
        guest_format: null,
        image_id: null,
        volume_id: null,
        no_device: null,
        tag: null,
      })),
    ),
  };
}
