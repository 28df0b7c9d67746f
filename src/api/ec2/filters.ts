// EC2 `Filter.N` semantics: a resource matches when, for every filter, one of the filter's
// values matches one of the resource's values for that name. Values may hold the wildcards
// '*' and '?'. Unknown filter names are refused, as EC2 does.
import { invalid } from '../../errors.js';
import type { Filter } from './params.js';

export type FilterValue = string | number | boolean | null | undefined;
export type FilterGetter<T> = (item: T) => FilterValue | readonly FilterValue[];

export interface TagSource<T> {
  /** The resource's tags, for 'tag:<key>', 'tag-key' and 'tag-value' filters. */
  tags(item: T): readonly { key: string; value: string }[];
}

/** Whether a filter value holds a wildcard. */
export function hasWildcard(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

/** A filter value as a SQL LIKE pattern (`\` escaping); LIKE ignores ASCII case on SQLite. */
export function likePattern(pattern: string): string {
  return pattern
    .replace(/[\\%_]/g, '\\$&')
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');
}

/** Whether a value matches a filter value, wildcards and all. */
export function matcher(pattern: string): (v: string) => boolean {
  if (!/[*?]/.test(pattern)) return (v) => v === pattern;
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return (v) => re.test(v);
}

function asStrings(v: FilterValue | readonly FilterValue[]): string[] {
  const list = Array.isArray(v) ? (v as readonly FilterValue[]) : [v as FilterValue];
  return list.filter((x) => x !== null && x !== undefined).map((x) => String(x));
}

export function applyFilters<T>(
  items: readonly T[],
  filters: readonly Filter[],
  getters: Readonly<Record<string, FilterGetter<T>>>,
  tagSource?: TagSource<T>,
): T[] {
  if (filters.length === 0) return [...items];
  const checks = filters.map((f): ((item: T) => boolean) => {
    const matchers = f.values.map(matcher);
    const any = (values: string[]) => values.some((v) => matchers.some((m) => m(v)));
    if (tagSource && f.name.startsWith('tag:')) {
      const key = f.name.slice(4);
      return (item) =>
        any(
          tagSource
            .tags(item)
            .filter((t) => t.key === key)
            .map((t) => t.value),
        );
    }
    if (tagSource && f.name === 'tag-key')
      return (item) => any(tagSource.tags(item).map((t) => t.key));
    if (tagSource && f.name === 'tag-value')
      return (item) => any(tagSource.tags(item).map((t) => t.value));
    const get = Object.prototype.hasOwnProperty.call(getters, f.name) ? getters[f.name] : undefined;
    if (!get) {
      throw invalid(`The filter '${f.name}' is invalid.`, { resource: 'parameter', id: 'Filter' });
    }
    return (item) => any(asStrings(get(item)));
  });
  return items.filter((item) => checks.every((check) => check(item)));
}
