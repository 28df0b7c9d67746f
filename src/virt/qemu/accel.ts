// Chooses QEMU's accelerator: KVM only where the host has a real hardware hypervisor module,
// TCG (software emulation) otherwise. An openable /dev/kvm is not proof: a nested software
// hypervisor (kvm_pvm) also provides one but cannot boot stock kernels.
import fs from 'node:fs';

export type AcceleratorMode = 'auto' | 'kvm' | 'tcg';

export interface AcceleratorChoice {
  accelerator: 'kvm' | 'tcg';
  /** Why, in a sentence, for logs and the compute service's status. */
  reason: string;
}

export interface HostProbe {
  /** Whether a path exists (e.g. '/sys/module/kvm_intel'). */
  exists(path: string): boolean;
  /** Whether the current user may open a path for reading and writing. */
  accessible(path: string): boolean;
}

const realHost: HostProbe = {
  exists: (p) => fs.existsSync(p),
  accessible: (p) => {
    try {
      fs.accessSync(p, fs.constants.R_OK | fs.constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** Picks the accelerator for `mode`; 'kvm' asked for on a host without it is refused. */
export function chooseAccelerator(
  mode: AcceleratorMode,
  host: HostProbe = realHost,
): AcceleratorChoice {
  if (mode === 'tcg') return { accelerator: 'tcg', reason: 'TCG was configured.' };
  const module = ['kvm_intel', 'kvm_amd'].find((m) => host.exists(`/sys/module/${m}`));
  const usable = module !== undefined && host.accessible('/dev/kvm');
  if (usable)
    return { accelerator: 'kvm', reason: `KVM (${module}) is loaded and /dev/kvm is usable.` };
  const why =
    module === undefined
      ? 'neither kvm_intel nor kvm_amd is loaded'
      : `${module} is loaded but /dev/kvm cannot be opened`;
  if (mode === 'kvm') throw new Error(`KVM was configured, but ${why}.`);
  return { accelerator: 'tcg', reason: `Using TCG: ${why}.` };
}
