// Addresses as the API edges read them, in the api process: the caller's floating addresses
// and the fixed and floating address of each instance. Reads only; allocation, association and
// release go to the network service through NetworkClient.
import { isAdmin, type RequestContext } from '../context.js';
import { FloatingIpRepo, NetworkRepo, type Db, type FloatingIpRow } from '../db/index.js';
import { StratusError } from '../errors.js';

/** An instance's fixed address, with its network's name and the MAC it was given for. */
export interface FixedAddress {
  network: string;
  address: string;
  mac: string | null;
}

export class AddressReader {
  readonly #floating: FloatingIpRepo;
  readonly #networks: NetworkRepo;

  constructor(db: Db) {
    this.#floating = new FloatingIpRepo(db);
    this.#networks = new NetworkRepo(db);
  }

  /** The floating addresses the caller may see: its project's, or every project's for admins. */
  floatingIps(ctx: RequestContext): Promise<FloatingIpRow[]> {
    return this.#floating.list({ projectId: isAdmin(ctx) ? undefined : project(ctx) });
  }

  /** The floating address mapped onto each of these instances, if any. */
  floatingByInstance(instanceIds: readonly string[]): Promise<Map<string, string>> {
    return this.#networks.floatingByInstance(instanceIds);
  }

  /** The fixed address each of these instances holds now. */
  fixedByInstance(instanceIds: readonly string[]): Promise<Map<string, FixedAddress>> {
    return this.#networks.fixedByInstance(instanceIds);
  }
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
