// EC2 credentials: an access key and secret per user and project.
import type { Db, Ec2CredentialRow } from '../schema.js';

export class Ec2CredentialRepo {
  constructor(private readonly db: Db) {}

  async create(row: Ec2CredentialRow): Promise<Ec2CredentialRow> {
    await this.db.insertInto('ec2Credentials').values(row).execute();
    return row;
  }

  /** The credential with this access key; undefined when there is none. */
  async find(accessKey: string): Promise<Ec2CredentialRow | undefined> {
    return this.db
      .selectFrom('ec2Credentials')
      .selectAll()
      .where('accessKey', '=', accessKey)
      .executeTakeFirst();
  }

  async list(filter: { userId?: string; projectId?: string } = {}): Promise<Ec2CredentialRow[]> {
    let q = this.db.selectFrom('ec2Credentials').selectAll();
    if (filter.userId) q = q.where('userId', '=', filter.userId);
    if (filter.projectId) q = q.where('projectId', '=', filter.projectId);
    return q.orderBy('createdAt').execute();
  }

  /** Deletes a credential; returns whether it existed. */
  async delete(accessKey: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('ec2Credentials')
      .where('accessKey', '=', accessKey)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
