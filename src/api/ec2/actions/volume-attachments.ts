// AttachVolume and DetachVolume: both answer the attachment as it is now (EC2 answers
// `attaching` or `detaching`; the instance's host finishes the work, DescribeVolumes shows it).
import type { VolumeRow } from '../../../db/index.js';
import { StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import type { Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';

function attachment(v: VolumeRow, status: string): XmlObject {
  return {
    attachTime: ec2Time(v.attachedAt ?? v.updatedAt),
    device: v.device ?? undefined,
    instanceId: v.instanceId ? ec2Id('i', v.instanceId) : undefined,
    status,
    volumeId: ec2Id('vol', v.id),
    deleteOnTermination: false,
  };
}

export function volumeAttachmentActions({
  volumes,
  instances,
  volumeAttachments,
}: Ec2Deps): Ec2ActionTable {
  const volumeOf = async (params: Params, context: Parameters<typeof volumes.list>[0]) => {
    const shown = params.requireString('VolumeId', { max: 64 });
    const ref = parseEc2Id(shown, ['vol'], 'volume').uuidPrefix;
    const [row] = await volumes.resolve(context, [{ ref, shown }]);
    return { volume: row as VolumeRow, shown };
  };
  const instanceOf = async (shown: string, context: Parameters<typeof volumes.list>[0]) => {
    const ref = parseEc2Id(shown, ['i'], 'instance').uuidPrefix;
    const [row] = await instances.resolve(context, [{ ref, shown }]);
    return row;
  };
  return {
    AttachVolume: async ({ params, context }) => {
      const device = params.string('Device', { max: 64 });
      if (device === undefined) {
        throw new StratusError('missing', 'The request must contain the parameter device.', {
          resource: 'parameter',
          id: 'Device',
        });
      }
      const instanceShown = params.requireString('InstanceId', { max: 64 });
      const { volume, shown } = await volumeOf(params, context);
      const instance = await instanceOf(instanceShown, context);
      const row = await volumeAttachments.attach(context, {
        volume,
        shown,
        instance: instance as NonNullable<typeof instance>,
        device,
      });
      return attachment(row, 'attaching');
    },

    DetachVolume: async ({ params, context }) => {
      const { volume, shown } = await volumeOf(params, context);
      const instanceShown = params.string('InstanceId', { max: 64 });
      const instance =
        instanceShown === undefined ? undefined : await instanceOf(instanceShown, context);
      const row = await volumeAttachments.detach(context, {
        volume,
        shown,
        instance,
        device: params.string('Device', { max: 64 }),
        force: params.bool('Force') ?? false,
      });
      return attachment(row, row.status === 'available' ? 'detached' : 'detaching');
    },
  };
}
