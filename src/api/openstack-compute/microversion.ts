// The Compute API's microversions: which one a request asks for (the `OpenStack-API-Version:
// compute X.Y` header, or the older `X-OpenStack-Nova-API-Version: X.Y`), checked against
// the range this API implements. No header means the minimum, 2.1.
import { invalid } from '../../errors.js';

export interface Microversion {
  major: number;
  minor: number;
}

export const MIN_VERSION: Microversion = { major: 2, minor: 1 };
/** The newest microversion this API serves (Zed's 2.93). */
export const MAX_VERSION: Microversion = { major: 2, minor: 93 };

export const versionText = (v: Microversion) => `${v.major}.${v.minor}`;

export function atLeast(v: Microversion, minor: number): boolean {
  return v.major > 2 || (v.major === 2 && v.minor >= minor);
}

/** A version outside the range: the API answers 406 Not Acceptable. */
export class UnsupportedVersion extends Error {}

type Headers = Record<string, string | string[] | undefined>;

export function requestedVersion(headers: Headers): Microversion {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  let asked: string | undefined;
  const generic = one('openstack-api-version');
  if (generic !== undefined) {
    // A comma-separated list of "<service> <version>"; only ours counts.
    for (const part of generic.split(',')) {
      const [service, version] = part.trim().split(/\s+/);
      if (service?.toLowerCase() === 'compute') asked = version ?? '';
    }
  }
  asked ??= one('x-openstack-nova-api-version');
  if (asked === undefined) return MIN_VERSION;
  asked = asked.trim();
  if (asked.toLowerCase() === 'latest') return MAX_VERSION;
  const m = /^(\d+)\.(\d+)$/.exec(asked);
  if (!m) {
    throw invalid(
      `API Version String ${asked} is of invalid format. Must be of format MajorNum.MinorNum.`,
      { resource: 'microversion' },
    );
  }
  const v = { major: Number(m[1]), minor: Number(m[2]) };
  const cmp = (a: Microversion, b: Microversion) => a.major - b.major || a.minor - b.minor;
  if (cmp(v, MIN_VERSION) < 0 || cmp(v, MAX_VERSION) > 0) {
    throw new UnsupportedVersion(
      `Version ${asked} is not supported by the API. Minimum is ${versionText(MIN_VERSION)} and maximum is ${versionText(MAX_VERSION)}.`,
    );
  }
  return v;
}
