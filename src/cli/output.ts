// Prints command results as an aligned table or as JSON.

export type Format = 'table' | 'json';

export function printRows(
  format: Format,
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const cells = rows.map((r) =>
    columns.map((c) => (r[c] === null || r[c] === undefined ? '' : String(r[c]))),
  );
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((row) => (row[i] as string).length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(columns), ...cells.map(line)].join('\n')}\n`);
}

export function printRecord(format: Format, record: Record<string, unknown>): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
    return;
  }
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [k, v] of Object.entries(record))
    process.stdout.write(`${k.padEnd(width)}  ${v ?? ''}\n`);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
