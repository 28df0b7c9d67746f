// The Block Storage API's attachment actions on a volume: os-attach (to a server, at a
// mountpoint) and os-detach do the same as Compute's os-volume_attachments, through the one
// model; os-reserve, os-unreserve and os-begin_detaching, Cinder's bookkeeping steps for a
// compute service driving the attach itself, have no meaning here, where the attach is one
// step the cloud drives, and are refused with a 400 that says so.
import type { RequestContext } from '../../context.js';
import type { InstanceRow, VolumeRow } from '../../db/index.js';
import { invalid, notFound } from '../../errors.js';
import type { ApiServices } from '../services.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BOOKKEEPING = new Set([
  'os-reserve',
  'os-unreserve',
  'os-begin_detaching',
  'os-roll_detaching',
]);

/** The server with exactly this id that the caller may see, not deleted. */
export async function findServer(
  services: ApiServices,
  ctx: RequestContext,
  serverId: unknown,
): Promise<InstanceRow> {
  if (typeof serverId !== 'string' || !UUID.test(serverId)) {
    throw invalid('The instance_uuid must be the id of a server.', {
      resource: 'parameter',
      id: 'instance_uuid',
    });
  }
  const id = serverId.toLowerCase();
  const [instance] = (await services.instances.list(ctx, { idPrefixes: [id] })).filter(
    (i) => i.id === id && i.vmState !== 'deleted',
  );
  if (!instance) throw notFound('instance', serverId, `Server ${serverId} could not be found.`);
  return instance;
}

/** Runs the action if it is an attachment action; false when it is another one. */
export async function volumeAttachAction(
  services: ApiServices,
  ctx: RequestContext,
  volume: VolumeRow,
  action: string,
  args: Record<string, unknown>,
): Promise<boolean> {
  if (action === 'os-attach') {
    const serverId = args['instance_uuid'];
    if (typeof serverId !== 'string' || !UUID.test(serverId)) {
      throw invalid('os-attach needs the instance_uuid of a server.', {
        resource: 'parameter',
        id: 'instance_uuid',
      });
    }
    const mountpoint = args['mountpoint'];
    if (mountpoint !== undefined && typeof mountpoint !== 'string') {
      throw invalid('The mountpoint must be a device name such as /dev/vdb.', {
        resource: 'parameter',
        id: 'mountpoint',
      });
    }
    const instance = await findServer(services, ctx, serverId);
    await services.volumeAttachments.attach(ctx, {
      volume,
      shown: volume.id,
      instance,
      device: mountpoint,
    });
    return true;
  }
  if (action === 'os-detach') {
    const attachmentId = args['attachment_id'];
    if (attachmentId !== undefined && attachmentId !== volume.id) {
      throw notFound(
        'attachment',
        String(attachmentId),
        `Attachment ${String(attachmentId)} could not be found.`,
      );
    }
    await services.volumeAttachments.detach(ctx, { volume, shown: volume.id, force: false });
    return true;
  }
  if (BOOKKEEPING.has(action)) {
    throw invalid(
      `The volume action '${action}' is not needed here: attach with os-attach or the Compute API, which do every step.`,
      { resource: 'request', reason: 'unsupported' },
    );
  }
  return false;
}
