// Typed access to EC2 Query parameters. Lists arrive flattened ('InstanceId.1',
// 'Filter.1.Value.2', 'IpPermissions.1.IpRanges.1.CidrIp'); this turns them back into values
// and refuses bad ones with EC2's MissingParameter / InvalidParameterValue.
import { StratusError } from '../../errors.js';

export interface Filter {
  name: string;
  values: string[];
}

/** The most items one list parameter may carry; more is refused, not truncated. */
const MAX_LIST = 1000;

export function missingParameter(name: string): StratusError {
  return new StratusError('missing', `The request must contain the parameter ${name}.`, {
    resource: 'parameter',
    id: name,
  });
}

export function invalidValue(name: string, value: string, why: string): StratusError {
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return new StratusError('invalid', `Value (${shown}) for parameter ${name} is invalid. ${why}`, {
    resource: 'parameter',
    id: name,
  });
}

export class Params {
  constructor(
    private readonly raw: Readonly<Record<string, string>>,
    /** Prefix of these parameters in the request, for error messages ('IpPermissions.1.'). */
    private readonly path = '',
  ) {}

  has(name: string): boolean {
    return (
      this.raw[name] !== undefined || Object.keys(this.raw).some((k) => k.startsWith(`${name}.`))
    );
  }

  string(
    name: string,
    options: { max?: number; pattern?: RegExp; patternHelp?: string } = {},
  ): string | undefined {
    const value = this.raw[name];
    if (value === undefined) return undefined;
    const max = options.max ?? 4096;
    if (value.length > max)
      throw invalidValue(this.path + name, value, `It must be at most ${max} characters.`);
    if (options.pattern && !options.pattern.test(value)) {
      throw invalidValue(this.path + name, value, options.patternHelp ?? '');
    }
    return value;
  }

  requireString(
    name: string,
    options: { max?: number; pattern?: RegExp; patternHelp?: string } = {},
  ): string {
    const value = this.string(name, options);
    if (value === undefined || value === '') throw missingParameter(this.path + name);
    return value;
  }

  int(name: string, options: { min?: number; max?: number } = {}): number | undefined {
    const value = this.raw[name];
    if (value === undefined) return undefined;
    if (!/^-?\d{1,15}$/.test(value))
      throw invalidValue(this.path + name, value, 'It must be a whole number.');
    const n = Number(value);
    if (options.min !== undefined && n < options.min) {
      throw invalidValue(this.path + name, value, `It must be at least ${options.min}.`);
    }
    if (options.max !== undefined && n > options.max) {
      throw invalidValue(this.path + name, value, `It must be at most ${options.max}.`);
    }
    return n;
  }

  bool(name: string): boolean | undefined {
    const value = this.raw[name];
    if (value === undefined) return undefined;
    const v = value.toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw invalidValue(this.path + name, value, 'It must be true or false.');
  }

  enumOf<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const value = this.raw[name];
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      throw invalidValue(this.path + name, value, `It must be one of: ${choices.join(', ')}.`);
    }
    return value as T;
  }

  /** `Name.1`, `Name.2`, ... in numeric order (and a bare `Name`, as some clients send). */
  list(name: string): string[] {
    const out: [number, string][] = [];
    const bare = this.raw[name];
    if (bare !== undefined) out.push([0, bare]);
    for (const [key, value] of Object.entries(this.raw)) {
      if (!key.startsWith(`${name}.`)) continue;
      const rest = key.slice(name.length + 1);
      if (!/^\d+$/.test(rest)) continue;
      out.push([Number(rest), value]);
    }
    if (out.length > MAX_LIST)
      throw invalidValue(
        this.path + name,
        String(out.length),
        `At most ${MAX_LIST} values are allowed.`,
      );
    return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }

  /** The parameters under `Name.` as a set of their own (`LaunchTemplateData.ImageId` -> `ImageId`). */
  sub(name: string): Params {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.raw))
      if (key.startsWith(`${name}.`)) out[key.slice(name.length + 1)] = value;
    return new Params(out, `${this.path}${name}.`);
  }

  /** The names of the parameters given, for refusing those not known. */
  names(): string[] {
    return Object.keys(this.raw);
  }

  /** `Name.N.Field...` as one Params per N, in numeric order. */
  structs(name: string): Params[] {
    const groups = new Map<number, Record<string, string>>();
    for (const [key, value] of Object.entries(this.raw)) {
      if (!key.startsWith(`${name}.`)) continue;
      const m = /^(\d+)\.(.+)$/.exec(key.slice(name.length + 1));
      if (!m) continue;
      const n = Number(m[1]);
      const group = groups.get(n) ?? {};
      group[m[2] as string] = value;
      groups.set(n, group);
    }
    if (groups.size > MAX_LIST)
      throw invalidValue(
        this.path + name,
        String(groups.size),
        `At most ${MAX_LIST} items are allowed.`,
      );
    return [...groups.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([n, g]) => new Params(g, `${this.path}${name}.${n}.`));
  }

  /** `Filter.N.Name` with `Filter.N.Value.M`. */
  filters(name = 'Filter'): Filter[] {
    return this.structs(name).map((f) => ({
      name: f.requireString('Name', { max: 255 }),
      values: f.list('Value'),
    }));
  }

  /** `TagSpecification.N.ResourceType` with `TagSpecification.N.Tag.M.Key/Value`. */
  tagSpecifications(): { resourceType: string; tags: { key: string; value: string }[] }[] {
    return this.structs('TagSpecification').map((s) => ({
      resourceType: s.requireString('ResourceType', { max: 64 }),
      tags: s.tags('Tag'),
    }));
  }

  /** `Tag.N.Key` with `Tag.N.Value`. */
  tags(name = 'Tag'): { key: string; value: string }[] {
    return this.structs(name).map((t) => ({
      key: t.requireString('Key', { max: 128 }),
      value: t.string('Value', { max: 256 }) ?? '',
    }));
  }
}
