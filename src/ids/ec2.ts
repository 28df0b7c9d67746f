// EC2 ids are a view of the domain's UUIDs: the prefix of the resource kind and the first 17
// hex digits of the UUID ('i-0123456789abcdef0'). Looking one up is a range scan on the
// UUID's leading characters, so the domain never stores a wire-format id.
import { invalid, type ErrorResource } from '../errors.js';

/** 17 hex digits, or the 8 of older ids. */
const HEX = /^[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

export function ec2Id(prefix: string, uuid: string): string {
  return `${prefix}-${uuid.replace(/-/g, '').slice(0, 17)}`;
}

/** An instance's private DNS name, EC2's pattern: `ip-10-20-0-5.<region>.compute.internal`. */
export function privateDnsName(address: string, region: string): string {
  return `ip-${address.replace(/\./g, '-')}.${region.toLowerCase()}.compute.internal`;
}

/** A public address's name, after the private ones' pattern (no DNS server answers for it). */
export function publicDnsName(address: string, region: string): string {
  return `ec2-${address.replace(/\./g, '-')}.${region.toLowerCase()}.compute.external`;
}

/** The leading characters every UUID behind this EC2 id starts with: 'xxxxxxxx-xxxx-xxxx-x'. */
export function uuidPrefix(hex: string): string {
  if (hex.length <= 8) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16)}`;
}

/**
 * Parses an EC2 id of one of the given prefixes; a malformed one is refused as EC2 does
 * (`<Resource>ID.Malformed`, via the 'malformed' reason).
 */
export function parseEc2Id(
  text: string,
  prefixes: readonly string[],
  resource: ErrorResource,
): { prefix: string; uuidPrefix: string } {
  const dash = text.indexOf('-');
  const prefix = dash > 0 ? text.slice(0, dash) : '';
  const hex = dash > 0 ? text.slice(dash + 1).toLowerCase() : '';
  if (!prefixes.includes(prefix) || !HEX.test(hex)) {
    throw invalid(`Invalid id: "${text}" (expecting "${prefixes[0]}-...")`, {
      resource,
      id: text,
      reason: 'malformed',
    });
  }
  return { prefix, uuidPrefix: uuidPrefix(hex) };
}

/** The EC2 id prefix of each image kind: AMI, AKI, ARI. */
export const IMAGE_ID_PREFIX = { machine: 'ami', kernel: 'aki', ramdisk: 'ari' } as const;

export type ImageIdKind = keyof typeof IMAGE_ID_PREFIX;

/** The EC2 id of an image: 'ami-', 'aki-' or 'ari-' by kind, then the UUID's first 17 digits. */
export function imageEc2Id(kind: ImageIdKind, uuid: string): string {
  return ec2Id(IMAGE_ID_PREFIX[kind], uuid);
}

/**
 * Parses an image's EC2 id into its kind and the UUID prefix behind it; refuses malformed ones
 * with `InvalidAMIID.Malformed`.
 */
export function parseImageEc2Id(text: string): { kind: ImageIdKind; uuidPrefix: string } {
  const { prefix, uuidPrefix } = parseEc2Id(text, ['ami', 'aki', 'ari'], 'image');
  const kind = (Object.keys(IMAGE_ID_PREFIX) as ImageIdKind[]).find(
    (k) => IMAGE_ID_PREFIX[k] === prefix,
  ) as ImageIdKind;
  return { kind, uuidPrefix };
}
