// The volume service's bus protocol and the typed client others use to reach it; every method
// names the volume host that keeps the volume's file.
import { hostTopic, type Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';
import type { NbdExport } from './nbd-exports.js';

export const VOLUME_SERVICE = 'volume';

/** What a volume host holds and has room for. */
export interface VolumeHostDescription {
  host: string;
  /** Room on the file system of the host's volume directory, in GiB. */
  capacityGb: number;
  freeGb: number;
  /** The virtual size of the volumes the host keeps, in GiB (qcow2 files are sparse). */
  allocatedGb: number;
  volumes: number;
}

export interface VolumeRef {
  volumeId: string;
}

export interface SnapshotRef {
  snapshotId: string;
}

export type VolumeProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  describeHost: { args: Record<string, never>; result: VolumeHostDescription };
  createVolume: { args: VolumeRef; result: null };
  deleteVolume: { args: VolumeRef; result: null };
  extendVolume: { args: VolumeRef; result: null };
  exportVolume: { args: VolumeRef; result: NbdExport };
  unexportVolume: { args: VolumeRef; result: null };
  growVolume: { args: VolumeRef; result: NbdExport };
  createSnapshot: { args: SnapshotRef; result: null };
  deleteSnapshot: { args: SnapshotRef; result: null };
  uploadToImage: {
    args: VolumeRef & { imageId: string; diskFormat: 'raw' | 'qcow2' };
    result: null;
  };
};

export class VolumeClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext, host: string): Promise<ServiceStatus> {
    return this.bus.call(ctx, hostTopic(VOLUME_SERVICE, host), 'status', {});
  }

  /** Call: the host's capacity and what its volumes take of it. */
  describeHost(ctx: RequestContext, host: string): Promise<VolumeHostDescription> {
    return this.bus.call(ctx, hostTopic(VOLUME_SERVICE, host), 'describeHost', {});
  }

  /**
   * Cast: makes the file of a volume recorded as `creating` on `host`; the volume ends
   * `available`, or `error` with its reason. Running it again for a made volume changes nothing.
   */
  createVolume(ctx: RequestContext, host: string, volumeId: string): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'createVolume', { volumeId });
  }

  /** Cast: removes the file and the record of a volume recorded as `deleting`. Idempotent. */
  deleteVolume(ctx: RequestContext, host: string, volumeId: string): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'deleteVolume', { volumeId });
  }

  /**
   * Cast: copies the file of a volume recorded as `uploading` into the queued image `imageId`
   * (volume-images.ts); the volume is available again afterwards, the image active or deleted.
   */
  uploadToImage(
    ctx: RequestContext,
    host: string,
    args: { volumeId: string; imageId: string; diskFormat: 'raw' | 'qcow2' },
  ): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'uploadToImage', args);
  }

  /**
   * Cast: grows the file of a volume recorded as `extending` to its recorded size; the volume
   * ends `available` (or `in-use` when attached), or `error_extending`.
   */
  extendVolume(ctx: RequestContext, host: string, volumeId: string): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'extendVolume', { volumeId });
  }

  /**
   * Call: exports the volume's file over NBD from its host (kept until `unexportVolume`, and
   * made again when the volume service or its storage daemon restarts while the volume is
   * attached) and says where. Idempotent. The file is gone: `not_found`.
   */
  exportVolume(ctx: RequestContext, host: string, volumeId: string): Promise<NbdExport> {
    return this.bus.call(ctx, hostTopic(VOLUME_SERVICE, host), 'exportVolume', { volumeId });
  }

  /** Call: ends the volume's export, cutting any client still connected. Idempotent. */
  unexportVolume(ctx: RequestContext, host: string, volumeId: string): Promise<void> {
    return this.bus
      .call(ctx, hostTopic(VOLUME_SERVICE, host), 'unexportVolume', { volumeId })
      .then(() => undefined);
  }

  /**
   * Call: grows the file of an attached volume to its recorded size through the storage daemon
   * and exports it again (its clients reconnect); the compute host then tells the guest.
   */
  growVolume(ctx: RequestContext, host: string, volumeId: string): Promise<NbdExport> {
    return this.bus.call(ctx, hostTopic(VOLUME_SERVICE, host), 'growVolume', { volumeId });
  }

  /**
   * Cast: copies the data of a snapshot recorded as `creating` on `host` (from its volume, or
   * for a copy from its source snapshot) into the snapshot's file; the snapshot ends
   * `available`, or `error` with its reason. Running it again for a made snapshot changes
   * nothing.
   */
  createSnapshot(ctx: RequestContext, host: string, snapshotId: string): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'createSnapshot', { snapshotId });
  }

  /** Cast: removes the file and the record of a snapshot recorded as `deleting`. Idempotent. */
  deleteSnapshot(ctx: RequestContext, host: string, snapshotId: string): Promise<void> {
    return this.bus.cast(ctx, hostTopic(VOLUME_SERVICE, host), 'deleteSnapshot', { snapshotId });
  }
}
