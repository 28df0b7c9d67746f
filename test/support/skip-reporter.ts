// A reporter for node's test runner that writes one JSON line per skipped or todo test (file,
// full name, reason) to its destination: scripts/run-tests.mjs runs it beside the usual
// reporter and ends the run with a summary of what did not run, and why.

/** One line of the report. */
export interface SkipRecord {
  file: string;
  /** The test's name, after the names of the suites it is in, joined by ' > '. */
  name: string;
  /** `skip` or `todo`. */
  kind: 'skip' | 'todo';
  reason: string;
}

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  skip?: string | boolean;
  todo?: string | boolean;
}

interface TestEvent {
  type: string;
  data: TestEventData;
}

export default async function* skipReporter(
  source: AsyncIterable<TestEvent>,
): AsyncGenerator<string> {
  // The names of the suites each file is in at the moment, by nesting level.
  const open = new Map<string, string[]>();
  for await (const event of source) {
    const { data } = event;
    const file = data.file ?? '';
    if (event.type === 'test:start') {
      const path = open.get(file) ?? [];
      path.length = data.nesting;
      path.push(data.name);
      open.set(file, path);
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const kind =
        data.skip !== undefined && data.skip !== false ? 'skip' : data.todo ? 'todo' : '';
      if (kind === '') continue;
      const reason = kind === 'skip' ? data.skip : data.todo;
      const suites = (open.get(file) ?? []).slice(0, data.nesting);
      const record: SkipRecord = {
        file,
        name: [...suites, data.name].join(' > '),
        kind,
        reason: typeof reason === 'string' ? reason : 'no reason given',
      };
      yield `${JSON.stringify(record)}\n`;
    }
  }
}
