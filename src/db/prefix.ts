// Lookup of rows by the leading characters of their UUID, as a range the index can serve on
// both databases ('~' sorts after every hex digit and '-').
import type { ExpressionBuilder, Expression, SqlBool } from 'kysely';

export function idStartsWith<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  column: string,
  prefixes: readonly string[],
): Expression<SqlBool> {
  const ref = eb.ref(column as never);
  return eb.or(
    prefixes.map((p) => eb.and([eb(ref, '>=', p as never), eb(ref, '<', `${p}~` as never)])),
  );
}
