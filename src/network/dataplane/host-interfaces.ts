// The interfaces a host hands its data plane (the flat uplink, the public interface): where
// each one is, and moving it into the data plane's namespace. An interface is looked up in
// the namespace first (moved there earlier, or created there by whoever set up the host),
// then in the machine's root namespace, from where it is moved in; a physical NIC goes back to
// the root namespace when the namespace is deleted. Nothing is changed before every interface
// has been found.
import { StratusError } from '../../errors.js';
import { linkExists } from './bridge.js';
import type { Namespace } from './namespace.js';
import { run, tryRun } from './run.js';

/** One interface the data plane needs, and the option that named it (for messages). */
export interface HostInterface {
  name: string;
  /** e.g. `--flat-interface`. */
  option: string;
}

/** Where an interface was found: already in the namespace, or to be moved in from the root. */
export type InterfacePlan =
  { name: string; action: 'use' } | { name: string; action: 'move'; command: string[] };

/**
 * What to do with interface `name` given where it was found; the move is `ip link set dev
 * NAME netns NS`, run in the root namespace. Throws (naming the interface and the option)
 * when it is in neither.
 */
export function planInterface(
  iface: HostInterface,
  namespace: string,
  found: { inNamespace: boolean; inRoot: boolean },
): InterfacePlan {
  if (found.inNamespace) return { name: iface.name, action: 'use' };
  if (found.inRoot) {
    return {
      name: iface.name,
      action: 'move',
      command: ['link', 'set', 'dev', iface.name, 'netns', namespace],
    };
  }
  throw new StratusError(
    'invalid',
    `The interface '${iface.name}' (${iface.option}) is neither in the data plane's namespace ${namespace} nor in this machine's root namespace; create it, or name the right one.`,
    { resource: 'config', id: iface.option.replace(/^--/, '') },
  );
}

/**
 * Finds every interface and plans its move; throws before anything is changed when one is
 * missing. `nsExists`: the namespace is there already (an agent restart).
 */
export async function locateInterfaces(
  ns: Namespace,
  nsExists: boolean,
  interfaces: readonly HostInterface[],
): Promise<InterfacePlan[]> {
  const plans: InterfacePlan[] = [];
  for (const iface of interfaces) {
    const inNamespace = nsExists && (await linkExists(ns, iface.name));
    const inRoot = !inNamespace && (await tryRun('ip', ['link', 'show', 'dev', iface.name]));
    plans.push(planInterface(iface, ns.name, { inNamespace, inRoot }));
  }
  return plans;
}

/** Moves the planned interfaces into the namespace; returns those it moved. */
export async function moveInterfaces(plans: readonly InterfacePlan[]): Promise<string[]> {
  const moved: string[] = [];
  for (const p of plans) {
    if (p.action !== 'move') continue;
    await run('ip', p.command);
    moved.push(p.name);
  }
  return moved;
}

/** Gives moved interfaces back to the root namespace (undoing a failed start). */
export async function returnInterfaces(ns: Namespace, names: readonly string[]): Promise<void> {
  // PID 1's namespace is the machine's own.
  for (const name of names) await ns.ip(['link', 'set', 'dev', name, 'netns', '1']);
}
