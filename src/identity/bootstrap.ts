// First-start set-up of a cloud: the admin project and user with EC2 credentials. Safe to run
// on every start: it creates only what is missing.
import fs from 'node:fs';
import path from 'node:path';
import type { Ec2CredentialRow, ProjectRow, UserRow } from '../db/index.js';
import { isUniqueViolation } from '../db/index.js';
import { StratusError } from '../errors.js';
import type { IdentityService } from './identity-service.js';
import { generatePassword } from './password.js';

export interface AdminIdentity {
  user: UserRow;
  project: ProjectRow;
  credential: Ec2CredentialRow;
  /** The admin's password as first generated; null if that record is gone. */
  password: string | null;
  /** True when this call created the admin. */
  created: boolean;
}

const ADMIN = 'admin';

async function getOrCreate<T>(
  find: () => Promise<T | undefined>,
  create: () => Promise<T>,
): Promise<[T, boolean]> {
  const found = await find();
  if (found) return [found, false];
  try {
    return [await create(), true];
  } catch (err) {
    // Another process created it first.
    if ((err instanceof StratusError && err.kind === 'already_exists') || isUniqueViolation(err)) {
      const again = await find();
      if (again) return [again, false];
    }
    throw err;
  }
}

export async function ensureAdmin(
  identity: IdentityService,
  stateDir: string,
): Promise<AdminIdentity> {
  const secretFile = path.join(stateDir, 'admin-password');
  let password: string | null = fs.existsSync(secretFile)
    ? fs.readFileSync(secretFile, 'utf8').trim()
    : null;
  const [project] = await getOrCreate(
    () => identity.findProject(ADMIN, 'default'),
    () => identity.createProject({ name: ADMIN, description: 'Cloud administrators' }),
  );
  const [user, createdUser] = await getOrCreate(
    () => identity.findUser(ADMIN, 'default'),
    async () => {
      password = generatePassword();
      fs.mkdirSync(stateDir, { recursive: true });
      fs.writeFileSync(secretFile, `${password}\n`, { mode: 0o600 });
      return identity.createUser({ name: ADMIN, password, generated: true });
    },
  );
  await identity.grantRole(user.id, project.id, 'admin');
  // Admin on the system too, as Keystone's bootstrap gives it: system-scoped tokens (issue 14).
  await identity.directory.grant(
    { type: 'user', id: user.id },
    { type: 'system', id: 'all' },
    'admin',
  );
  const existing = await identity.listEc2Credentials({ user: user.id, project: project.id });
  const credential = existing[0] ?? (await identity.createEc2Credential(user.id, project.id));
  return { user, project, credential, password, created: createdUser };
}
