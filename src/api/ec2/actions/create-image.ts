// CreateImage: a new machine image (ami-) from an instance's root disk, which the instance's
// host copies and uploads (compute/instance-images.ts). The image is `pending` until its data
// is in the image store, then `available`; the instance keeps running. Without NoReboot the
// guest is shut down cleanly around the copy and booted again, as EC2 does; with it the copy
// is crash consistent. Roots here are instance store, so no EBS snapshot is made: tags asked
// for snapshots have nothing to go on and are dropped.
import type { InstanceRow } from '../../../db/index.js';
import { invalid } from '../../../errors.js';
import { parseEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import { invalidValue } from '../params.js';
import type { Ec2Deps } from './deps.js';
import { shownId } from './images.js';
import { checkTags } from './instances.js';

/** EC2's rule for AMI names: 3 to 128 of these characters. */
const AMI_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

export function createImageActions({ instances, instanceImages, tags }: Ec2Deps): Ec2ActionTable {
  return {
    CreateImage: async ({ params, context }) => {
      const shown = params.requireString('InstanceId', { max: 64 });
      const name = params.requireString('Name', { max: 4096 });
      if (!AMI_NAME.test(name)) {
        throw invalid(
          `The image name '${name.slice(0, 140)}' is not valid: it must be 3 to 128 letters, digits, spaces or ( ) [ ] . / - ' @ _ characters.`,
          { resource: 'image', id: name, reason: 'name' },
        );
      }
      const description = params.string('Description', { max: 255 });
      const noReboot = params.bool('NoReboot') ?? false;
      const imageTags = params
        .tagSpecifications()
        .filter((s) => {
          if (s.resourceType !== 'image' && s.resourceType !== 'snapshot') {
            throw invalidValue(
              'TagSpecification.ResourceType',
              s.resourceType,
              "It must be 'image' or 'snapshot'.",
            );
          }
          checkTags(s.tags);
          return s.resourceType === 'image';
        })
        .flatMap((s) => s.tags);
      const [inst] = await instances.resolve(context, [
        { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
      ]);
      const image = await instanceImages.create(context, inst as InstanceRow, {
        name,
        description,
        noReboot,
      });
      if (imageTags.length > 0 && image.ownerProjectId !== null) {
        await tags.put(
          [{ type: 'image', id: image.id, projectId: image.ownerProjectId, shown: shownId(image) }],
          imageTags,
        );
      }
      return { imageId: shownId(image) };
    },
  };
}
