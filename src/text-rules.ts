// The rules every stored name, description, tag and token is checked against, in one place, so
// no API edge can let through what another refuses (issue 13). The lengths are the real APIs':
// EC2 tags are 1-128 characters of key and 0-256 of value, a ClientToken at most 64 ASCII
// characters; the Compute API's names 1-255 printable characters (Nova builds its name pattern
// from every Unicode character outside the "C" categories, with no spaces at either end).
// Control characters are refused everywhere: they are not text a person reads, and XML 1.0,
// which EC2 answers in, cannot carry most of them at all.
import { invalid } from './errors.js';

export interface TextRule {
  /** What the value is, as a message names it: 'tag key', 'server name'. */
  what: string;
  /** Fewest characters (Unicode code points); default 0. */
  min?: number;
  /** Most characters (Unicode code points). */
  max: number;
  /** Only printable ASCII (0x20-0x7e), as EC2's ClientToken and key pair names are. */
  ascii?: boolean;
  /** Tabs and line breaks allowed (descriptions); every other control character is refused. */
  lineBreaks?: boolean;
  /** Refuse spaces at either end (the Compute API's names). */
  trimmed?: boolean;
}

/** An EC2 tag key, and the Compute API's server name is the `Name` tag's value. */
export const TAG_KEY: TextRule = { what: 'tag key', min: 1, max: 128 };
export const TAG_VALUE: TextRule = { what: 'tag value', max: 256 };
/** An image's name and description, for both EC2 and the Image API (Glance allows 255). */
export const IMAGE_NAME: TextRule = { what: 'image name', min: 1, max: 255 };
export const IMAGE_DESCRIPTION: TextRule = {
  what: 'image description',
  max: 255,
  lineBreaks: true,
};
/** A project's description (`stratus manage project create --description`), shown by Identity. */
export const PROJECT_DESCRIPTION: TextRule = {
  what: 'project description',
  max: 255,
  lineBreaks: true,
};
/** RunInstances' idempotency token. */
export const CLIENT_TOKEN: TextRule = { what: 'ClientToken', min: 1, max: 64, ascii: true };
/** A Compute API server name (kept as the `Name` tag, so also within TAG_VALUE). */
export const SERVER_NAME: TextRule = { what: 'server name', min: 1, max: 255, trimmed: true };
/**
 * A server group's name (the Compute API's 1-255 characters) and an EC2 placement group's
 * (up to 255 ASCII characters: the EC2 edge adds `ascii`).
 */
export const SERVER_GROUP_NAME: TextRule = { what: 'server group name', min: 1, max: 255 };

/**
 * The first character that no rule allows anywhere: C0 controls, DEL, C1 controls, a lone
 * UTF-16 surrogate (not a character at all) and the non-characters U+FFFE and U+FFFF. Tab and
 * line breaks are reported too; callers that allow them skip them.
 */
const CONTROL =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;
const CONTROL_NO_BREAKS =
  // eslint-disable-next-line no-control-regex -- as above
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

/** Why `text` breaks `rule`, as a sentence, or undefined when it does not. */
export function textProblem(text: string, rule: TextRule): string | undefined {
  const bad = (rule.lineBreaks ? CONTROL_NO_BREAKS : CONTROL).exec(text);
  if (bad) {
    const code = (bad[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
    const position = [...text.slice(0, bad.index)].length + 1;
    return `The ${rule.what} must not contain control characters; it has U+${code} at character ${position}.`;
  }
  if (rule.ascii && !/^[\x20-\x7e]*$/.test(text)) {
    return `The ${rule.what} must be printable ASCII characters.`;
  }
  const length = [...text].length;
  const min = rule.min ?? 0;
  if (length < min || length > rule.max) {
    return min === 0
      ? `The ${rule.what} must be at most ${rule.max} characters long.`
      : `The ${rule.what} must be ${min} to ${rule.max} characters long.`;
  }
  if (rule.trimmed && text.trim() !== text) {
    return `The ${rule.what} must not start or end with spaces.`;
  }
  return undefined;
}

/**
 * Throws `invalid` of resource 'parameter' (EC2: InvalidParameterValue; the OpenStack APIs:
 * 400) when `text` breaks `rule`; `id` names the parameter as the caller wrote it. Callers
 * that answer with a code of their own (an image name) use `textProblem`.
 */
export function checkText(text: string, rule: TextRule, id: string = rule.what): string {
  const problem = textProblem(text, rule);
  if (problem !== undefined) throw invalid(problem, { resource: 'parameter', id });
  return text;
}

/**
 * EC2's rules for tags: key and value as above, and keys starting with `aws:` (in any case)
 * reserved, as AWS reserves them for its own tooling.
 */
export function checkTags(tags: readonly { key: string; value: string }[]): void {
  for (const t of tags) {
    checkText(t.key, TAG_KEY, 'Tag.Key');
    checkText(t.value, TAG_VALUE, 'Tag.Value');
    if (t.key.toLowerCase().startsWith('aws:')) {
      throw invalid(`Tag keys starting with 'aws:' are reserved for internal use: ${t.key}`, {
        resource: 'parameter',
        id: 'Tag.Key',
      });
    }
  }
}
