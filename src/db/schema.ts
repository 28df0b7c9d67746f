// Table types of the database, as the code sees them (camelCase; columns are snake_case).
// Times are integers: milliseconds since the epoch, so every database compares them as numbers.
import type { Generated, Kysely, Selectable } from 'kysely';

export interface ProjectsTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  createdAt: number;
}

export interface UsersTable {
  id: string;
  name: string;
  /** scrypt hash `scrypt$N$r$p$salt$hash`, or null for users that cannot log in with a password. */
  passwordHash: string | null;
  enabled: number;
  createdAt: number;
}

export interface RoleAssignmentsTable {
  userId: string;
  projectId: string;
  role: string;
  createdAt: number;
}

export interface Ec2CredentialsTable {
  accessKey: string;
  secretKey: string;
  userId: string;
  projectId: string;
  createdAt: number;
}

export interface ServicesTable {
  id: string;
  host: string;
  binary: string;
  topic: string;
  disabled: number;
  disabledReason: string | null;
  reportCount: number;
  heartbeatAt: number;
  createdAt: number;
}

/** Where each API listens, as the API service last registered it (the Identity catalog). */
export interface EndpointsTable {
  /** 'ec2', 'compute', 'identity', 'image', ... */
  serviceType: string;
  interface: 'public' | 'internal' | 'admin';
  region: string;
  url: string;
  updatedAt: number;
}

export interface Schema {
  projects: ProjectsTable;
  users: UsersTable;
  roleAssignments: RoleAssignmentsTable;
  ec2Credentials: Ec2CredentialsTable;
  services: ServicesTable;
  endpoints: EndpointsTable;
}

export type Db = Kysely<Schema>;
export type ProjectRow = Selectable<ProjectsTable>;
export type UserRow = Selectable<UsersTable>;
export type RoleAssignmentRow = Selectable<RoleAssignmentsTable>;
export type Ec2CredentialRow = Selectable<Ec2CredentialsTable>;
export type ServiceRow = Selectable<ServicesTable>;
export type EndpointRow = Selectable<EndpointsTable>;
export type { Generated };
