// The compute service's bus protocol and its typed client; every method names its host.
import { hostTopic, type Bus } from '../bus/index.js';
import type { RequestContext } from '../context.js';
import type { ServiceStatus } from '../service/index.js';
import type { DriverCapabilities, HostCapacity } from '../virt/index.js';
import type { SerialConnection } from './serial-console-server.js';

export interface HostDescription {
  host: string;
  driver: string;
  capabilities: DriverCapabilities;
  capacity: HostCapacity;
  instances: number;
}

export interface InstanceRef {
  instanceId: string;
}

/** The image a rescued instance boots, with its kernel and ramdisk if it has them. */
export interface RescueImage {
  imageId: string;
  kernelId: string | null;
  ramdiskId: string | null;
}

export type ComputeProtocol = {
  status: { args: Record<string, never>; result: ServiceStatus };
  describeHost: { args: Record<string, never>; result: HostDescription };
  buildInstance: { args: InstanceRef; result: null };
  terminateInstance: { args: InstanceRef; result: null };
  rebootInstance: { args: InstanceRef & { hard: boolean }; result: null };
  stopInstance: { args: InstanceRef & { force: boolean }; result: null };
  startInstance: { args: InstanceRef; result: null };
  consoleOutput: {
    args: InstanceRef & { maxBytes: number };
    result: { output: string; at: number };
  };
  consoleScreenshot: {
    args: InstanceRef & { wakeUp: boolean };
    result: { jpegBase64: string };
  };
  attachVolume: { args: InstanceRef & { volumeId: string }; result: null };
  detachVolume: { args: InstanceRef & { volumeId: string; force: boolean }; result: null };
  extendVolume: { args: InstanceRef & { volumeId: string }; result: null };
  serialConsole: { args: InstanceRef; result: SerialConnection };
  attachInterface: { args: InstanceRef & { portId: string }; result: null };
  detachInterface: { args: InstanceRef & { portId: string }; result: null };
} & LifecycleProtocol &
  ImageProtocol;

/** Images from instances (instance-images.ts), which the host's InstanceImageWorker makes. */
export type ImageProtocol = {
  snapshotInstance: {
    args: InstanceRef & { imageId: string; noReboot: boolean };
    result: null;
  };
};

/** The actions of server-lifecycle.ts, which the host's LifecycleWorker carries out. */
export type LifecycleProtocol = {
  pauseInstance: { args: InstanceRef; result: null };
  unpauseInstance: { args: InstanceRef; result: null };
  suspendInstance: { args: InstanceRef; result: null };
  resumeInstance: { args: InstanceRef; result: null };
  rebuildInstance: { args: InstanceRef; result: null };
  resizeInstance: { args: InstanceRef; result: null };
  confirmResize: { args: InstanceRef; result: null };
  revertResize: { args: InstanceRef; result: null };
  rescueInstance: { args: InstanceRef & { rescue: RescueImage }; result: null };
  unrescueInstance: { args: InstanceRef; result: null };
};

export class ComputeClient {
  constructor(private readonly bus: Bus) {}

  status(ctx: RequestContext, host: string): Promise<ServiceStatus> {
    return this.bus.call(ctx, hostTopic('compute', host), 'status', {});
  }

  /** Call: the host's driver, capabilities, capacity and how many VMs it runs. */
  describeHost(ctx: RequestContext, host: string): Promise<HostDescription> {
    return this.bus.call(ctx, hostTopic('compute', host), 'describeHost', {});
  }

  /** Cast: builds and boots an instance already placed on `host`. */
  buildInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'buildInstance', { instanceId });
  }

  /** Cast: destroys the VM and gives back its addresses; the record ends terminated. */
  terminateInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'terminateInstance', { instanceId });
  }

  rebootInstance(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    hard: boolean,
  ): Promise<void> {
    return this.#cast(ctx, host, 'rebootInstance', { instanceId, hard });
  }

  /** Cast: powers the VM off; the guest is asked first (ACPI) unless `force`. */
  stopInstance(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    force: boolean,
  ): Promise<void> {
    return this.#cast(ctx, host, 'stopInstance', { instanceId, force });
  }

  /**
   * Cast: copies the disk of an instance in task state image_snapshot into the queued image
   * `imageId` and uploads it; the task is cleared when done (the image deleted on a failure).
   */
  snapshotInstance(
    ctx: RequestContext,
    host: string,
    args: { instanceId: string; imageId: string; noReboot: boolean },
  ): Promise<void> {
    return this.#cast(ctx, host, 'snapshotInstance', args);
  }

  startInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'startInstance', { instanceId });
  }

  /**
   * Casts for the actions of server-lifecycle.ts: each finds the instance in the action's task
   * state (set by the caller) and ends it in the action's vm state, or clears the task if the
   * driver fails (the action record says why).
   */
  pauseInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'pauseInstance', { instanceId });
  }

  unpauseInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'unpauseInstance', { instanceId });
  }

  suspendInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'suspendInstance', { instanceId });
  }

  resumeInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'resumeInstance', { instanceId });
  }

  /** Cast: a new disk from the image the record names now (the caller set it). */
  rebuildInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'rebuildInstance', { instanceId });
  }

  /** Cast: the flavor the record names now; the old one is in its resize source. */
  resizeInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'resizeInstance', { instanceId });
  }

  confirmResize(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'confirmResize', { instanceId });
  }

  revertResize(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'revertResize', { instanceId });
  }

  rescueInstance(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    rescue: RescueImage,
  ): Promise<void> {
    return this.#cast(ctx, host, 'rescueInstance', { instanceId, rescue });
  }

  unrescueInstance(ctx: RequestContext, host: string, instanceId: string): Promise<void> {
    return this.#cast(ctx, host, 'unrescueInstance', { instanceId });
  }

  /** Call: the latest console output of the VM, at most `maxBytes` from its end. */
  consoleOutput(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    maxBytes: number,
  ): Promise<{ output: string; at: number }> {
    return this.bus.call(ctx, hostTopic('compute', host), 'consoleOutput', {
      instanceId,
      maxBytes,
    });
  }

  /**
   * Call: a JPEG picture of the VM's display, in base64 (see VirtDriver.screenshot); a VM that
   * is not running is a `conflict`.
   */
  consoleScreenshot(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    wakeUp: boolean,
  ): Promise<{ jpegBase64: string }> {
    return this.bus.call(ctx, hostTopic('compute', host), 'consoleScreenshot', {
      instanceId,
      wakeUp,
    });
  }

  /**
   * Cast: attaches a volume recorded `attaching` with the instance and a device name; the
   * volume ends `in-use`, or `available` (`error` when its file is gone) if it cannot be.
   */
  attachVolume(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    volumeId: string,
  ): Promise<void> {
    return this.#cast(ctx, host, 'attachVolume', { instanceId, volumeId });
  }

  /**
   * Cast: detaches a volume recorded `detaching`; it ends `available`, or `in-use` again when
   * the guest does not release it in time and `force` is not given.
   */
  detachVolume(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    volumeId: string,
    force: boolean,
  ): Promise<void> {
    return this.#cast(ctx, host, 'detachVolume', { instanceId, volumeId, force });
  }

  /** Cast: grows an attached volume recorded `extending` to its size; it ends `in-use`. */
  extendVolume(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    volumeId: string,
  ): Promise<void> {
    return this.#cast(ctx, host, 'extendVolume', { instanceId, volumeId });
  }

  /**
   * Call: where the VM's serial port can be connected to over TCP (its host's address and a
   * one-time secret, see serial-console-server.ts); a VM that is not running is a `conflict`.
   */
  serialConsole(ctx: RequestContext, host: string, instanceId: string): Promise<SerialConnection> {
    return this.bus.call(ctx, hostTopic('compute', host), 'serialConsole', { instanceId });
  }

  /**
   * Call: gives the running instance a network card for the port (recorded with it already):
   * bound to the host, plugged on its data plane and hot-plugged into the VM. Rejects when
   * it cannot be, with nothing left plugged.
   */
  async attachInterface(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    portId: string,
  ): Promise<void> {
    await this.bus.call(ctx, hostTopic('compute', host), 'attachInterface', {
      instanceId,
      portId,
    });
  }

  /** Call: takes the port's card out of the instance's VM and unplugs the port. */
  async detachInterface(
    ctx: RequestContext,
    host: string,
    instanceId: string,
    portId: string,
  ): Promise<void> {
    await this.bus.call(ctx, hostTopic('compute', host), 'detachInterface', {
      instanceId,
      portId,
    });
  }

  #cast<M extends keyof ComputeProtocol>(
    ctx: RequestContext,
    host: string,
    method: M,
    args: ComputeProtocol[M]['args'],
  ): Promise<void> {
    return this.bus.cast(ctx, hostTopic('compute', host), method, args);
  }
}
