// `/v3/credentials`: a user's credentials of every type. EC2 ones are the access keys the EC2
// API verifies (their own table, made by `createEc2Credential` or given in the blob); others
// ('totp', 'cert', ...) are kept as given. An EC2 credential's id is the SHA-256 of its
// access key, as Keystone makes it.
import { createHash } from 'node:crypto';
import {
  CredentialRepo,
  now,
  type CredentialRow,
  type Db,
  type Ec2CredentialRow,
} from '../db/index.js';
import { invalid, notFound, StratusError } from '../errors.js';
import type { IdentityService } from './identity-service.js';
import { newId } from './names.js';

/** One credential as `/v3/credentials` shows it. */
export interface CredentialRecord {
  id: string;
  userId: string;
  projectId: string | null;
  type: string;
  /** The type's data: for EC2, JSON `{"access", "secret", "trust_id"}`. */
  blob: string;
}

export const ec2CredentialId = (accessKey: string) =>
  createHash('sha256').update(accessKey).digest('hex');

const ec2Record = (c: Ec2CredentialRow): CredentialRecord => ({
  id: ec2CredentialId(c.accessKey),
  userId: c.userId,
  projectId: c.projectId,
  type: 'ec2',
  blob: JSON.stringify({ access: c.accessKey, secret: c.secretKey, trust_id: null }),
});

const otherRecord = (c: CredentialRow): CredentialRecord => ({
  id: c.id,
  userId: c.userId,
  projectId: c.projectId,
  type: c.type,
  blob: c.blob,
});

export class CredentialService {
  readonly #others: CredentialRepo;

  constructor(
    private readonly db: Db,
    private readonly identity: IdentityService,
  ) {
    this.#others = new CredentialRepo(db);
  }

  async list(filter: { userId?: string; type?: string } = {}): Promise<CredentialRecord[]> {
    const ec2 =
      filter.type === undefined || filter.type === 'ec2'
        ? (await this.identity.listEc2Credentials({ user: filter.userId })).map(ec2Record)
        : [];
    const others = filter.type === 'ec2' ? [] : (await this.#others.list(filter)).map(otherRecord);
    return [...ec2, ...others];
  }

  async get(id: string): Promise<CredentialRecord> {
    const other = await this.#others.find(id);
    if (other) return otherRecord(other);
    const ec2 = (await this.identity.listEc2Credentials()).find(
      (c) => ec2CredentialId(c.accessKey) === id,
    );
    if (!ec2) throw notFound('credential', id, `Could not find credential: ${id}.`);
    return ec2Record(ec2);
  }

  /**
   * Stores a credential. An EC2 one needs a project the user holds a role in and a blob with
   * `access` and `secret` (the EC2 API then verifies requests signed with them).
   */
  async create(args: {
    userId: string;
    projectId?: string | null;
    type: string;
    blob: string;
  }): Promise<CredentialRecord> {
    const user = await this.identity.getUser(args.userId);
    if (args.type === 'ec2') {
      const blob = parseEc2Blob(args.blob);
      if (!args.projectId) {
        throw invalid('An ec2 credential needs a project_id.', { resource: 'credential' });
      }
      const project = await this.identity.getProject(args.projectId);
      if ((await this.identity.rolesOf(user.id, project.id)).length === 0) {
        throw new StratusError(
          'forbidden',
          `The user '${user.name}' has no role in project '${project.name}'.`,
          { resource: 'credential' },
        );
      }
      if (await this.identity.findEc2Credential(blob.access)) {
        throw new StratusError('conflict', `An ec2 credential with this access key exists.`, {
          resource: 'credential',
        });
      }
      await this.db
        .insertInto('ec2Credentials')
        .values({
          accessKey: blob.access,
          secretKey: blob.secret,
          userId: user.id,
          projectId: project.id,
          createdAt: now(),
        })
        .execute();
      return this.get(ec2CredentialId(blob.access));
    }
    if (args.projectId) await this.identity.getProject(args.projectId);
    return otherRecord(
      await this.#others.create({
        id: newId(),
        userId: user.id,
        projectId: args.projectId ?? null,
        type: args.type,
        blob: args.blob,
        createdAt: now(),
      }),
    );
  }

  /** Changes the blob (or project) of a non-EC2 credential; EC2 keys are made anew instead. */
  async update(
    id: string,
    patch: { blob?: string; projectId?: string | null },
  ): Promise<CredentialRecord> {
    const current = await this.get(id);
    if (current.type === 'ec2') {
      throw invalid('An ec2 credential cannot be changed; delete it and create another.', {
        resource: 'credential',
        id,
      });
    }
    await this.#others.update(id, patch);
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    const current = await this.get(id);
    if (current.type === 'ec2') {
      const { access } = JSON.parse(current.blob) as { access: string };
      await this.identity.deleteEc2Credential(access);
    } else await this.#others.delete(id);
  }
}

function parseEc2Blob(blob: string): { access: string; secret: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    throw invalid('The blob of an ec2 credential must be JSON.', { resource: 'credential' });
  }
  const o = parsed as { access?: unknown; secret?: unknown };
  const ok = (v: unknown) => typeof v === 'string' && /^[\x21-\x7e]{8,128}$/.test(v);
  if (!ok(o?.access) || !ok(o?.secret)) {
    throw invalid(
      'The blob of an ec2 credential must hold "access" and "secret": 8-128 printable characters each.',
      { resource: 'credential' },
    );
  }
  return { access: o.access as string, secret: o.secret as string };
}
