// What the Identity API shows: the version document, tokens, the catalog and projects, in
// the shapes OpenStack's clients read.
import { createHash } from 'node:crypto';
import type {
  ApplicationCredentialRow,
  DomainRow,
  Ec2CredentialRow,
  GroupRow,
  ProjectRow,
  RoleRow,
  UserRow,
} from '../../db/index.js';
import type { CatalogEntry, CredentialRecord, TokenInfo } from '../../identity/index.js';

export type { CatalogEntry };

/** The domain every cloud has. */
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
export const time = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

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
      domain: t.userDomain,
      password_expires_at: t.passwordExpiresAt ? time(t.passwordExpiresAt) : null,
    },
    audit_ids: [t.auditId],
    issued_at: time(t.issuedAt),
    expires_at: time(t.expiresAt),
    ...(t.project
      ? {
          project: { id: t.project.id, name: t.project.name, domain: t.projectDomain ?? DOMAIN },
          is_domain: false,
          roles: t.roleRefs.map((r) => ({ id: r.id, name: r.name })),
        }
      : {}),
    // Keystone: a domain-scoped token names its domain, a system-scoped one `{"all": true}`,
    // each with the roles the user holds there.
    ...(t.domain
      ? { domain: t.domain, roles: t.roleRefs.map((r) => ({ id: r.id, name: r.name })) }
      : {}),
    ...(t.system
      ? { system: { all: true }, roles: t.roleRefs.map((r) => ({ id: r.id, name: r.name })) }
      : {}),
    ...(t.applicationCredential
      ? {
          application_credential: {
            id: t.applicationCredential.id,
            name: t.applicationCredential.name,
            restricted: t.applicationCredential.restricted,
          },
        }
      : {}),
    ...(catalog ? { catalog: catalogView(catalog) } : {}),
  };
}

export function projectView(p: ProjectRow, base: string, tags: readonly string[] = []) {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    enabled: p.enabled === 1,
    domain_id: p.domainId,
    parent_id: p.domainId,
    is_domain: false,
    tags: [...tags],
    options: {},
    links: { self: `${base}/v3/projects/${p.id}` },
  };
}

export function userView(u: UserRow, base: string) {
  return {
    id: u.id,
    name: u.name,
    domain_id: u.domainId,
    enabled: u.enabled === 1,
    password_expires_at: null,
    options: {},
    ...(u.defaultProjectId ? { default_project_id: u.defaultProjectId } : {}),
    ...(u.description ? { description: u.description } : {}),
    ...(u.email ? { email: u.email } : {}),
    links: { self: `${base}/v3/users/${u.id}` },
  };
}

export function domainView(d: DomainRow, base: string) {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    enabled: d.enabled === 1,
    tags: [],
    options: {},
    links: { self: `${base}/v3/domains/${d.id}` },
  };
}

export function groupView(g: GroupRow, base: string) {
  return {
    id: g.id,
    name: g.name,
    domain_id: g.domainId,
    description: g.description,
    links: { self: `${base}/v3/groups/${g.id}` },
  };
}

export function roleView(r: RoleRow, base: string) {
  return {
    id: r.id,
    name: r.name,
    domain_id: null,
    description: r.description,
    options: {},
    links: { self: `${base}/v3/roles/${r.id}` },
  };
}

/** A role as an inference names it: id, name and link. */
export function roleRef(r: RoleRow, base: string) {
  return { id: r.id, name: r.name, links: { self: `${base}/v3/roles/${r.id}` } };
}

export function credentialView(c: CredentialRecord, base: string) {
  return {
    id: c.id,
    user_id: c.userId,
    project_id: c.projectId,
    type: c.type,
    blob: c.blob,
    links: { self: `${base}/v3/credentials/${c.id}` },
  };
}

/** An EC2 credential as the OS-EC2 extension shows it (the secret included, as Keystone does). */
export function ec2View(c: Ec2CredentialRow, base: string) {
  return {
    user_id: c.userId,
    tenant_id: c.projectId,
    access: c.accessKey,
    secret: c.secretKey,
    trust_id: null,
    links: { self: `${base}/v3/users/${c.userId}/credentials/OS-EC2/${c.accessKey}` },
  };
}

export function applicationCredentialView(
  c: ApplicationCredentialRow,
  roles: readonly RoleRow[],
  base: string,
  secret?: string,
) {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    user_id: c.userId,
    project_id: c.projectId,
    roles: roles.map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    expires_at: c.expiresAt === null ? null : time(c.expiresAt),
    unrestricted: c.unrestricted === 1,
    access_rules: [],
    ...(secret !== undefined ? { secret } : {}),
    links: { self: `${base}/v3/users/${c.userId}/application_credentials/${c.id}` },
  };
}
