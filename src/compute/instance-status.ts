// An instance's health as the cloud can tell it: the host's checks (is the compute service
// that runs it alive) and the instance's own (is the VM running as its host last saw it, and
// did the guest show itself on the network). Pure: the caller gathers the facts. Each API
// edge words the result itself (EC2's DescribeInstanceStatus).
import type { InstanceRow } from '../db/index.js';
import type { ServiceState } from '../service/index.js';

/**
 * `ok`: the check passed; `impaired`: it failed; `initializing`: not yet known, and should be
 * soon; `unknown`: the cloud cannot tell (no host report, or nothing to observe);
 * `not_applicable`: the instance is not running, so there is nothing to check.
 */
export type HealthStatus = 'ok' | 'impaired' | 'initializing' | 'unknown' | 'not_applicable';

/** The result of one check: reachability of the host, or of the guest. */
export type CheckResult = 'passed' | 'failed' | 'initializing' | 'unknown';

export interface HealthCheck {
  status: HealthStatus;
  /** Absent when the status is not_applicable. */
  reachability?: CheckResult;
}

export interface InstanceHealth {
  /** The host: its compute service's heartbeat. */
  system: HealthCheck;
  /** The instance: its power state and, for real guests, the network. */
  instance: HealthCheck;
}

/** What the cloud knows of an instance, gathered by the caller. */
export interface HealthFacts {
  instance: Pick<
    InstanceRow,
    | 'vmState'
    | 'taskState'
    | 'powerState'
    | 'host'
    | 'launchedAt'
    | 'createdAt'
    | 'metadataFetchedAt'
    | 'networkObserved'
  >;
  /** The state of the compute service on the instance's host; undefined if none registered. */
  host: ServiceState | undefined;
  /** When the guest took its DHCP lease on its fixed IP, if it has. */
  leasedAt: number | null;
}

export interface HealthLimits {
  /** Milliseconds after launch by which a real guest should have shown itself. */
  guestNetworkDeadlineMs: number;
}

const check = (status: HealthStatus, reachability: CheckResult): HealthCheck => ({
  status,
  reachability,
});
const NOT_APPLICABLE: HealthCheck = { status: 'not_applicable' };

/** The instance's health at `at` (milliseconds since the epoch). */
export function instanceHealth(
  facts: HealthFacts,
  limits: HealthLimits,
  at: number,
): InstanceHealth {
  const inst = facts.instance;
  // Only a running instance with nothing in progress is checked (EC2 does the same).
  if (inst.vmState !== 'active' || inst.taskState !== null) {
    return { system: NOT_APPLICABLE, instance: NOT_APPLICABLE };
  }
  if (!inst.host || facts.host === undefined) {
    return { system: check('unknown', 'unknown'), instance: check('unknown', 'unknown') };
  }
  if (facts.host === 'down') {
    // The host has stopped reporting: what it last said of the VM may no longer hold.
    return { system: check('impaired', 'failed'), instance: check('unknown', 'unknown') };
  }
  return { system: check('ok', 'passed'), instance: guestHealth(facts, limits, at) };
}

function guestHealth(facts: HealthFacts, limits: HealthLimits, at: number): HealthCheck {
  const inst = facts.instance;
  switch (inst.powerState) {
    case 'running':
      break;
    case 'nostate':
      // The host has not seen the VM yet.
      return check('initializing', 'initializing');
    default:
      // Paused, crashed or shut down while the record says active.
      return check('impaired', 'failed');
  }
  if (facts.leasedAt !== null || inst.metadataFetchedAt !== null) return check('ok', 'passed');
  // The fake driver has no guest; QEMU's user-mode network shows the cloud nothing.
  if (!inst.networkObserved) return check('unknown', 'unknown');
  const since = inst.launchedAt ?? inst.createdAt;
  return at - since < limits.guestNetworkDeadlineMs
    ? check('initializing', 'initializing')
    : check('impaired', 'failed');
}
