// Images as a request sees them: a project sees and uses public images and its own, an admin
// sees every image; a project registers images of its own and deletes only those (an admin any).
// API edges call this; it does the tenancy checks and leaves the work to ImageStore.
import { isAdmin, type RequestContext } from '../context.js';
import type { ImageKind, ImageRow } from '../db/index.js';
import { notFound, StratusError } from '../errors.js';
import type { ImageStore, NewImage } from './image-store.js';

export class ImageService {
  constructor(private readonly store: ImageStore) {}

  /**
   * The live images the caller may see (every one for admins), optionally only those whose id
   * starts with one of `idPrefixes`, oldest first.
   */
  list(ctx: RequestContext, filter: { idPrefixes?: readonly string[] } = {}): Promise<ImageRow[]> {
    return this.store.list({ visibleTo: visibleTo(ctx), idPrefixes: filter.idPrefixes });
  }

  /**
   * One image the caller may see, by the leading characters of its id and its kind;
   * `not_found` when there is none (including another project's private images).
   */
  async find(ctx: RequestContext, idPrefix: string, kind?: ImageKind): Promise<ImageRow> {
    const rows = await this.store.list({ visibleTo: visibleTo(ctx), idPrefixes: [idPrefix], kind });
    const row = rows[0];
    if (!row) throw notFound('image', idPrefix);
    return row;
  }

  /** Whether the caller may change or delete this image: its owner's members, or an admin. */
  mayModify(ctx: RequestContext, image: ImageRow): boolean {
    return (
      isAdmin(ctx) || (image.ownerProjectId !== null && image.ownerProjectId === ctx.projectId)
    );
  }

  /**
   * Registers a private image of the caller's project over the file of `sourceId`, which the
   * caller must be able to see, as must any kernel or ramdisk it names.
   */
  async register(
    ctx: RequestContext,
    req: Omit<NewImage, 'ownerProjectId' | 'isPublic'> & {
      sourceId: string;
      tags?: readonly { key: string; value: string }[];
    },
  ): Promise<ImageRow> {
    const projectId = requireProject(ctx);
    const see = async (id: string | null | undefined, kind: ImageKind) => {
      if (id) await this.find(ctx, id, kind);
    };
    await see(req.kernelId, 'kernel');
    await see(req.ramdiskId, 'ramdisk');
    const source = await this.store.get(req.sourceId);
    await see(source.id, source.kind);
    return this.store.register({ ...req, ownerProjectId: projectId, isPublic: false });
  }

  /** Deletes an image the caller may modify; another project's image is `forbidden`. */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    const image = await this.store.get(id);
    if (!this.mayModify(ctx, image)) {
      if (image.isPublic !== 1 && !isAdmin(ctx)) throw notFound('image', id);
      throw new StratusError(
        'forbidden',
        `The image '${image.name}' does not belong to your project; only an admin may delete it.`,
        { resource: 'image', id },
      );
    }
    await this.store.delete(id);
  }
}

function visibleTo(ctx: RequestContext): string | undefined {
  return isAdmin(ctx) ? undefined : requireProject(ctx);
}

function requireProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
