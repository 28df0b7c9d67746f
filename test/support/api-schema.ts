// Checks API responses against JSON schemas written from the published API references (the
// Compute, Image, Identity ... references document each response body field by field). Each
// area keeps its schemas in test/support/schemas/<area>.ts; a test asserts a body with
// `assertSchema(schema, body, 'GET /servers/{id} at 2.93')`, and a mismatch fails with every
// violation listed, so a missing or mistyped field reads as what the reference says it must be.
import assert from 'node:assert/strict';
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

export function assertSchema(schema: AnySchema, body: unknown, what: string): void {
  const key = schema as object;
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  if (validate(body)) return;
  const problems = (validate.errors ?? [])
    .map((e) => `  ${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
  assert.fail(
    `${what}: the response does not match its schema:\n${problems}\n${JSON.stringify(body)}`,
  );
}
