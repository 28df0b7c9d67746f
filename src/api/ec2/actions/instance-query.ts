// DescribeInstances filters as conditions of the listing query. Each condition selects every
// instance the filter matches and maybe a few more (LIKE ignores case on SQLite, ids are
// compared by their leading characters); the handler checks the rows it gets against the
// filters again, so results are exactly those of the filters. Filters with no condition here
// (security groups, the constant ones) are only checked in code.
import { statesWhere } from '../../../compute/index.js';
import type {
  InstancePageQuery,
  InstanceTextColumn,
  TaskState,
  TextMatch,
  VmState,
} from '../../../db/index.js';
import { uuidPrefix } from '../../../ids/index.js';
import { hasWildcard, likePattern, matcher } from '../filters.js';
import type { Filter } from '../params.js';

type Conditions = Pick<
  InstancePageQuery,
  'states' | 'columns' | 'launchIndexes' | 'tags' | 'floatingAddress'
>;

/** Column filters on plain text columns. */
const TEXT_COLUMNS: Readonly<Record<string, InstanceTextColumn>> = {
  'key-name': 'keyName',
  'availability-zone': 'availabilityZone',
  'private-ip-address': 'privateIp',
  'client-token': 'clientToken',
  'owner-id': 'projectId',
};

/** Filters on EC2 ids of a UUID column, with the prefixes those ids take. */
const ID_COLUMNS: Readonly<Record<string, { column: InstanceTextColumn; prefixes: string[] }>> = {
  'instance-id': { column: 'id', prefixes: ['i'] },
  'reservation-id': { column: 'reservationId', prefixes: ['r'] },
  'image-id': { column: 'imageId', prefixes: ['ami', 'aki', 'ari'] },
  'kernel-id': { column: 'kernelId', prefixes: ['ami', 'aki', 'ari'] },
  'ramdisk-id': { column: 'ramdiskId', prefixes: ['ami', 'aki', 'ari'] },
};

/** Values as they are (exact) or as LIKE patterns (with wildcards). */
function textMatch(values: readonly string[]): TextMatch {
  return {
    equals: values.filter((v) => !hasWildcard(v)),
    like: values.filter(hasWildcard).map(likePattern),
  };
}

/**
 * The UUID prefixes behind EC2 ids ('i-' and 17 hex digits: the id's first characters);
 * undefined when a value is not such an id, and the column is then left to the code check.
 */
function idMatch(values: readonly string[], prefixes: readonly string[]): TextMatch | undefined {
  const out: string[] = [];
  for (const v of values) {
    const m = /^([a-z]+)-([0-9a-f]{17})$/.exec(v);
    if (!m || !prefixes.includes(m[1] as string)) return undefined;
    out.push(uuidPrefix(m[2] as string));
  }
  return { prefixes: out };
}

/** How EC2 shows a stored state: its name and code. */
type StateView = (vmState: VmState, taskState: TaskState | null) => { name: string; code: number };

/** The query conditions for these filters (see the top of this file). */
export function instanceConditions(
  filters: readonly Filter[],
  flavorNames: ReadonlyMap<string, string>,
  ec2State: StateView,
): Conditions {
  const stateChecks: ((vm: VmState, task: TaskState | null) => boolean)[] = [];
  const columns: NonNullable<Conditions['columns']>[number][] = [];
  const tags: NonNullable<Conditions['tags']>[number][] = [];
  const out: Conditions = { columns, tags };
  for (const f of filters) {
    const matches = f.values.map(matcher);
    const any = (v: string) => matches.some((m) => m(v));
    const text = TEXT_COLUMNS[f.name];
    const ids = ID_COLUMNS[f.name];
    // A filter given twice must hold both times; keeping the last condition of a kind selects
    // more, never less, and the code check does the rest.
    if (Object.prototype.hasOwnProperty.call(TEXT_COLUMNS, f.name) && text) {
      columns.push({ column: text, match: textMatch(f.values) });
    } else if (Object.prototype.hasOwnProperty.call(ID_COLUMNS, f.name) && ids) {
      const match = idMatch(f.values, ids.prefixes);
      if (match) columns.push({ column: ids.column, match });
    } else if (f.name === 'instance-state-name' || f.name === 'instance-state-code') {
      const byName = f.name === 'instance-state-name';
      stateChecks.push((vm, task) => {
        const s = ec2State(vm, task);
        return any(byName ? s.name : String(s.code));
      });
    } else if (f.name === 'instance-type') {
      // An instance shows its flavor's name, or the flavor id when the flavor is gone.
      const named = textMatch(f.values);
      const ids = [...flavorNames].filter(([, name]) => any(name)).map(([id]) => id);
      columns.push({
        column: 'flavorId',
        match: { equals: [...(named.equals ?? []), ...ids], like: named.like },
      });
    } else if (f.name === 'launch-index') {
      if (f.values.every((v) => /^\d{1,9}$/.test(v))) out.launchIndexes = f.values.map(Number);
    } else if (f.name === 'ip-address') {
      out.floatingAddress = textMatch(f.values);
    } else if (f.name.startsWith('tag:')) {
      tags.push({ key: { equals: [f.name.slice(4)] }, value: textMatch(f.values) });
    } else if (f.name === 'tag-key') {
      tags.push({ key: textMatch(f.values) });
    } else if (f.name === 'tag-value') {
      tags.push({ value: textMatch(f.values) });
    }
  }
  if (stateChecks.length > 0) {
    out.states = statesWhere((vm, task) => stateChecks.every((check) => check(vm, task)));
  }
  return out;
}
