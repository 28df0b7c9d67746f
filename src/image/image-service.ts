// Images as a request sees them: a project sees and uses public images, its own and those
// shared with it, an admin sees every image; a project registers, copies, shares and changes
// images of its own and deletes only those (an admin any). API edges call this; it does the
// tenancy checks and leaves the work to ImageStore.
import { isAdmin, type RequestContext } from '../context.js';
import type { Readable } from 'node:stream';
import type {
  ImageKind,
  ImageMemberRow,
  ImageMemberStatus,
  ImageRow,
  ImageStatus,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import type {
  CopyRequest,
  CreateRequest,
  ImageChange,
  ImageFile,
  ImageStore,
  NewImage,
  UploadOptions,
} from './image-store.js';

/** What a listing may be narrowed to, besides what the caller may see. */
export interface ImageQuery {
  idPrefixes?: readonly string[];
  name?: string;
  status?: ImageStatus;
  /** The owning project's id. */
  ownerProjectId?: string;
  /** Only public (true) or only non-public (false) images. */
  isPublic?: boolean;
  /**
   * Other projects' community images too; by default only when looking images up by id
   * (`idPrefixes`), as the Image API lists them only when asked for.
   */
  includeCommunity?: boolean;
  /** The statuses of a share with the caller's project that make an image listed (accepted). */
  memberStatuses?: readonly ImageMemberStatus[];
}

export class ImageService {
  constructor(private readonly store: ImageStore) {}

  /**
   * The live images the caller may see (every one for admins), optionally only those whose id
   * starts with one of `idPrefixes`, oldest first.
   */
  list(ctx: RequestContext, filter: ImageQuery = {}): Promise<ImageRow[]> {
    return this.store.list({
      ...filter,
      includeCommunity: filter.includeCommunity ?? filter.idPrefixes !== undefined,
      visibleTo: visibleTo(ctx),
    });
  }

  /**
   * The kind of each of these images, by full id, deleted ones included: for showing the
   * images an instance the caller can see was launched from. Unknown ids are left out.
   */
  async kindsOf(ids: readonly string[]): Promise<Map<string, ImageKind>> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return new Map();
    const rows = await this.store.list({ idPrefixes: wanted, includeDeleted: true });
    return new Map(rows.filter((r) => wanted.includes(r.id)).map((r) => [r.id, r.kind]));
  }

  /**
   * One image the caller may see, by its full id; `not_found` otherwise. A project an image
   * is shared with sees it whatever its membership's status (it must, to accept or reject
   * it), as the Image API's members do.
   */
  async get(ctx: RequestContext, id: string): Promise<ImageRow> {
    const row = await this.store.get(id);
    const open = row.isPublic === 1 || row.community === 1;
    if (!isAdmin(ctx) && !open && row.ownerProjectId !== requireProject(ctx)) {
      if (!(await this.store.member(row.id, requireProject(ctx)))) throw notFound('image', id);
    }
    return row;
  }

  /**
   * The members of each of these images that the caller may know of: all of them for images
   * its project owns (every one for admins), its own membership otherwise.
   */
  async membersOf(
    ctx: RequestContext,
    images: readonly ImageRow[],
  ): Promise<Map<string, ImageMemberRow[]>> {
    const all = await this.store.membersOf(images.map((r) => r.id));
    for (const image of images) {
      const members = all.get(image.id);
      if (members && !this.mayModify(ctx, image)) {
        all.set(
          image.id,
          members.filter((m) => m.projectId === ctx.projectId),
        );
      }
    }
    return all;
  }

  /** Which of these images are shared with some project (the Image API shows them `shared`). */
  sharedOf(ids: readonly string[]): Promise<Set<string>> {
    return this.store.sharedOf(ids);
  }

  /**
   * The members of an image the caller may see: every member for its owner's project and
   * admins, only the caller's own membership for a member.
   */
  async members(ctx: RequestContext, id: string): Promise<ImageMemberRow[]> {
    const image = await this.get(ctx, id);
    const all = await this.store.members(image.id);
    return this.mayModify(ctx, image) ? all : all.filter((m) => m.projectId === ctx.projectId);
  }

  /** One membership of an image the caller may see (its owner, admins, or that member). */
  async member(ctx: RequestContext, id: string, projectId: string): Promise<ImageMemberRow> {
    const found = (await this.members(ctx, id)).find((m) => m.projectId === projectId);
    if (!found) throw memberNotFound(id, projectId);
    return found;
  }

  /**
   * Shares an image the caller may modify with another project. `status` is where the share
   * starts: EC2's launch permissions are `accepted` at once (and accept a pending share),
   * the Image API's members `pending`, and a second share of the same project there is
   * `already_exists`. The owner's own project and the cloud's own images are refused.
   */
  async share(
    ctx: RequestContext,
    id: string,
    projectId: string,
    status: ImageMemberStatus,
    options: { duplicateIsError?: boolean } = {},
  ): Promise<ImageMemberRow> {
    const image = await this.#modifiable(ctx, id, 'share');
    if (image.ownerProjectId === null) {
      throw new StratusError(
        'invalid',
        `The image '${image.name}' belongs to the cloud; make it public instead of sharing it.`,
        { resource: 'image', id, reason: 'visibility' },
      );
    }
    if (projectId === image.ownerProjectId) {
      throw invalid(`The image '${image.name}' already belongs to the project '${projectId}'.`, {
        resource: 'image_member',
        id: projectId,
      });
    }
    if (options.duplicateIsError && (await this.store.member(image.id, projectId))) {
      throw new StratusError(
        'already_exists',
        `The project '${projectId}' is already a member of the image '${image.id}'.`,
        { resource: 'image_member', id: projectId },
      );
    }
    return this.store.addMember(image.id, projectId, status, {
      overwrite: !options.duplicateIsError,
    });
  }

  /** Ends a share of an image the caller may modify; `not_found` when there was none. */
  async unshare(
    ctx: RequestContext,
    id: string,
    projectId: string,
    options: { missingIsError?: boolean } = {},
  ): Promise<void> {
    const image = await this.#modifiable(ctx, id, 'unshare');
    const removed = await this.store.removeMember(image.id, projectId);
    if (!removed && options.missingIsError) throw memberNotFound(id, projectId);
  }

  /**
   * A member's answer to a share: only the member's own project may give it (`forbidden`
   * for the owner, as the Image API rules).
   */
  async answerShare(
    ctx: RequestContext,
    id: string,
    projectId: string,
    status: ImageMemberStatus,
  ): Promise<ImageMemberRow> {
    const image = await this.get(ctx, id);
    const mine = (await this.store.member(image.id, projectId)) !== undefined;
    if (!mine) throw memberNotFound(id, projectId);
    if (projectId !== ctx.projectId && !isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        `Only the project '${projectId}' may accept or reject the share of image '${image.id}'.`,
        { resource: 'image_member', id: projectId },
      );
    }
    return this.store.setMemberStatus(image.id, projectId, status);
  }

  /**
   * Changes an image the caller may modify (see ImageStore.update): its name, description,
   * whether it is public (only an admin may make an image public; an owner may make it
   * private again) or community, when it counts as deprecated, its Image API attributes.
   * `endShares` also ends every share (EC2's ResetImageAttribute launchPermission).
   */
  async modify(
    ctx: RequestContext,
    id: string,
    change: ImageChange & { endShares?: boolean },
  ): Promise<ImageRow> {
    const image = await this.#modifiable(ctx, id, 'change');
    if (change.isPublic === true && image.isPublic !== 1 && !isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        `Only an admin may make an image public; the image '${image.name}' stays private.`,
        { resource: 'image', id: image.id, reason: 'visibility' },
      );
    }
    const { endShares, ...rest } = change;
    if (endShares) await this.store.clearMembers(image.id);
    return this.store.update(image.id, rest);
  }

  /**
   * Stages the data of a queued image the caller may modify, for a glance-direct import
   * (see ImageStore.stage).
   */
  async stage(
    ctx: RequestContext,
    id: string,
    data: Readable,
    options: UploadOptions = {},
  ): Promise<ImageRow> {
    const image = await this.#modifiable(ctx, id, 'stage data for');
    return this.store.stage(image.id, data, options);
  }

  /** Imports the staged data of an image the caller may modify (see ImageStore.importStaged). */
  async importStaged(ctx: RequestContext, id: string): Promise<ImageRow> {
    const image = await this.#modifiable(ctx, id, 'import');
    return this.store.importStaged(image.id);
  }

  /**
   * Deactivates (`active` false) or reactivates an image the caller may modify (see
   * ImageStore.setActive).
   */
  async setActive(ctx: RequestContext, id: string, active: boolean): Promise<ImageRow> {
    const image = await this.#modifiable(ctx, id, active ? 'reactivate' : 'deactivate');
    return this.store.setActive(image.id, active);
  }

  /**
   * Copies an image the caller may use into a new private image of the caller's project
   * (see ImageStore.copy): `pending` until its data is in place.
   */
  async copy(
    ctx: RequestContext,
    req: Omit<CopyRequest, 'ownerProjectId' | 'sourceId'> & { sourceId: string },
  ): Promise<ImageRow> {
    const projectId = requireProject(ctx);
    const source = await this.get(ctx, req.sourceId);
    if (
      !isAdmin(ctx) &&
      source.isPublic !== 1 &&
      source.community !== 1 &&
      source.ownerProjectId !== projectId &&
      (await this.store.member(source.id, projectId))?.status !== 'accepted'
    ) {
      throw notFound('image', req.sourceId);
    }
    return this.store.copy({ ...req, sourceId: source.id, ownerProjectId: projectId });
  }

  /** An image the caller may see and modify; `forbidden` for one it may only see. */
  async #modifiable(ctx: RequestContext, id: string, verb: string): Promise<ImageRow> {
    const image = await this.get(ctx, id);
    if (!this.mayModify(ctx, image)) {
      throw new StratusError(
        'forbidden',
        `The image '${image.name}' does not belong to your project; you cannot ${verb} it.`,
        { resource: 'image', id: image.id },
      );
    }
    return image;
  }

  /**
   * Creates a queued image of the caller's project, private unless `isPublic`, which only an
   * admin may ask for (`forbidden` otherwise). Any kernel or ramdisk it names must be visible
   * to the caller. The data follows with `upload`.
   */
  async create(ctx: RequestContext, req: Omit<CreateRequest, 'ownerProjectId'>): Promise<ImageRow> {
    const projectId = requireProject(ctx);
    if (req.isPublic && !isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may create a public image.', {
        resource: 'image',
        reason: 'visibility',
      });
    }
    if (req.kernelId) await this.find(ctx, req.kernelId, 'kernel');
    if (req.ramdiskId) await this.find(ctx, req.ramdiskId, 'ramdisk');
    return this.store.create({
      ...req,
      ownerProjectId: projectId,
      isPublic: req.isPublic ?? false,
    });
  }

  /**
   * Registers a volume-backed image of the caller's project (EC2 RegisterImage with block
   * device mappings): no data of its own, active at once, its properties naming the snapshots
   * its volumes are made from (volume-mappings.ts). Checked as `create`.
   */
  async registerVolumeBacked(
    ctx: RequestContext,
    req: Omit<CreateRequest, 'ownerProjectId' | 'diskFormat'> & {
      properties: Record<string, string>;
    },
  ): Promise<ImageRow> {
    const { properties, ...rest } = req;
    const row = await this.create(ctx, {
      ...rest,
      diskFormat: 'qcow2',
      attributes: { ...rest.attributes, properties },
    });
    await this.store.activateVolumeBacked(row.id);
    return this.store.get(row.id);
  }

  /** Uploads the data of a queued image the caller may modify (see ImageStore.upload). */
  async upload(
    ctx: RequestContext,
    id: string,
    data: Readable,
    options: UploadOptions = {},
  ): Promise<ImageRow> {
    const image = await this.get(ctx, id);
    if (!this.mayModify(ctx, image)) {
      throw new StratusError(
        'forbidden',
        `The image '${image.name}' does not belong to your project; you cannot upload its data.`,
        { resource: 'image', id },
      );
    }
    return this.store.upload(image.id, data, options);
  }

  /**
   * The stored file of an active image the caller may see (see ImageStore.fileOf); a
   * deactivated image's only for admins (`forbidden` for others).
   */
  async fileOf(ctx: RequestContext, id: string): Promise<ImageFile> {
    const image = await this.get(ctx, id);
    if (image.status === 'deactivated' && !isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        `The image '${image.id}' is deactivated; its data cannot be downloaded.`,
        { resource: 'image', id: image.id, reason: 'image_state' },
      );
    }
    return this.store.fileOf(image.id);
  }

  /**
   * One image the caller may see, by the leading characters of its id and its kind;
   * `not_found` when there is none (including another project's private images).
   */
  async find(ctx: RequestContext, idPrefix: string, kind?: ImageKind): Promise<ImageRow> {
    const rows = await this.store.list({
      visibleTo: visibleTo(ctx),
      includeCommunity: true,
      idPrefixes: [idPrefix],
      kind,
    });
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
      const open = image.isPublic === 1 || image.community === 1;
      if (!open && !isAdmin(ctx) && !(await this.store.member(image.id, requireProject(ctx)))) {
        throw notFound('image', id);
      }
      throw new StratusError(
        'forbidden',
        `The image '${image.name}' does not belong to your project; only an admin may delete it.`,
        { resource: 'image', id },
      );
    }
    await this.store.delete(id);
  }
}

function memberNotFound(imageId: string, projectId: string): StratusError {
  return notFound(
    'image_member',
    projectId,
    `The project '${projectId}' is not a member of the image '${imageId}'.`,
  );
}

function visibleTo(ctx: RequestContext): string | undefined {
  return isAdmin(ctx) ? undefined : requireProject(ctx);
}

function requireProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
