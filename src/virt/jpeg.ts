// Console screenshots as JPEG, the format EC2's GetConsoleScreenshot answers: RGB pixels
// (from a QEMU screendump, or the fake driver's own picture) encoded with jpeg-js.
import { encode } from 'jpeg-js';
import { invalid } from '../errors.js';

/** An image as rows of 8-bit RGB pixels, top row first. */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes. */
  rgb: Buffer;
}

/** JPEG quality (0-100) of screenshots: text on a console stays readable. */
const QUALITY = 85;

/** The image as a baseline JPEG (starts with FF D8 FF). */
export function encodeJpeg(image: RgbImage): Buffer {
  const { width, height, rgb } = image;
  if (rgb.length !== width * height * 3) {
    throw invalid(
      `An RGB image of ${width}x${height} needs ${width * height * 3} bytes, not ${rgb.length}.`,
    );
  }
  // jpeg-js reads RGBA.
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i] as number;
    rgba[j + 1] = rgb[i + 1] as number;
    rgba[j + 2] = rgb[i + 2] as number;
    rgba[j + 3] = 255;
  }
  return encode({ width, height, data: rgba }, QUALITY).data;
}

/**
 * Reads a binary PPM (P6, maxval 255), the format of QEMU's `screendump`. Anything else is
 * refused with `invalid`.
 */
export function parsePpm(data: Buffer): RgbImage {
  // Header: "P6" whitespace width whitespace height whitespace maxval, one whitespace byte,
  // then the pixels; lines starting with # are comments.
  const fields: string[] = [];
  let at = 0;
  while (fields.length < 4 && at < data.length) {
    const c = data[at] as number;
    if (c === 0x23) {
      while (at < data.length && data[at] !== 0x0a) at++;
      continue;
    }
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      at++;
      continue;
    }
    let end = at;
    while (end < data.length && ![0x20, 0x09, 0x0a, 0x0d].includes(data[end] as number)) end++;
    fields.push(data.subarray(at, end).toString('latin1'));
    at = end;
  }
  at++; // the single whitespace byte after maxval
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== 'P6' || max !== '255' || !(width > 0) || !(height > 0)) {
    throw invalid('The screen dump is not a binary 8-bit PPM image.');
  }
  const rgb = data.subarray(at, at + width * height * 3);
  if (rgb.length !== width * height * 3) throw invalid('The screen dump is truncated.');
  return { width, height, rgb: Buffer.from(rgb) };
}
