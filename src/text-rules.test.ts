// The shared text rules: what counts as a control character, lengths in characters, and the
// tag rules every API applies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StratusError } from './errors.js';
import {
  checkTags,
  IMAGE_DESCRIPTION,
  SERVER_NAME,
  TAG_KEY,
  TAG_VALUE,
  textProblem,
} from './text-rules.js';

describe('text rules', () => {
  it('refuses C0, DEL, C1, lone surrogates and U+FFFE/U+FFFF, naming the character and where', () => {
    for (const c of [
      '\u0000',
      '\u0009',
      '\u000a',
      '\u001f',
      '\u007f',
      '\u0080',
      '\u009f',
      '\ud800',
      '\udfff',
      '\ufffe',
      '\uffff',
    ]) {
      assert.match(
        textProblem(`ab${c}`, TAG_VALUE) ?? '',
        /control characters; it has U\+[0-9A-F]{4} at character 3\./,
        JSON.stringify(c),
      );
    }
  });

  it('accepts printable text of any script, astral characters included, counting characters not UTF-16 units', () => {
    assert.equal(textProblem('équipe 雲 😀 / a+b=c @ x:y', TAG_VALUE), undefined);
    assert.equal(textProblem('😀'.repeat(128), TAG_KEY), undefined);
    assert.match(textProblem('😀'.repeat(129), TAG_KEY) ?? '', /1 to 128 characters/);
    assert.match(textProblem('', TAG_KEY) ?? '', /1 to 128/);
  });

  it('allows tabs and line breaks only where a rule says so', () => {
    assert.equal(textProblem('line one\nline two\ttab\r\n', IMAGE_DESCRIPTION), undefined);
    assert.match(textProblem('a\u0000', IMAGE_DESCRIPTION) ?? '', /U\+0000/);
  });

  it('refuses spaces at either end of a server name', () => {
    assert.match(textProblem(' vm', SERVER_NAME) ?? '', /spaces/);
    assert.equal(textProblem('vm 1', SERVER_NAME), undefined);
  });

  it('checks tags as invalid parameters, with aws: keys reserved', () => {
    for (const tags of [
      [{ key: 'k\u0000', value: '' }],
      [{ key: 'k', value: '\u0007' }],
      [{ key: 'AWS:x', value: '' }],
    ]) {
      assert.throws(
        () => checkTags(tags),
        (err: unknown) =>
          err instanceof StratusError && err.kind === 'invalid' && err.resource === 'parameter',
      );
    }
    checkTags([{ key: 'Name', value: '' }]);
  });
});
