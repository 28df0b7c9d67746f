// Ids given by their leading characters, as EC2 ids carry only a UUID's first hex digits.

/** An id (or its leading characters) as looked up, and as the caller wrote it. */
export interface IdRef {
  ref: string;
  shown: string;
}

/**
 * The row of each ref, in the refs' order: the first of `rows` whose id starts with the ref.
 * Throws `missing(shown)` for the first ref no row matches.
 */
export function byIdPrefix<T extends { id: string }>(
  rows: readonly T[],
  refs: readonly IdRef[],
  missing: (shown: string) => Error,
): T[] {
  return refs.map((r) => {
    const row = rows.find((x) => x.id.startsWith(r.ref));
    if (!row) throw missing(r.shown);
    return row;
  });
}
