// Launch templates: a project's named sets of launch parameters, in numbered versions that
// never change once made (EC2's launch templates). A launch names a template and a version
// (a number, the latest or the default) and gets that version's parameters, each one it gives
// itself winning over the template's. Templates belong to the caller's project, admins
// included: a template's name is unique only in its project. References in a version (image,
// security groups, key pair, zone) are checked when a launch uses it, as EC2 does; creating a
// version checks only their form, which the edge does as it parses them.
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import {
  isUniqueViolation,
  LaunchTemplateRepo,
  TagRepo,
  type Db,
  type LaunchTemplateRow,
  type LaunchTemplateVersionRow,
} from '../db/index.js';
import { invalid, StratusError } from '../errors.js';
import { checkTags, checkText, type TextRule } from '../text-rules.js';
import { applyLaunchTemplate, checkData, type LaunchData, type Tag } from './launch-data.js';

/** A template as a request names it: by the leading characters of its id, or by its name. */
export type TemplateRef = { idPrefix: string; shown: string } | { name: string };

/** One version of a template, with its template. */
export interface LaunchTemplateVersion {
  template: LaunchTemplateRow;
  version: number;
  description: string | null;
  data: LaunchData;
  createdBy: string;
  createdAt: number;
  isDefault: boolean;
}

/** Why a version could not be deleted. */
export type VersionRefusal = 'not_found' | 'default';

export interface LaunchTemplateServiceOptions {
  db: Db;
  /** The most templates a project may have (EC2's default quota: 5,000 per region). */
  maxTemplates?: number;
  /** The most versions a template may have (EC2's: 10,000). */
  maxVersions?: number;
}

/** EC2's template names: 3-128 of letters, digits and `( ) . - / _`. */
const NAME = /^[a-zA-Z0-9().\-/_]{3,128}$/;
const VERSION_DESCRIPTION: TextRule = { what: 'version description', max: 255, lineBreaks: true };
/** The launch template actions' idempotency token (longer than RunInstances'). */
const CLIENT_TOKEN: TextRule = { what: 'ClientToken', min: 1, max: 128, ascii: true };

export class LaunchTemplateService {
  readonly #db: Db;
  readonly #maxTemplates: number;
  readonly #maxVersions: number;

  constructor(options: LaunchTemplateServiceOptions) {
    this.#db = options.db;
    this.#maxTemplates = options.maxTemplates ?? 5000;
    this.#maxVersions = options.maxVersions ?? 10_000;
  }

  /**
   * Makes a template with its first version (the default). A ClientToken the project used
   * before answers that template, unchanged. A name the project has is `already_exists`.
   */
  async create(
    ctx: RequestContext,
    args: {
      name: string;
      description?: string | undefined;
      data: LaunchData;
      tags?: readonly Tag[];
      clientToken?: string | undefined;
    },
  ): Promise<{ template: LaunchTemplateRow; version: LaunchTemplateVersion }> {
    const projectId = project(ctx);
    checkName(args.name);
    checkVersionArgs(args);
    checkData(args.data);
    const tags = args.tags ?? [];
    checkTags(tags);
    if (tags.length > 50) {
      throw new StratusError('over_quota', 'A launch template can have at most 50 tags.', {
        resource: 'tags',
        reason: 'tags',
      });
    }
    const repo = new LaunchTemplateRepo(this.#db);
    const replay = async () => {
      const earlier = args.clientToken
        ? await repo.byClientToken(projectId, args.clientToken)
        : undefined;
      if (!earlier) return undefined;
      const [first] = await repo.versions(earlier.id, { numbers: [earlier.defaultVersion] });
      const version = first ?? (await repo.versions(earlier.id))[0];
      if (!version) return undefined;
      return { template: earlier, version: versionOf(earlier, version) };
    };
    const earlier = await replay();
    if (earlier) return earlier;

    const at = Date.now();
    const template: LaunchTemplateRow = {
      id: randomUUID(),
      projectId,
      name: args.name,
      defaultVersion: 1,
      latestVersion: 1,
      lastVersion: 1,
      createdBy: ctx.userId ?? '',
      clientToken: args.clientToken ?? null,
      createdAt: at,
    };
    const version: LaunchTemplateVersionRow = {
      templateId: template.id,
      version: 1,
      description: args.description ?? null,
      data: JSON.stringify(args.data),
      createdBy: ctx.userId ?? '',
      clientToken: null,
      createdAt: at,
    };
    try {
      await this.#db.transaction().execute(async (trx) => {
        // The project's row lock (PostgreSQL) counts concurrent creates one at a time.
        await trx
          .updateTable('projects')
          .set({ id: projectId })
          .where('id', '=', projectId)
          .execute();
        const r = new LaunchTemplateRepo(trx);
        if ((await r.count(projectId)) >= this.#maxTemplates) {
          throw new StratusError(
            'over_quota',
            `A project can have at most ${this.#maxTemplates} launch templates.`,
            { resource: 'launch_templates' },
          );
        }
        await r.insert(template);
        await r.insertVersion(version);
        if (tags.length > 0) {
          await new TagRepo(trx).put(
            tags.map((t) => ({
              resourceId: template.id,
              resourceType: 'launch-template',
              projectId,
              key: t.key,
              value: t.value,
            })),
          );
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        const again = await replay();
        if (again) return again;
        throw new StratusError(
          'already_exists',
          `Launch template name already in use: '${args.name}'.`,
          { resource: 'launch_template', id: args.name },
        );
      }
      throw err;
    }
    return { template, version: versionOf(template, version) };
  }

  /**
   * Adds a version to a template: `sourceVersion`'s parameters with `data`'s over them, or
   * `data` alone. The new version has the next number and is the latest, not the default.
   */
  async createVersion(
    ctx: RequestContext,
    ref: TemplateRef,
    args: {
      sourceVersion?: string | undefined;
      description?: string | undefined;
      data: LaunchData;
      clientToken?: string | undefined;
    },
  ): Promise<LaunchTemplateVersion> {
    checkVersionArgs(args);
    const template = await this.find(ctx, ref);
    const repo = new LaunchTemplateRepo(this.#db);
    if (args.clientToken) {
      const earlier = await repo.versionByClientToken(template.id, args.clientToken);
      if (earlier) return versionOf(template, earlier);
    }
    let data = args.data;
    if (args.sourceVersion !== undefined) {
      const source = await this.#version(template, args.sourceVersion, 'SourceVersion');
      data = applyLaunchTemplate(source.data, args.data);
    }
    checkData(data);
    const at = Date.now();
    try {
      const created = await this.#db.transaction().execute(async (trx) => {
        const r = new LaunchTemplateRepo(trx);
        const number = await r.takeVersionNumber(template.id);
        if (number === undefined) throw templateNotFound(ref);
        if ((await r.countVersions(template.id)) >= this.#maxVersions) {
          throw new StratusError(
            'over_quota',
            `A launch template can have at most ${this.#maxVersions} versions.`,
            { resource: 'launch_templates' },
          );
        }
        const row: LaunchTemplateVersionRow = {
          templateId: template.id,
          version: number,
          description: args.description ?? null,
          data: JSON.stringify(data),
          createdBy: ctx.userId ?? '',
          clientToken: args.clientToken ?? null,
          createdAt: at,
        };
        await r.insertVersion(row);
        await r.update(template.id, { latestVersion: number });
        return row;
      });
      return versionOf({ ...template, latestVersion: created.version }, created);
    } catch (err) {
      if (isUniqueViolation(err) && args.clientToken) {
        const earlier = await repo.versionByClientToken(template.id, args.clientToken);
        if (earlier) return versionOf(await this.find(ctx, ref), earlier);
      }
      throw err;
    }
  }

  /** The caller's template; `not_found` (by id or by name, as it was named) when it has none. */
  async find(ctx: RequestContext, ref: TemplateRef): Promise<LaunchTemplateRow> {
    const projectId = project(ctx);
    const repo = new LaunchTemplateRepo(this.#db);
    const [row] =
      'name' in ref
        ? await repo.list({ projectId, names: [ref.name] })
        : await repo.list({ projectId, idPrefixes: [ref.idPrefix] });
    if (!row) throw templateNotFound(ref);
    return row;
  }

  /**
   * The caller's templates, all of them or only these; one named that does not exist is
   * `not_found`, naming it.
   */
  async list(
    ctx: RequestContext,
    filter: {
      ids?: readonly { idPrefix: string; shown: string }[];
      names?: readonly string[];
    } = {},
  ): Promise<LaunchTemplateRow[]> {
    const projectId = project(ctx);
    const repo = new LaunchTemplateRepo(this.#db);
    const ids = filter.ids ?? [];
    const names = filter.names ?? [];
    if (ids.length === 0 && names.length === 0) return repo.list({ projectId });
    const out = new Map<string, LaunchTemplateRow>();
    if (ids.length > 0) {
      const rows = await repo.list({ projectId, idPrefixes: ids.map((i) => i.idPrefix) });
      for (const ref of ids) {
        const found = rows.filter((r) => r.id.startsWith(ref.idPrefix));
        if (found.length === 0) throw templateNotFound(ref);
        for (const r of found) out.set(r.id, r);
      }
    }
    if (names.length > 0) {
      const rows = await repo.list({ projectId, names });
      for (const name of names) {
        const found = rows.find((r) => r.name === name);
        if (!found) throw templateNotFound({ name });
        out.set(found.id, found);
      }
    }
    return [...out.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  /**
   * Versions of a template: these (numbers, `$Latest`, `$Default`), those in [min, max], or
   * all; a number asked for that is not there is `not_found` (resource launch_template_version).
   */
  async versions(
    ctx: RequestContext,
    ref: TemplateRef,
    args: { versions?: readonly string[]; min?: string; max?: string } = {},
  ): Promise<LaunchTemplateVersion[]> {
    const template = await this.find(ctx, ref);
    const repo = new LaunchTemplateRepo(this.#db);
    const wanted = (args.versions ?? []).map((v) =>
      versionNumber(template, v, 'LaunchTemplateVersion'),
    );
    const min = args.min === undefined ? undefined : parseNumber(args.min, 'MinVersion');
    const max = args.max === undefined ? undefined : parseNumber(args.max, 'MaxVersion');
    const rows = await repo.versions(template.id, {
      ...(wanted.length > 0 ? { numbers: wanted } : {}),
      ...(min !== undefined ? { min } : {}),
      ...(max !== undefined ? { max } : {}),
    });
    for (const n of wanted) {
      if (!rows.some((r) => r.version === n)) throw versionNotFound(template, String(n));
    }
    return rows.map((r) => versionOf(template, r));
  }

  /** The latest and/or default version of each of the caller's templates. */
  async aliasVersions(
    ctx: RequestContext,
    which: { latest: boolean; default: boolean },
  ): Promise<LaunchTemplateVersion[]> {
    const repo = new LaunchTemplateRepo(this.#db);
    const out: LaunchTemplateVersion[] = [];
    for (const t of await repo.list({ projectId: project(ctx) })) {
      const numbers = [
        ...new Set([
          ...(which.latest ? [t.latestVersion] : []),
          ...(which.default ? [t.defaultVersion] : []),
        ]),
      ];
      for (const r of await repo.versions(t.id, { numbers })) out.push(versionOf(t, r));
    }
    return out;
  }

  /** The version a launch uses: the one named, or the default. */
  async forLaunch(
    ctx: RequestContext,
    ref: TemplateRef,
    version: string | undefined,
  ): Promise<LaunchTemplateVersion> {
    const template = await this.find(ctx, ref);
    return this.#version(template, version ?? '$Default', 'LaunchTemplate.Version');
  }

  /** Makes another version the default; it must exist. */
  async setDefault(
    ctx: RequestContext,
    ref: TemplateRef,
    version: string,
  ): Promise<LaunchTemplateRow> {
    const template = await this.find(ctx, ref);
    const target = await this.#version(template, version, 'SetDefaultVersion');
    await new LaunchTemplateRepo(this.#db).update(template.id, {
      defaultVersion: target.version,
    });
    return { ...template, defaultVersion: target.version };
  }

  /** Deletes a template with all its versions and tags; answers what it was. */
  async delete(ctx: RequestContext, ref: TemplateRef): Promise<LaunchTemplateRow> {
    const template = await this.find(ctx, ref);
    await this.#db.transaction().execute(async (trx) => {
      await new LaunchTemplateRepo(trx).delete(template.id);
      await new TagRepo(trx).deleteResource(template.id);
    });
    return template;
  }

  /**
   * Deletes versions of a template, each on its own: those deleted, and those refused with
   * why (not there, or the default version, which goes only with its template).
   */
  async deleteVersions(
    ctx: RequestContext,
    ref: TemplateRef,
    versions: readonly string[],
  ): Promise<{
    template: LaunchTemplateRow;
    deleted: number[];
    refused: { version: string; why: VersionRefusal }[];
  }> {
    const template = await this.find(ctx, ref);
    const refused: { version: string; why: VersionRefusal }[] = [];
    const numbers: number[] = [];
    for (const v of versions) {
      if (!/^\d{1,9}$/.test(v)) refused.push({ version: v, why: 'not_found' });
      else if (Number(v) === template.defaultVersion) refused.push({ version: v, why: 'default' });
      else numbers.push(Number(v));
    }
    const deleted = await this.#db.transaction().execute(async (trx) => {
      const r = new LaunchTemplateRepo(trx);
      const gone = await r.deleteVersions(template.id, [...new Set(numbers)]);
      const highest = await r.highestVersion(template.id);
      if (highest !== undefined && highest !== template.latestVersion)
        await r.update(template.id, { latestVersion: highest });
      return gone;
    });
    for (const n of numbers)
      if (!deleted.includes(n)) refused.push({ version: String(n), why: 'not_found' });
    return { template, deleted: deleted.sort((a, b) => a - b), refused };
  }

  async #version(
    template: LaunchTemplateRow,
    version: string,
    parameter: string,
  ): Promise<LaunchTemplateVersion> {
    const n = versionNumber(template, version, parameter);
    const [row] = await new LaunchTemplateRepo(this.#db).versions(template.id, { numbers: [n] });
    if (!row) throw versionNotFound(template, version);
    return versionOf(template, row);
  }
}

function versionOf(
  template: LaunchTemplateRow,
  row: LaunchTemplateVersionRow,
): LaunchTemplateVersion {
  return {
    template,
    version: row.version,
    description: row.description,
    data: JSON.parse(row.data) as LaunchData,
    createdBy: row.createdBy,
    createdAt: Number(row.createdAt),
    isDefault: row.version === template.defaultVersion,
  };
}

/** A version as a request gives it: a number, `$Latest` or `$Default`. */
function versionNumber(template: LaunchTemplateRow, version: string, parameter: string): number {
  if (version === '$Latest') return template.latestVersion;
  if (version === '$Default') return template.defaultVersion;
  return parseNumber(version, parameter);
}

function parseNumber(text: string, parameter: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) {
    throw invalid(
      `Value (${text.slice(0, 64)}) for parameter ${parameter} is invalid. A version is a number from 1, $Latest or $Default.`,
      { resource: 'parameter', id: parameter },
    );
  }
  return Number(text);
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw invalid(
      `The launch template name '${name.slice(0, 128)}' is not valid: it must be 3 to 128 letters, digits and the characters ( ) . - / _.`,
      { resource: 'launch_template', id: name, reason: 'name' },
    );
  }
}

function checkVersionArgs(args: {
  description?: string | undefined;
  clientToken?: string | undefined;
}): void {
  if (args.description !== undefined)
    checkText(args.description, VERSION_DESCRIPTION, 'VersionDescription');
  if (args.clientToken !== undefined) checkText(args.clientToken, CLIENT_TOKEN, 'ClientToken');
}

function templateNotFound(ref: TemplateRef): StratusError {
  if ('name' in ref) {
    return new StratusError('not_found', `The launch template name '${ref.name}' does not exist.`, {
      resource: 'launch_template',
      id: ref.name,
      reason: 'name',
    });
  }
  return new StratusError('not_found', `The launch template ID '${ref.shown}' does not exist.`, {
    resource: 'launch_template',
    id: ref.shown,
  });
}

function versionNotFound(template: LaunchTemplateRow, version: string): StratusError {
  return new StratusError(
    'not_found',
    `The launch template '${template.name}' has no version ${version.slice(0, 64)}.`,
    { resource: 'launch_template_version', id: version },
  );
}

function project(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}
