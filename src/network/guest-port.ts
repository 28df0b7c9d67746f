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

export interface GuestNetworkPort {
  /**
   * Plugs an instance in with its security groups in force from the first packet; resolves
   * when DHCP will answer it. Plugging one that is plugged keeps its tap.
   */
  plugInstance(args: PlugArgs): Promise<PluggedPort>;
  /** Unplugs an instance whose VM is gone, ending its DHCP lease; no-op when not plugged. */
  unplugInstance(args: { instanceId: string }): Promise<void>;
}
