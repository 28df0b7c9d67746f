// What the Identity API shows: the version document, tokens, the catalog and projects, in
// the shapes OpenStack's clients read.
import { createHash } from 'node:crypto';
import type { ProjectRow, UserRow } from '../../db/index.js';
import type { CatalogEntry, TokenInfo } from '../../identity/index.js';

export type { CatalogEntry };

/** The one domain. */
export const DOMAIN = { id: 'default', name: 'Default' } as const;

/** Service names clients show next to the types. */
const SERVICE_NAMES: Readonly<Record<string, string>> = {
  identity: 'keystone',
  compute: 'nova',
  image: 'glance',
  ec2: 'ec2',
};

/** A stable 32-hex-digit id for something that has a name but no row of its own. */
const stableId = (kind: string, ...parts: string[]) =>
  createHash('sha256')
    .update([kind, ...parts].join('\0'))
    .digest('hex')
    .slice(0, 32);

/** Identity's time format: ISO 8601 with microseconds. */
const time = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

export function versionView(base: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${base}/v3/` }],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
    ],
  };
}

export function catalogView(entries: readonly CatalogEntry[]) {
  return entries.map((e) => ({
    id: stableId('service', e.type),
    type: e.type,
    name: SERVICE_NAMES[e.type] ?? e.type,
    endpoints: e.endpoints.map((ep) => ({
      id: stableId('endpoint', e.type, ep.interface, ep.region),
      interface: ep.interface,
      region: ep.region,
      region_id: ep.region,
      url: ep.url,
    })),
  }));
}

export function tokenView(t: TokenInfo, catalog?: readonly CatalogEntry[]) {
  return {
    methods: t.methods,
    user: {
      id: t.user.id,
      name: t.user.name,
      domain: t.domain ?? DOMAIN,
      password_expires_at: t.passwordExpiresAt ? time(t.passwordExpiresAt) : null,
    },
    audit_ids: [t.auditId],
    issued_at: time(t.issuedAt),
    expires_at: time(t.expiresAt),
    ...(t.project
      ? {
          project: { id: t.project.id, name: t.project.name, domain: DOMAIN },
          is_domain: false,
          roles: t.roles.map((r) => ({ id: stableId('role', r), name: r })),
        }
      : {}),
    ...(catalog ? { catalog: catalogView(catalog) } : {}),
  };
}

export function projectView(p: ProjectRow, base: string) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    enabled: p.enabled === 1,
    domain_id: DOMAIN.id,
    parent_id: DOMAIN.id,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${base}/v3/projects/${p.id}` },
  };
}

export function userView(u: UserRow, base: string) {
  return {
    id: u.id,
    name: u.name,
    domain_id: DOMAIN.id,
    enabled: u.enabled === 1,
    password_expires_at: null,
    options: {},
    links: { self: `${base}/v3/users/${u.id}` },
  };
}
