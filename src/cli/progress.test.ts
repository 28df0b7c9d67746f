// The progress display: a bar redrawn in place on a terminal, a few plain lines elsewhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progress } from './progress.js';

function stream(isTTY: boolean): { out: string[]; s: NodeJS.WriteStream } {
  const out: string[] = [];
  const s = {
    isTTY,
    write: (chunk: string) => out.push(chunk) > 0,
  } as unknown as NodeJS.WriteStream;
  return { out, s };
}

const MiB = 1024 * 1024;

describe('progress', () => {
  it('redraws one bar in place on a terminal and ends it with a newline', () => {
    const { out, s } = stream(true);
    const p = progress(s, 'Importing guest');
    p.update(0, 4 * MiB);
    p.update(4 * MiB, 4 * MiB);
    p.finish();
    assert.ok(
      out.every((chunk, i) => (i === out.length - 1 ? chunk === '\n' : chunk.startsWith('\r'))),
    );
    assert.match(out.at(-2) ?? '', /^\rImporting guest \[#{30}\] 100% 4\.0 MiB of 4\.0 MiB$/);
    assert.match(out[0] ?? '', /\[\.{30}\] {3}0% 0\.0 MiB of 4\.0 MiB$/);
  });

  it('prints a plain line at each quarter when the stream is not a terminal', () => {
    const { out, s } = stream(false);
    const p = progress(s, 'Importing guest');
    for (let done = 0; done <= 100; done++) p.update(done * MiB, 100 * MiB);
    p.finish();
    assert.deepEqual(
      out.map((l) => l.replace(/ \(.*\)/, '')),
      [0, 25, 50, 75, 100].map((n) => `Importing guest: ${n}%\n`),
    );
    assert.ok(!out.join('').includes('\r'));
  });
});
