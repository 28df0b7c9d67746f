// Instance listings done by the database: visibility, filters, order and keyset paging in one
// query, served by the indexes of migration 0010.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { Db, InstanceRow, Schema, TaskState, VmState } from '../schema.js';
import { idStartsWith } from '../prefix.js';

/** Where a page starts: the sort key of the last row of the page before it. */
export interface InstanceKey {
  createdAt: number;
  launchIndex: number;
  id: string;
}

export function instanceKey(row: InstanceRow): InstanceKey {
  return { createdAt: row.createdAt, launchIndex: row.launchIndex, id: row.id };
}

/**
 * Text values a column may hold: equal to one of `equals`, starting with one of `prefixes`,
 * or LIKE one of `like` (SQL patterns, `\` escapes `%`, `_` and itself). A match with none of
 * them matches nothing. LIKE ignores ASCII case on SQLite, so callers that need exact
 * semantics check the rows again.
 */
export interface TextMatch {
  equals?: readonly string[];
  prefixes?: readonly string[];
  like?: readonly string[];
}

/** An instance state: this vm state with any task state but the ones listed. */
export interface StateMatch {
  vmState: VmState;
  exceptTaskStates: readonly (TaskState | null)[];
}

export type InstanceTextColumn =
  | 'id'
  | 'reservationId'
  | 'projectId'
  | 'imageId'
  | 'kernelId'
  | 'ramdiskId'
  | 'flavorId'
  | 'keyName'
  | 'availabilityZone'
  | 'privateIp'
  | 'clientToken';

export interface InstancePageQuery {
  /** Only this project's instances; every project's when absent (admin). */
  projectId?: string;
  /** Leave out instances terminated before this time (ms). */
  terminatedSince?: number;
  /** Only these instances. */
  ids?: readonly string[];
  /** Leave out instances in these vm states. */
  excludeVmStates?: readonly VmState[];
  /** Only instances in one of these states; an empty list matches nothing. */
  states?: readonly StateMatch[];
  /** Every entry must hold. */
  columns?: readonly { column: InstanceTextColumn; match: TextMatch }[];
  launchIndexes?: readonly number[];
  /** Every entry must hold: the instance has a tag whose key and value match. */
  tags?: readonly { key?: TextMatch; value?: TextMatch }[];
  /** The instance has a floating address that matches. */
  floatingAddress?: TextMatch;
  /** 'oldest' first or 'newest' first, by creation time, launch index, id. */
  order: 'oldest' | 'newest';
  /** Only rows after this key in that order. */
  after?: InstanceKey;
  limit?: number;
}

type Eb<T extends keyof Schema> = ExpressionBuilder<Schema, T>;

const NOTHING = sql<SqlBool>`1 = 0`;

function textMatch<T extends keyof Schema>(
  eb: Eb<T>,
  column: string,
  m: TextMatch,
): Expression<SqlBool> {
  const ref = eb.ref(column as never);
  const parts: Expression<SqlBool>[] = [];
  if (m.equals && m.equals.length > 0) parts.push(eb(ref, 'in', m.equals as never));
  if (m.prefixes && m.prefixes.length > 0) parts.push(idStartsWith(eb, column, m.prefixes));
  for (const p of m.like ?? []) parts.push(sql<SqlBool>`${ref} like ${p} escape '\\'`);
  return parts.length === 0 ? NOTHING : eb.or(parts);
}

function stateMatch(eb: Eb<'instances'>, s: StateMatch): Expression<SqlBool> {
  const named = s.exceptTaskStates.filter((t): t is TaskState => t !== null);
  const task: Expression<SqlBool>[] = [];
  if (s.exceptTaskStates.includes(null)) task.push(eb('instances.taskState', 'is not', null));
  if (named.length > 0) {
    task.push(
      eb.or([eb('instances.taskState', 'is', null), eb('instances.taskState', 'not in', named)]),
    );
  }
  return eb.and([eb('instances.vmState', '=', s.vmState), ...task]);
}

/** One page of instances; see InstanceRepo.page. */
export async function instancePage(db: Db, query: InstancePageQuery): Promise<InstanceRow[]> {
  if (query.limit !== undefined && query.limit <= 0) return [];
  return instancePageQuery(db, query).execute();
}

/** The query behind `instancePage`, to run or to EXPLAIN. */
export function instancePageQuery(db: Db, query: InstancePageQuery) {
  let q = db.selectFrom('instances').selectAll('instances');
  if (query.projectId !== undefined) q = q.where('instances.projectId', '=', query.projectId);
  if (query.terminatedSince !== undefined) {
    const since = query.terminatedSince;
    q = q.where((eb) =>
      eb.or([eb('instances.terminatedAt', 'is', null), eb('instances.terminatedAt', '>=', since)]),
    );
  }
  if (query.ids) {
    const ids = query.ids;
    q = q.where((eb) => (ids.length === 0 ? NOTHING : eb('instances.id', 'in', ids)));
  }
  if (query.excludeVmStates && query.excludeVmStates.length > 0) {
    q = q.where('instances.vmState', 'not in', query.excludeVmStates);
  }
  if (query.states) {
    const states = query.states;
    q = q.where((eb) =>
      states.length === 0 ? NOTHING : eb.or(states.map((s) => stateMatch(eb, s))),
    );
  }
  for (const c of query.columns ?? []) {
    q = q.where((eb) => textMatch(eb, `instances.${c.column}`, c.match));
  }
  if (query.launchIndexes) {
    const indexes = query.launchIndexes;
    q = q.where((eb) =>
      indexes.length === 0 ? NOTHING : eb('instances.launchIndex', 'in', indexes),
    );
  }
  for (const t of query.tags ?? []) {
    // As `id in (...)`, not `exists`, so the planner may start from the tags (key, value)
    // index when the tag is rare, or probe tags per instance when it is common.
    q = q.where('instances.id', 'in', (eb) =>
      eb
        .selectFrom('tags')
        .select('tags.resourceId')
        .where((tb) =>
          tb.and([
            ...(t.key ? [textMatch(tb, 'tags.key', t.key)] : []),
            ...(t.value ? [textMatch(tb, 'tags.value', t.value)] : []),
          ]),
        ),
    );
  }
  if (query.floatingAddress) {
    const m = query.floatingAddress;
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom('floatingIps')
          .select(sql`1`.as('one'))
          .whereRef('floatingIps.instanceId', '=', 'instances.id')
          .where((fb) => textMatch(fb, 'floatingIps.address', m)),
      ),
    );
  }
  const newest = query.order === 'newest';
  if (query.after) {
    const k = query.after;
    q = q.where((eb) =>
      eb(
        eb.refTuple('instances.createdAt', 'instances.launchIndex', 'instances.id'),
        newest ? '<' : '>',
        eb.tuple(k.createdAt, k.launchIndex, k.id),
      ),
    );
  }
  const dir = newest ? 'desc' : 'asc';
  q = q
    .orderBy('instances.createdAt', dir)
    .orderBy('instances.launchIndex', dir)
    .orderBy('instances.id', dir);
  if (query.limit !== undefined) q = q.limit(query.limit);
  return q;
}
