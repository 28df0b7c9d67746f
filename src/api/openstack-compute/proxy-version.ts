// The Compute API's proxies to the networking and image services (os-security-groups,
// os-floating-ips, images, ...) exist only at the microversions before they were removed:
// from 2.36 they answer 404 (the image metadata from 2.39, addFloatingIp and
// removeFloatingIp from 2.44), as the Compute API reference documents.
import { notFound } from '../../errors.js';
import { atLeast, versionText, type Microversion } from './microversion.js';

/** The first microversion without the network and image proxies. */
export const PROXIES_REMOVED_AT = 36;
/** The first microversion without the image metadata proxy. */
export const IMAGE_METADATA_REMOVED_AT = 39;
/** The first microversion without the addFloatingIp and removeFloatingIp actions. */
export const FLOATING_IP_ACTIONS_REMOVED_AT = 44;

/** Refuses, as a 404, a request for a proxy that microversion `v` no longer has. */
export function requireBefore(v: Microversion, removedAt: number, what: string): void {
  if (atLeast(v, removedAt)) {
    throw notFound(
      'resource',
      what,
      `${what} is not part of the Compute API at microversion ${versionText(v)} (it was removed at 2.${removedAt}); use the Network or Image API instead.`,
    );
  }
}
