// What the tests of the OpenStack APIs share: the password their users get, a login at the
// Identity API, and python-openstackclient run with an OS_* environment, as users run it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { TestCloud } from './ec2.js';

export const PASSWORD = 'correct horse battery';
export const OPENSTACK = '/usr/bin/openstack';

/** A project-scoped token for `user` (password PASSWORD) in `project`. */
export async function login(identityUrl: string, user: string, project: string): Promise<string> {
  const r = await fetch(`${identityUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password: PASSWORD } },
        },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
  });
  assert.equal(r.status, 201, await r.text());
  return r.headers.get('x-subject-token') as string;
}

/** The OS_* environment of the cloud's admin (password PASSWORD), as an rc file sets it. */
export function adminEnv(t: TestCloud, home = process.env.HOME): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    OS_AUTH_URL: t.cloud.urls?.identity,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: 'admin',
    OS_PASSWORD: PASSWORD,
    OS_PROJECT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: t.region,
  };
}

/** Runs openstackclient; never rejects. */
export function openstack(
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(OPENSTACK, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        out: String(stdout),
        err: String(stderr),
      });
    });
  });
}

/** Runs a Python snippet that uses openstacksdk (Debian's python3-openstacksdk, for the system Python). */
export function openstacksdk(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', ['-c', script], { env, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        out: String(stdout),
        err: String(stderr),
      }),
    );
  });
}
