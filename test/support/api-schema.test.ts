import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertSchema } from './api-schema.js';

const keypair = {
  type: 'object',
  required: ['keypair'],
  properties: {
    keypair: {
      type: 'object',
      required: ['name', 'fingerprint'],
      properties: { name: { type: 'string' }, fingerprint: { type: 'string' } },
    },
  },
};

test('a body that matches its schema passes; one that does not fails naming each problem', () => {
  assertSchema(keypair, { keypair: { name: 'k', fingerprint: 'aa:bb' } }, 'keypair');
  assert.throws(
    () => assertSchema(keypair, { keypair: { name: 7 } }, 'keypair'),
    (err: Error) =>
      /\/keypair\/name must be string/.test(err.message) &&
      /must have required property 'fingerprint'/.test(err.message),
  );
});
