// Schemas of Identity v3 token bodies (the Identity API reference, "Password authentication
// with scoped authorization": token.methods, user, audit_ids, issued_at, expires_at, and for a
// scoped token its roles and catalog with exactly one of project, domain or system).
import type { AnySchema } from 'ajv';

const ref = {
  type: 'object',
  required: ['id', 'name'],
  properties: { id: { type: 'string' }, name: { type: 'string' } },
};
const time = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}' };

const common = {
  methods: { type: 'array', items: { type: 'string' }, minItems: 1 },
  user: {
    type: 'object',
    required: ['id', 'name', 'domain'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      domain: ref,
      password_expires_at: { type: ['string', 'null'] },
    },
  },
  audit_ids: { type: 'array', items: { type: 'string' }, minItems: 1 },
  issued_at: time,
  expires_at: time,
  roles: { type: 'array', items: ref, minItems: 1 },
  catalog: {
    type: 'array',
    items: {
      type: 'object',
      required: ['type', 'endpoints'],
      properties: { type: { type: 'string' }, endpoints: { type: 'array' } },
    },
  },
};

const token = (scope: Record<string, unknown>, key: string): AnySchema => ({
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: {
    token: {
      type: 'object',
      required: ['methods', 'user', 'audit_ids', 'issued_at', 'expires_at', 'roles', key],
      additionalProperties: false,
      properties: { ...common, ...scope },
    },
  },
});

/** A domain-scoped token: `token.domain` with its id and name. */
export const DOMAIN_TOKEN = token({ domain: ref }, 'domain');

/** A system-scoped token: `token.system` is `{"all": true}`. */
export const SYSTEM_TOKEN = token(
  {
    system: {
      type: 'object',
      required: ['all'],
      additionalProperties: false,
      properties: { all: { const: true } },
    },
  },
  'system',
);
