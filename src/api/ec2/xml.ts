// EC2 XML responses. An action returns a plain object; arrays become EC2's `<item>` lists,
// booleans 'true'/'false', and null or undefined fields are left out.
import { XMLBuilder } from 'fast-xml-parser';

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type XmlValue = string | number | boolean | null | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [key: string]: XmlValue;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
});

function shape(value: XmlValue): unknown {
  if (Array.isArray(value)) return { item: value.map(shape) };
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    out[k] = shape(v);
  }
  return out;
}

export function renderResponse(action: string, requestId: string, body: XmlObject): string {
  const doc = {
    [`${action}Response`]: { '@_xmlns': EC2_NAMESPACE, requestId, ...(shape(body) as object) },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

export function renderError(code: string, message: string, requestId: string): string {
  const doc = {
    Response: { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

/** EC2's time format: ISO 8601 in UTC with milliseconds. */
export function ec2Time(ms: number | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(ms).toISOString();
}
