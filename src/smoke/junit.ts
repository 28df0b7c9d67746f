// JUnit XML for CI servers: one testsuite, one testcase per scenario, its steps as the
// test case's output.
import { XMLBuilder } from 'fast-xml-parser';
import type { ScenarioResult } from './scenario.js';

export function junitXml(results: readonly ScenarioResult[], suiteName = 'stratus smoke'): string {
  const failures = results.filter((r) => !r.passed).length;
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    testsuite: {
      '@_name': suiteName,
      '@_tests': results.length,
      '@_failures': failures,
      '@_errors': 0,
      '@_time': seconds(results.reduce((sum, r) => sum + r.ms, 0)),
      testcase: results.map((r) => {
        const steps = r.steps
          .map((s) => `${s.name} ${seconds(s.ms)} s ${s.error ? `FAILED: ${s.error}` : 'ok'}`)
          .join('\n');
        const failed = r.steps.find((s) => s.error);
        return {
          '@_classname': suiteName,
          '@_name': r.name,
          '@_time': seconds(r.ms),
          ...(r.passed
            ? {}
            : {
                failure: {
                  '@_message': failed
                    ? `${failed.name}: ${failed.error}`
                    : `left behind: ${r.leftovers.join('; ')}`,
                  '#text': xmlSafe(
                    [
                      steps,
                      ...r.leftovers.map((l) => `left behind: ${l}`),
                      ...r.consoles.map((c) => `--- console of ${c.instanceId} ---\n${c.output}`),
                    ].join('\n'),
                  ),
                },
              }),
          'system-out': steps,
        };
      }),
    },
  };
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    format: true,
    suppressEmptyNode: true,
  });
  return builder.build(doc) as string;
}

/** Drops what XML 1.0 cannot carry (a guest console holds escape sequences and such). */
function xmlSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
}
