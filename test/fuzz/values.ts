// The values the fuzz suite puts in requests, for both APIs: well-shaped ones (so requests get
// past the first check and reach the services) mixed with hostile ones (wrong types, huge and
// negative numbers, unicode, control characters, very long strings).
import fc from 'fast-check';

/**
 * Percent-encoding as RFC 3986 (and SigV4) wants it; a lone surrogate, which UTF-8 cannot
 * carry, goes as the three bytes a careless encoder writes for it: invalid UTF-8 on the wire.
 */
export function RFC3986(v: string): string {
  let out = '';
  for (const c of v) {
    const unit = c.charCodeAt(0);
    if (c.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(c).replace(
        /[!'()*]/g,
        (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`,
      );
    }
  }
  return out;
}

/** Characters a stored value must never carry, and ones XML 1.0 cannot carry at all. */
export const CONTROL_CHARACTERS = [
  '\u0000',
  '\u0007',
  '\u0008',
  '\u000b',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u2028',
  '\ufeff',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udfff',
];

/** Numbers written as text, in every shape a parser might trip on. */
export const NUMBER_TEXTS = [
  '0',
  '-0',
  '1',
  '-1',
  '5',
  '1000',
  '1001',
  '2147483648',
  '-2147483649',
  '9007199254740993',
  '99999999999999999999',
  '1e308',
  '1e309',
  '-1e309',
  '0x10',
  '1.5',
  ' 1',
  '1 ',
  '+1',
  'NaN',
  'Infinity',
  '-Infinity',
  '١٢',
  '',
];

/** A very long string: past every field limit, and sometimes past the request body limit. */
export const longString: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('a', 'é', '雲', '\u0000', '%', '&', '<', '😀'),
    fc.constantFrom(65, 129, 256, 257, 1025, 4097, 65_536, 100_001),
  )
  .map(([c, n]) => c.repeat(n));

/** Text of every kind: ASCII, any unicode, control characters, XML and URL metacharacters. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...CONTROL_CHARACTERS))
      .map(([s, c]) => `${s}${c}${s}`),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '*',
      '?',
      '%',
      '%00',
      '%ff',
      '\\',
      '\\%',
      '_',
      "'",
      '"',
      '<x>',
      ']]>',
      '&amp;',
      '&#0;',
      '${x}',
      '../..',
      '/',
      '//',
      'null',
      'undefined',
      'true',
      '[]',
      '{}',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'toString',
      'aws:x',
      'self',
      'all',
      'system',
    ),
    weight: 3,
  },
  { arbitrary: fc.constantFrom(...NUMBER_TEXTS), weight: 2 },
  { arbitrary: longString, weight: 1 },
);

/** A short printable name, of the kind clients send. */
export const plainName: fc.Arbitrary<string> = fc.stringMatching(
  /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,20}$/,
);

/** Lowercase hex of exactly `n` digits. */
export const hex = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

/** A UUID that names nothing. */
export const randomUuid: fc.Arbitrary<string> = fc.uuid();

/** Printable ASCII only: what an HTTP header value may carry. */
export const headerText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom('', ' ', 'x'.repeat(8_000)),
);

/** Picks one of these arbitraries, weighted. */
export function weighted<T>(...choices: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([weight, arbitrary]) => ({ weight, arbitrary })));
}

/** A value or nothing; `p` the chance of a value. */
export function maybe<T>(arb: fc.Arbitrary<T>, p = 0.6): fc.Arbitrary<T | undefined> {
  const w = Math.round(p * 10);
  return weighted<T | undefined>([w, arb], [10 - w, fc.constant(undefined)]);
}
