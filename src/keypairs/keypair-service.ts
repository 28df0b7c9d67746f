// Key pairs: the public halves users launch instances with. CreateKeyPair's private key is
// returned once and never stored.
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import {
  idStartsWith,
  isUniqueViolation,
  QuotaRepo,
  TagRepo,
  type Db,
  type KeypairRow,
} from '../db/index.js';
import { alreadyExists, invalid, StratusError } from '../errors.js';
import { checkTags } from '../text-rules.js';
import { generateKeyPair, parsePublicKey, type KeyType } from './crypto.js';

export interface KeypairServiceOptions {
  db: Db;
  quota: QuotaLimits;
}

/** Names EC2 accepts: 1-255 printable ASCII characters. */
const NAME = /^[\x20-\x7e]{1,255}$/;

export class KeypairService {
  constructor(private readonly opts: KeypairServiceOptions) {}

  async create(
    ctx: RequestContext,
    args: {
      name: string;
      keyType: KeyType;
      format?: 'pem' | 'ppk';
      tags?: readonly { key: string; value: string }[];
    },
  ): Promise<{ keypair: KeypairRow; privateKey: string }> {
    checkName(args.name);
    const generated = generateKeyPair(args.keyType, {
      format: args.format ?? 'pem',
      comment: args.name,
    });
    const keypair = await this.#insert(
      ctx,
      args.name,
      generated.keyType,
      generated.fingerprint,
      generated.publicKey,
      args.tags,
    );
    return { keypair, privateKey: generated.privateKey };
  }

  async import(
    ctx: RequestContext,
    args: { name: string; material: Buffer; tags?: readonly { key: string; value: string }[] },
  ): Promise<KeypairRow> {
    checkName(args.name);
    const parsed = parsePublicKey(args.material);
    return this.#insert(
      ctx,
      args.name,
      parsed.keyType,
      parsed.fingerprint,
      parsed.publicKey,
      args.tags,
    );
  }

  /** The caller's key pairs (every project's for admins), optionally only these names or ids. */
  async list(
    ctx: RequestContext,
    filter: { names?: readonly string[]; idPrefixes?: readonly string[] } = {},
  ): Promise<KeypairRow[]> {
    let q = this.opts.db.selectFrom('keypairs').selectAll();
    if (!isAdmin(ctx) || (filter.names && filter.names.length > 0))
      q = q.where('projectId', '=', project(ctx));
    if (filter.names && filter.names.length > 0) q = q.where('name', 'in', filter.names);
    if (filter.idPrefixes && filter.idPrefixes.length > 0) {
      const prefixes = filter.idPrefixes;
      q = q.where((eb) => idStartsWith(eb, 'id', prefixes));
    }
    return q.orderBy('name').orderBy('createdAt').execute();
  }

  /** Deletes the caller's key pair by name or id; deleting one that is not there is not an error. */
  async delete(ctx: RequestContext, by: { name?: string; idPrefix?: string }): Promise<void> {
    let q = this.opts.db.deleteFrom('keypairs').where('projectId', '=', project(ctx));
    if (by.name !== undefined) q = q.where('name', '=', by.name);
    else if (by.idPrefix !== undefined) {
      const prefix = by.idPrefix;
      q = q.where((eb) => idStartsWith(eb, 'id', [prefix]));
    } else throw invalid('A key name or key pair id is needed.', { resource: 'keypair' });
    await q.execute();
  }

  async #insert(
    ctx: RequestContext,
    name: string,
    keyType: KeyType,
    fingerprint: string,
    publicKey: string,
    tags: readonly { key: string; value: string }[] = [],
  ): Promise<KeypairRow> {
    checkTags(tags);
    const projectId = project(ctx);
    const row: KeypairRow = {
      id: randomUUID(),
      projectId,
      userId: ctx.userId ?? '',
      name,
      keyType,
      fingerprint,
      publicKey,
      createdAt: Date.now(),
    };
    try {
      await this.opts.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('projects')
          .set({ id: projectId })
          .where('id', '=', projectId)
          .execute();
        const limit = effectiveLimits(
          this.opts.quota,
          await new QuotaRepo(trx).overrides(projectId),
        ).keypairs;
        const used = await trx
          .selectFrom('keypairs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('projectId', '=', projectId)
          .executeTakeFirstOrThrow();
        if (Number(used.n) >= limit) {
          throw new StratusError('over_quota', `Your quota allows at most ${limit} key pairs.`, {
            resource: 'keypairs',
            reason: 'keypairs',
          });
        }
        await trx.insertInto('keypairs').values(row).execute();
        if (tags.length > 0) {
          await new TagRepo(trx).put(
            tags.map((t) => ({
              resourceId: row.id,
              resourceType: 'key-pair',
              projectId,
              key: t.key,
              value: t.value,
            })),
          );
        }
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw alreadyExists('keypair', name, `The key pair '${name}' already exists.`);
      throw err;
    }
    return row;
  }
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw invalid('A key pair name must be 1 to 255 printable ASCII characters.', {
      resource: 'parameter',
      id: 'KeyName',
    });
  }
}
