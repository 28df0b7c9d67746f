// Volume types: the built-in ones (gp2, the default, gp3 and standard: EC2's names, code here,
// not rows) and the ones an administrator adds, with a description, extra specs and whether
// every project may use them. A volume names its type by name; a type a volume has cannot go.
import { createHash, randomUUID } from 'node:crypto';
import { invalid, notFound, StratusError } from '../errors.js';
import { isUniqueViolation, VolumeTypeRepo, type Db, type VolumeTypeRow } from '../db/index.js';

/** The built-in volume types; the first is the default. */
export const VOLUME_TYPES = ['gp2', 'gp3', 'standard'] as const;

export interface VolumeType {
  id: string;
  name: string;
  description: string;
  isPublic: boolean;
  extraSpecs: Record<string, string>;
  builtIn: boolean;
  isDefault: boolean;
}

export interface NewVolumeType {
  name: string;
  description?: string | undefined;
  isPublic?: boolean | undefined;
  extraSpecs?: Record<string, string> | undefined;
}

/** A built-in type's id: a UUID drawn from its name, the same in every cloud. */
export function volumeTypeId(name: string): string {
  const h = createHash('sha256').update(`stratus volume type ${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const BUILT_IN: readonly VolumeType[] = VOLUME_TYPES.map((name, i) => ({
  id: volumeTypeId(name),
  name,
  description: i === 0 ? 'The default volume type.' : `Volume type ${name}.`,
  isPublic: true,
  extraSpecs: {},
  builtIn: true,
  isDefault: i === 0,
}));

const MAX_NAME = 255;
const MAX_SPECS = 64;

export class VolumeTypes {
  readonly #repo: VolumeTypeRepo;

  constructor(db: Db) {
    this.#repo = new VolumeTypeRepo(db);
  }

  /** Every type `admin` may see: the built-in ones first, then the added ones, oldest first. */
  async list(admin: boolean): Promise<VolumeType[]> {
    const added = (await this.#repo.list()).map(fromRow).filter((t) => admin || t.isPublic);
    return [...BUILT_IN, ...added];
  }

  /** The type with this id or name (`default`: the default type), or `not_found`. */
  async get(idOrName: string, admin: boolean): Promise<VolumeType> {
    const wanted = idOrName === 'default' ? VOLUME_TYPES[0] : idOrName;
    const builtIn = BUILT_IN.find((t) => t.id === wanted || t.name === wanted);
    if (builtIn) return builtIn;
    const row = await this.#repo.find(wanted);
    if (!row || (!admin && row.isPublic !== 1)) {
      throw notFound('resource', idOrName, `Volume type ${idOrName} could not be found.`);
    }
    return fromRow(row);
  }

  /** The name of the type a new volume gets (`invalid` for one the caller may not use). */
  async nameFor(idOrName: string | undefined, admin: boolean): Promise<string> {
    if (idOrName === undefined) return VOLUME_TYPES[0];
    try {
      return (await this.get(idOrName, admin)).name;
    } catch (err) {
      if (err instanceof StratusError && err.kind === 'not_found') {
        const names = (await this.list(admin)).map((t) => t.name).join(', ');
        throw invalid(`The volume type '${idOrName}' is not one of ${names}.`, {
          resource: 'parameter',
          id: 'VolumeType',
        });
      }
      throw err;
    }
  }

  /** Adds a type; a taken name is `already_exists`. */
  async create(spec: NewVolumeType): Promise<VolumeType> {
    const name = checkName(spec.name);
    if (BUILT_IN.some((t) => t.name === name)) throw taken(name);
    const row: VolumeTypeRow = {
      id: randomUUID(),
      name,
      description: checkDescription(spec.description ?? ''),
      isPublic: spec.isPublic === false ? 0 : 1,
      extraSpecs: JSON.stringify(checkSpecs(spec.extraSpecs ?? {})),
      createdAt: Date.now(),
    };
    try {
      await this.#repo.insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw taken(name);
      throw err;
    }
    return fromRow(row);
  }

  /**
   * Changes an added type's name, description or visibility (a built-in one is `invalid`);
   * renaming is refused while a volume has the type, as the volume names it.
   */
  async update(
    idOrName: string,
    changes: {
      name?: string | undefined;
      description?: string | undefined;
      isPublic?: boolean | undefined;
    },
  ): Promise<VolumeType> {
    const type = await this.#added(idOrName);
    const name = changes.name === undefined ? undefined : checkName(changes.name);
    if (name !== undefined && name !== type.name) {
      if (BUILT_IN.some((t) => t.name === name)) throw taken(name);
      if (await this.#repo.inUse(type.name)) throw inUse(type.name, 'renamed');
    }
    try {
      await this.#repo.update(type.id, {
        ...(name !== undefined ? { name } : {}),
        ...(changes.description !== undefined
          ? { description: checkDescription(changes.description) }
          : {}),
        ...(changes.isPublic !== undefined ? { isPublic: changes.isPublic ? 1 : 0 } : {}),
      });
    } catch (err) {
      if (isUniqueViolation(err) && name !== undefined) throw taken(name);
      throw err;
    }
    return this.get(type.id, true);
  }

  /** Deletes an added type no volume has (`invalid` while one does, or for a built-in one). */
  async delete(idOrName: string): Promise<void> {
    const type = await this.#added(idOrName);
    if (!(await this.#repo.deleteUnused(type.id, type.name))) throw inUse(type.name, 'deleted');
  }

  /** Sets extra specs of an added type (merged with the ones it has); answers them all. */
  async setExtraSpecs(idOrName: string, specs: Record<string, string>): Promise<VolumeType> {
    const type = await this.#added(idOrName);
    const merged = checkSpecs({ ...type.extraSpecs, ...checkSpecs(specs) });
    await this.#repo.update(type.id, { extraSpecs: JSON.stringify(merged) });
    return { ...type, extraSpecs: merged };
  }

  /** Removes one extra spec of an added type (`not_found` when it has none by that key). */
  async unsetExtraSpec(idOrName: string, key: string): Promise<void> {
    const type = await this.#added(idOrName);
    if (!(key in type.extraSpecs)) {
      throw notFound(
        'resource',
        key,
        `Volume Type ${idOrName} has no extra specs with key ${key}.`,
      );
    }
    const { [key]: _gone, ...rest } = type.extraSpecs;
    await this.#repo.update(type.id, { extraSpecs: JSON.stringify(rest) });
  }

  async #added(idOrName: string): Promise<VolumeType> {
    const type = await this.get(idOrName, true);
    if (type.builtIn) {
      throw invalid(
        `The volume type ${type.name} is built in (${VOLUME_TYPES.join(', ')}); it cannot be changed or deleted.`,
        { resource: 'request', reason: 'unsupported' },
      );
    }
    return type;
  }
}

function fromRow(row: VolumeTypeRow): VolumeType {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    isPublic: row.isPublic === 1,
    extraSpecs: JSON.parse(row.extraSpecs) as Record<string, string>,
    builtIn: false,
    isDefault: false,
  };
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) {
    throw invalid(`A volume type's name is a string of 1 to ${MAX_NAME} characters.`, {
      resource: 'parameter',
      id: 'name',
    });
  }
  return name.trim();
}

function checkDescription(description: unknown): string {
  if (typeof description !== 'string' || description.length > MAX_NAME) {
    throw invalid(`A volume type's description is a string of at most ${MAX_NAME} characters.`, {
      resource: 'parameter',
      id: 'description',
    });
  }
  return description;
}

function checkSpecs(specs: unknown): Record<string, string> {
  if (typeof specs !== 'object' || specs === null || Array.isArray(specs)) {
    throw invalid('extra_specs is an object of strings.', {
      resource: 'parameter',
      id: 'extra_specs',
    });
  }
  const entries = Object.entries(specs);
  if (entries.length > MAX_SPECS) {
    throw invalid(`A volume type has at most ${MAX_SPECS} extra specs.`, {
      resource: 'parameter',
      id: 'extra_specs',
    });
  }
  for (const [k, v] of entries) {
    if (k === '' || k.length > MAX_NAME || typeof v !== 'string' || v.length > MAX_NAME) {
      throw invalid(
        `Extra spec '${k}': keys and values are strings of 1 to ${MAX_NAME} characters.`,
        { resource: 'parameter', id: 'extra_specs' },
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function taken(name: string): StratusError {
  return new StratusError('already_exists', `Volume Type ${name} already exists.`, {
    resource: 'resource',
    id: name,
  });
}

function inUse(name: string, what: string): StratusError {
  return invalid(`Target volume type ${name} is still in use by a volume; it cannot be ${what}.`, {
    resource: 'request',
    reason: 'in_use',
  });
}
