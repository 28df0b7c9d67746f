// EC2 XML responses. An action returns a plain object; arrays become EC2's `<item>` lists,
// booleans 'true'/'false', and null or undefined fields are left out. Text is escaped by the
// builder, and characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates,
// U+FFFE/U+FFFF) become U+FFFD, so no stored value, however it got there, can make a
// response a client cannot parse (issue 13).
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

/** What XML 1.0 cannot carry: its Char production leaves out these code points. */
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `text` with every character XML 1.0 cannot carry replaced by U+FFFD. */
export function xmlText(text: string): string {
  return text.replace(NOT_XML_CHAR, '\ufffd');
}

function shape(value: XmlValue): unknown {
  if (Array.isArray(value)) return { item: value.map(shape) };
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return xmlText(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    out[k] = shape(v);
  }
  return out;
}

export function renderResponse(action: string, requestId: string, body: XmlObject): string {
  const doc = {
    [`${xmlName(action)}Response`]: {
      '@_xmlns': EC2_NAMESPACE,
      requestId,
      ...(shape(body) as object),
    },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

export function renderError(code: string, message: string, requestId: string): string {
  const doc = {
    Response: {
      Errors: { Error: { Code: xmlText(code), Message: xmlText(message) } },
      RequestID: requestId,
    },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

/** The action is an element name: only names from the action table get here, but be sure. */
function xmlName(action: string): string {
  return /^[A-Za-z][A-Za-z0-9]*$/.test(action) ? action : 'Invalid';
}

/** EC2's time format: ISO 8601 in UTC with milliseconds. */
export function ec2Time(ms: number | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(ms).toISOString();
}
