import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decode } from 'jpeg-js';
import { encodeJpeg, parsePpm } from './jpeg.js';

it('reads a P6 screen dump and encodes it as a JPEG of the same size', () => {
  const width = 4;
  const height = 2;
  const pixels = Buffer.alloc(width * height * 3, 200);
  const ppm = Buffer.concat([Buffer.from(`P6\n# a comment\n${width} ${height}\n255\n`), pixels]);
  const image = parsePpm(ppm);
  assert.deepEqual([image.width, image.height], [width, height]);
  const jpeg = encodeJpeg(image);
  assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  const back = decode(jpeg);
  assert.deepEqual([back.width, back.height], [width, height]);
});

it('refuses what is not an 8-bit binary PPM, or is cut short', () => {
  assert.throws(() => parsePpm(Buffer.from('P3\n1 1\n255\n0 0 0\n')), /not a binary 8-bit PPM/);
  assert.throws(() => parsePpm(Buffer.from('P6\n2 2\n255\nabc')), /truncated/);
});
