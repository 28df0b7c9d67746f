// Security groups as the API edges read them, in the api process: groups, their rules and the
// groups named as rule sources. Reads only; every change goes to the network service through
// NetworkClient, which also creates a project's `default` group the first time it is read here.
import { isAdmin, type RequestContext } from '../context.js';
import {
  DEFAULT_GROUP,
  SecurityGroupRepo,
  type Db,
  type SecurityGroupRow,
  type SecurityGroupRuleRow,
} from '../db/index.js';
import { StratusError } from '../errors.js';
import type { NetworkClient } from './client.js';

export interface SecurityGroupReaderOptions {
  db: Db;
  /** The network service, asked for a project's `default` group when it has none yet. */
  network: Pick<NetworkClient, 'ensureDefaultSecurityGroup'>;
}

export class SecurityGroupReader {
  readonly #opts: SecurityGroupReaderOptions;
  readonly #repo: SecurityGroupRepo;

  constructor(options: SecurityGroupReaderOptions) {
    this.#opts = options;
    this.#repo = new SecurityGroupRepo(options.db);
  }

  /**
   * The groups the caller may see (every project's for admins), optionally only these ids or
   * names (names are looked up in the caller's own project), oldest first. The caller's
   * `default` group is there from the first listing on, so a new project already has it.
   */
  async list(
    ctx: RequestContext,
    filter: { idPrefixes?: readonly string[]; names?: readonly string[] } = {},
  ): Promise<SecurityGroupRow[]> {
    if (ctx.projectId && !(await this.#repo.findByName(ctx.projectId, DEFAULT_GROUP)))
      await this.#opts.network.ensureDefaultSecurityGroup(ctx);
    const names = filter.names && filter.names.length > 0 ? filter.names : undefined;
    const idPrefixes =
      filter.idPrefixes && filter.idPrefixes.length > 0 ? filter.idPrefixes : undefined;
    const projectId = !isAdmin(ctx) || names ? project(ctx) : undefined;
    return this.#repo.list({
      ...(projectId !== undefined ? { projectId } : {}),
      ...(idPrefixes ? { idPrefixes } : {}),
      ...(names ? { names } : {}),
    });
  }

  /** The rules of these groups, oldest first. */
  rules(groupIds: readonly string[]): Promise<SecurityGroupRuleRow[]> {
    return this.#repo.rules(groupIds);
  }

  /** Rules by their full ids, whichever group they are in; unknown ids are left out. */
  async rulesByIds(ids: readonly string[]): Promise<SecurityGroupRuleRow[]> {
    const rows = await this.#repo.rulesByIdPrefixes(ids);
    return rows.filter((r) => ids.includes(r.id));
  }

  /** Groups by id, whichever project they are in (to name the sources of rules). */
  byIds(ids: readonly string[]): Promise<SecurityGroupRow[]> {
    return this.#repo.byIds(ids);
  }
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
