// The image registry: machine, kernel and ramdisk images, the cloud's own and projects'.
import { notFound } from '../../errors.js';
import { idStartsWith } from '../prefix.js';
import type {
  Db,
  ImageKind,
  ImageMemberStatus,
  ImageRow,
  ImageStatus,
  ImagesTable,
} from '../schema.js';

export interface ImageListFilter {
  /**
   * Images this project may use: its own, public ones and those shared with it (accepted).
   * Every image when absent.
   */
  visibleTo?: string;
  /**
   * With `visibleTo`: also other projects' community images (which anyone may launch and
   * find by id, but which listings show others only when asked for).
   */
  includeCommunity?: boolean;
  /** With `visibleTo`: the statuses of a share that make an image visible; accepted only by default. */
  memberStatuses?: readonly ImageMemberStatus[];
  idPrefixes?: readonly string[];
  kind?: ImageKind;
  /** Only images with exactly this name. */
  name?: string;
  status?: ImageStatus;
  /** Only this project's images; null: only the cloud's own (no owner). */
  ownerProjectId?: string | null;
  /** Only public (true) or only non-public (false) images. */
  isPublic?: boolean;
  includeDeleted?: boolean;
}

export class ImageRepo {
  constructor(private readonly db: Db) {}

  async insert(row: ImageRow): Promise<ImageRow> {
    await this.db.insertInto('images').values(row).execute();
    return row;
  }

  async find(id: string): Promise<ImageRow | undefined> {
    return this.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async get(id: string): Promise<ImageRow> {
    const row = await this.find(id);
    if (!row || row.deletedAt !== null) throw notFound('image', id);
    return row;
  }

  async list(filter: ImageListFilter = {}): Promise<ImageRow[]> {
    let q = this.db.selectFrom('images').selectAll();
    if (!filter.includeDeleted) q = q.where('deletedAt', 'is', null);
    if (filter.visibleTo !== undefined) {
      const project = filter.visibleTo;
      const statuses = filter.memberStatuses ?? ['accepted'];
      q = q.where((eb) =>
        eb.or([
          eb('isPublic', '=', 1),
          eb('ownerProjectId', '=', project),
          ...(filter.includeCommunity ? [eb('community', '=', 1)] : []),
          ...(statuses.length === 0
            ? []
            : [
                eb.exists(
                  eb
                    .selectFrom('imageMembers')
                    .select('imageMembers.imageId')
                    .whereRef('imageMembers.imageId', '=', 'images.id')
                    .where('imageMembers.projectId', '=', project)
                    .where('imageMembers.status', 'in', [...statuses]),
                ),
              ]),
        ]),
      );
    }
    if (filter.idPrefixes) {
      const prefixes = filter.idPrefixes;
      if (prefixes.length === 0) return [];
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.ownerProjectId === null) q = q.where('ownerProjectId', 'is', null);
    else if (filter.ownerProjectId !== undefined)
      q = q.where('ownerProjectId', '=', filter.ownerProjectId);
    if (filter.isPublic !== undefined) q = q.where('isPublic', '=', filter.isPublic ? 1 : 0);
    return q.orderBy('createdAt').orderBy('id').execute();
  }

  async update(id: string, set: Partial<ImagesTable>): Promise<void> {
    await this.db
      .updateTable('images')
      .set({ ...set, updatedAt: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Moves a live image from status `from` to `to` (and sets `set`) in one statement; false
   * (and no change) when it is not in `from` any more or was deleted, so of two racing
   * callers exactly one wins.
   */
  async transition(
    id: string,
    from: ImageStatus,
    to: ImageStatus,
    set: Partial<Omit<ImagesTable, 'status'>> = {},
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('images')
      .set({ ...set, status: to, updatedAt: Date.now() })
      .where('id', '=', id)
      .where('status', '=', from)
      .where('deletedAt', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** The live image of this owner (null: the cloud) with this name, if any. */
  async findByName(ownerProjectId: string | null, name: string): Promise<ImageRow | undefined> {
    let q = this.db
      .selectFrom('images')
      .selectAll()
      .where('deletedAt', 'is', null)
      .where('name', '=', name);
    q =
      ownerProjectId === null
        ? q.where('ownerProjectId', 'is', null)
        : q.where('ownerProjectId', '=', ownerProjectId);
    return q.executeTakeFirst();
  }

  /** The live image of this owner that a CopyImage with this ClientToken made, if any. */
  async findByClientToken(
    ownerProjectId: string,
    clientToken: string,
  ): Promise<ImageRow | undefined> {
    return this.db
      .selectFrom('images')
      .selectAll()
      .where('deletedAt', 'is', null)
      .where('ownerProjectId', '=', ownerProjectId)
      .where('clientToken', '=', clientToken)
      .executeTakeFirst();
  }

  /**
   * Locks, until the end of the current transaction, every image row whose file is `location`
   * (on PostgreSQL a row lock; SQLite's transactions hold the whole database already), so
   * deciding whether a shared file is still used cannot race with another writer.
   */
  async lockLocation(location: string): Promise<void> {
    await this.db
      .updateTable('images')
      .set({ location })
      .where('location', '=', location)
      .execute();
  }

  /** How many live images use the file at `location`. */
  async countLiveAt(location: string): Promise<number> {
    const r = await this.db
      .selectFrom('images')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('location', '=', location)
      .where('deletedAt', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Live machine images that boot with this kernel or ramdisk. */
  async linkedTo(id: string): Promise<ImageRow[]> {
    return this.db
      .selectFrom('images')
      .selectAll()
      .where('deletedAt', 'is', null)
      .where((eb) => eb.or([eb('kernelId', '=', id), eb('ramdiskId', '=', id)]))
      .execute();
  }
}
