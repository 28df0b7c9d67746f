// Test support: the request parameters the EC2 API model documents for an action, as they go
// on the wire (`Filter.N.Value.N`, `TagSpecification.N.Tag.N.Key`), read from the request
// shapes the AWS SDK for JavaScript is generated from (the model the API reference is made
// from too). EC2 Query names a member by its ec2QueryName, else its capitalised xmlName or
// name, and flattens every list with an index.
import * as sdk from '@aws-sdk/client-ec2';

/** The AWS SDK's schema encoding: a number (simple type; 64 marks a list of them), or an array. */
type Schema = number | readonly unknown[] | (() => Schema);

const LIST = 1;
const STRUCTURE = 3;
const LIST_OF_SIMPLE = 64;

function deref(schema: unknown): { schema: unknown } {
  let s = schema;
  for (;;) {
    if (typeof s === 'function') s = (s as () => Schema)();
    // A member: [schema, traits].
    else if (
      Array.isArray(s) &&
      s.length === 2 &&
      (typeof s[0] === 'function' || typeof s[0] === 'number' || Array.isArray(s[0]))
    )
      s = s[0];
    else return { schema: s };
  }
}

function traitsOf(member: unknown): Record<string, unknown> {
  if (Array.isArray(member) && member.length === 2 && typeof member[1] === 'object')
    return (member[1] ?? {}) as Record<string, unknown>;
  return {};
}

function leaves(member: unknown, prefix: string, depth: number, out: string[]): void {
  const { schema } = deref(member);
  if (typeof schema === 'number') {
    out.push(schema & LIST_OF_SIMPLE ? `${prefix}.N` : prefix);
    return;
  }
  if (!Array.isArray(schema)) {
    out.push(prefix);
    return;
  }
  if (schema[0] === LIST) {
    leaves(schema[4], `${prefix}.N`, depth, out);
    return;
  }
  if (schema[0] !== STRUCTURE) {
    out.push(prefix);
    return;
  }
  if (depth > 8) throw new Error(`the shape at ${prefix} nests too deep`);
  const names = schema[4] as string[];
  const members = schema[5] as unknown[];
  names.forEach((name, i) => {
    const traits = traitsOf(members[i]);
    const query =
      (traits['ec2QueryName'] as string | undefined) ??
      capitalise((traits['xmlName'] as string | undefined) ?? name);
    leaves(members[i], prefix ? `${prefix}.${query}` : query, depth + 1, out);
  });
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Every leaf request parameter of an EC2 action, or undefined if the SDK has no such action. */
export function documentedParameters(action: string): string[] | undefined {
  const shape = (sdk as unknown as Record<string, unknown>)[`${action}Request$`];
  if (shape === undefined) return undefined;
  const out: string[] = [];
  leaves(shape, '', 0, out);
  return out;
}
