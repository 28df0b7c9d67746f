// Flavors as the edges manage them: every caller sees the public flavors and the private ones
// its project was given access to; an admin sees all and alone creates, deletes and describes
// flavors, sets their extra specs and decides which projects may use a private one. EC2's
// instance types are the same flavors.
import { isAdmin, type RequestContext } from '../context.js';
import { FlavorRepo, now, type Db, type FlavorRow, type NewFlavor } from '../db/index.js';
import { StratusError, notFound } from '../errors.js';

export type { NewFlavor };

export class FlavorService {
  readonly #repo: FlavorRepo;

  constructor(db: Db) {
    this.#repo = new FlavorRepo(db);
  }

  /** The flavors the caller may use (all of them for an admin). */
  list(ctx: RequestContext): Promise<FlavorRow[]> {
    return this.#repo.usableBy(isAdmin(ctx) ? undefined : (ctx.projectId ?? ''));
  }

  /** The flavor with this id, or else this name, among those the caller may see. */
  async find(ctx: RequestContext, ref: string): Promise<FlavorRow | undefined> {
    const all = await this.list(ctx);
    return all.find((f) => f.id === ref) ?? all.find((f) => f.name === ref);
  }

  /** Like `find`, but a flavor the caller may not see is `not_found`. */
  async get(ctx: RequestContext, ref: string): Promise<FlavorRow> {
    const f = await this.find(ctx, ref);
    if (!f) throw notFound('flavor', ref, `Flavor ${ref} could not be found.`);
    return f;
  }

  /** Creates a flavor (admin only); a taken id or name is `already_exists`. */
  create(ctx: RequestContext, flavor: NewFlavor): Promise<FlavorRow> {
    adminOnly(ctx, 'create flavors');
    return this.#repo.create(flavor, now());
  }

  /** Deletes a flavor (admin only); running instances of it keep their sizes. */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    adminOnly(ctx, 'delete flavors');
    if (!(await this.#repo.delete(id))) throw flavorNotFound(id);
  }

  /** Changes a flavor's description (admin only). */
  async describe(ctx: RequestContext, id: string, description: string | null): Promise<FlavorRow> {
    adminOnly(ctx, 'update flavors');
    if (!(await this.#repo.setDescription(id, description))) throw flavorNotFound(id);
    return (await this.#repo.findById(id)) as FlavorRow;
  }

  /** The extra specs of each of these flavors, by flavor id (none: an empty object). */
  async extraSpecs(ids: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const found = await this.#repo.extraSpecs(ids);
    return new Map(ids.map((id) => [id, found.get(id) ?? {}]));
  }

  /** Sets extra specs of a flavor (admin only); returns all its specs. */
  async setExtraSpecs(
    ctx: RequestContext,
    id: string,
    specs: Record<string, string>,
  ): Promise<Record<string, string>> {
    adminOnly(ctx, 'set extra specs');
    await this.#existing(id);
    await this.#repo.setExtraSpecs(id, specs);
    return (await this.extraSpecs([id])).get(id) ?? {};
  }

  /** Removes one extra spec (admin only); `not_found` when the flavor has no such key. */
  async deleteExtraSpec(ctx: RequestContext, id: string, key: string): Promise<void> {
    adminOnly(ctx, 'delete extra specs');
    await this.#existing(id);
    if (!(await this.#repo.deleteExtraSpec(id, key))) {
      throw notFound('flavor', id, `Flavor ${id} has no extra specs with key ${key}.`);
    }
  }

  /** The projects that may use a private flavor (admin only); a public one has no list. */
  async accessList(ctx: RequestContext, id: string): Promise<string[]> {
    adminOnly(ctx, 'see flavor access');
    const f = await this.#existing(id);
    if (f.isPublic === 1) {
      throw notFound('flavor', id, 'Access list not available for public flavors.');
    }
    return this.#repo.accessList(id);
  }

  /** Lets a project use a private flavor (admin only); returns the new access list. */
  async addAccess(ctx: RequestContext, id: string, projectId: string): Promise<string[]> {
    adminOnly(ctx, 'change flavor access');
    const f = await this.#existing(id);
    if (f.isPublic === 1) {
      throw new StratusError('conflict', 'Can not add access to a public flavor.', {
        resource: 'flavor',
        id,
      });
    }
    await this.#repo.addAccess(id, projectId);
    return this.#repo.accessList(id);
  }

  /** Takes a project's access away (admin only); returns the new access list. */
  async removeAccess(ctx: RequestContext, id: string, projectId: string): Promise<string[]> {
    adminOnly(ctx, 'change flavor access');
    await this.#existing(id);
    if (!(await this.#repo.removeAccess(id, projectId))) {
      throw notFound('flavor', id, `Flavor access not found for ${id} / ${projectId} combination.`);
    }
    return this.#repo.accessList(id);
  }

  async #existing(id: string): Promise<FlavorRow> {
    const f = await this.#repo.findById(id);
    if (!f) throw flavorNotFound(id);
    return f;
  }
}

function flavorNotFound(id: string): StratusError {
  return notFound('flavor', id, `Flavor ${id} could not be found.`);
}

function adminOnly(ctx: RequestContext, what: string): void {
  if (!isAdmin(ctx)) {
    throw new StratusError('forbidden', `Only an admin may ${what}.`, { resource: 'flavor' });
  }
}
