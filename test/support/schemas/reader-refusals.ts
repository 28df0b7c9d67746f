// Schemas of the refusals a caller that may only read gets (issue 14): the Compute API's fault
// (the Compute API reference, "Faults": one member named for the fault, with `code` and
// `message`) and the Image API's error document (`error` with `code`, `title`, `message`).
import type { AnySchema } from 'ajv';

const message = { type: 'string', minLength: 1 };

export const COMPUTE_FAULT: AnySchema = {
  type: 'object',
  required: ['forbidden'],
  additionalProperties: false,
  properties: {
    forbidden: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { const: 403 }, message },
    },
  },
};

export const IMAGE_ERROR: AnySchema = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'title', 'message'],
      additionalProperties: false,
      properties: { code: { const: 403 }, title: { const: 'Forbidden' }, message },
    },
  },
};
