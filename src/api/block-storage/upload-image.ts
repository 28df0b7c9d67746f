// The volume action os-volume_upload_image (at 3.0): the volume's data becomes a new private
// image of the caller's project (volume/volume-images.ts). `image_name` is required,
// `disk_format` raw (the default) or qcow2, `container_format` bare; `force` (uploading an
// in-use volume) is refused, as the API does by default. Answered 202 with the volume, now
// `uploading`, and the new image's id.
import type { RequestContext } from '../../context.js';
import type { VolumeRow } from '../../db/index.js';
import { invalid } from '../../errors.js';
import { VOLUME_IMAGE_FORMATS, type VolumeImageFormat } from '../../volume/index.js';
import type { ApiServices } from '../services.js';
import { volumeTypeView } from './views.js';

const bad = (message: string, id: string) => invalid(message, { resource: 'parameter', id });

/** Runs the action with its arguments `args` and answers its body. */
export async function uploadImage(
  services: ApiServices,
  ctx: RequestContext,
  row: VolumeRow,
  args: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const name = args['image_name'];
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
    throw bad('image_name must be a string of 1 to 255 characters.', 'image_name');
  }
  const format = args['disk_format'] ?? 'raw';
  if (typeof format !== 'string' || !(VOLUME_IMAGE_FORMATS as readonly string[]).includes(format)) {
    throw bad(
      `Invalid disk-format '${String(format)}' specified; it must be one of ${VOLUME_IMAGE_FORMATS.join(', ')}.`,
      'disk_format',
    );
  }
  const container = args['container_format'] ?? 'bare';
  if (container !== 'bare') {
    throw bad(
      `Invalid container-format '${String(container)}' specified; it must be bare.`,
      'container_format',
    );
  }
  const force = args['force'];
  if (force !== undefined && force !== false && !/^(false|f|no|n|0|off)$/i.test(String(force))) {
    throw bad(
      'Unable to upload an in-use volume with force: uploading a volume attached to an instance is not enabled here.',
      'force',
    );
  }
  const { volume, image } = await services.volumeImages.upload(ctx, row, {
    imageName: name,
    diskFormat: format as VolumeImageFormat,
    isPublic: false,
    protected: false,
  });
  return {
    'os-volume_upload_image': {
      id: volume.id,
      updated_at: new Date().toISOString().replace(/Z$/, '000'),
      status: volume.status,
      display_description: volume.description,
      size: volume.sizeGb,
      volume_type: volumeTypeView(await services.volumes.types.get(volume.volumeType, true)),
      image_id: image.id,
      container_format: 'bare',
      disk_format: format,
      image_name: name,
    },
  };
}
