// The port through which a compute host plugs its guests into the host's data plane. The
// network agent implements it in-process; the compute manager knows only this interface.

/** What the data plane needs to know of a guest to plug it in. */
export interface PlugArgs {
  instanceId: string;
  mac: string;
  fixedIp: string;
  hostname: string;
}

/** Where a plugged guest's port is, for the virt driver. */
export interface PluggedPort {
  namespace: string;
  bridge: string;
  /** The tap (`-netdev tap,ifname=...` inside `namespace`). */
  ifname: string;
}

/** A port attached to a running instance on a project network, to plug as a card of its own. */
export interface PortPlugArgs {
  instanceId: string;
  networkId: string;
  portId: string;
  mac: string;
  fixedIp: string;
}

export interface GuestNetworkPort {
  /**
   * Plugs an instance in with its security groups in force from the first packet; resolves
   * when DHCP will answer it. Plugging one that is plugged keeps its tap.
   */
  plugInstance(args: PlugArgs): Promise<PluggedPort>;
  /** Unplugs an instance whose VM is gone, ending its DHCP lease; no-op when not plugged. */
  unplugInstance(args: { instanceId: string }): Promise<void>;
  /**
   * Plugs a port attached to a running instance on its project network (a tap of its own on
   * the overlay, with the port's security groups in force from the first packet).
   * `invalid` when the host carries no overlay.
   */
  plugPort(args: PortPlugArgs): Promise<PluggedPort>;
  /** Unplugs such a port; no-op when it is not plugged. */
  unplugPort(args: { portId: string }): Promise<void>;
}
