// The projects an image is shared with (EC2 launch permissions, Image API members).
import type { Db, ImageMemberRow, ImageMemberStatus } from '../schema.js';

export class ImageMemberRepo {
  constructor(private readonly db: Db) {}

  /** The image's members, oldest first. */
  list(imageId: string): Promise<ImageMemberRow[]> {
    return this.db
      .selectFrom('imageMembers')
      .selectAll()
      .where('imageId', '=', imageId)
      .orderBy('createdAt')
      .orderBy('projectId')
      .execute();
  }

  find(imageId: string, projectId: string): Promise<ImageMemberRow | undefined> {
    return this.db
      .selectFrom('imageMembers')
      .selectAll()
      .where('imageId', '=', imageId)
      .where('projectId', '=', projectId)
      .executeTakeFirst();
  }

  /** The members of each of these images. */
  async listFor(imageIds: readonly string[]): Promise<ImageMemberRow[]> {
    if (imageIds.length === 0) return [];
    return this.db
      .selectFrom('imageMembers')
      .selectAll()
      .where('imageId', 'in', [...imageIds])
      .orderBy('createdAt')
      .execute();
  }

  /** Which of these images have at least one member. */
  async shared(imageIds: readonly string[]): Promise<Set<string>> {
    if (imageIds.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('imageMembers')
      .select('imageId')
      .distinct()
      .where('imageId', 'in', [...imageIds])
      .execute();
    return new Set(rows.map((r) => r.imageId));
  }

  /**
   * Adds a member with `status`; a project that is one already keeps its row, and with
   * `overwrite` takes `status` (EC2's grant accepts a pending Image API share). Returns the row.
   */
  async add(
    imageId: string,
    projectId: string,
    status: ImageMemberStatus,
    options: { overwrite?: boolean } = {},
  ): Promise<ImageMemberRow> {
    const at = Date.now();
    const existing = await this.find(imageId, projectId);
    if (existing) {
      if (!options.overwrite || existing.status === status) return existing;
      await this.setStatus(imageId, projectId, status);
      return { ...existing, status, updatedAt: at };
    }
    const row: ImageMemberRow = { imageId, projectId, status, createdAt: at, updatedAt: at };
    await this.db.insertInto('imageMembers').values(row).execute();
    return row;
  }

  /** Sets a member's status; false when the project is not a member. */
  async setStatus(imageId: string, projectId: string, status: ImageMemberStatus): Promise<boolean> {
    const r = await this.db
      .updateTable('imageMembers')
      .set({ status, updatedAt: Date.now() })
      .where('imageId', '=', imageId)
      .where('projectId', '=', projectId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Removes a member; false when the project was not one. */
  async remove(imageId: string, projectId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('imageMembers')
      .where('imageId', '=', imageId)
      .where('projectId', '=', projectId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /** Removes every member of the image. */
  async clear(imageId: string): Promise<void> {
    await this.db.deleteFrom('imageMembers').where('imageId', '=', imageId).execute();
  }
}
