// `stratus manage identity check`: whether the LDAP identity domain's directory can be
// reached and searched, one line per step (name lookup, connection, TLS, bind, user tree,
// group tree) saying what was found or what failed. Exit status 1 when a step failed.
import type { Command } from 'commander';
import { StratusError } from '../errors.js';
import { checkLdap } from '../identity/index.js';
import { configFrom } from './config-options.js';
import { printRows, type Format } from './output.js';

type Leaf = (parent: Command, name: string, description: string) => Command;

export function addIdentityCheckCommand(manage: Command, leaf: Leaf): void {
  const identity = manage.command('identity').description('Identity back-ends.');
  const check = leaf(
    identity,
    'check',
    'Check the LDAP identity domain: look up the host, connect (with TLS), bind, and count the users and groups found.',
  );
  check.action(async () => {
    const config = configFrom(check);
    const format = (check.optsWithGlobals() as { format?: Format }).format ?? 'table';
    const ldap = config.identity.ldap;
    if (!ldap) {
      throw new StratusError(
        'invalid',
        'No LDAP identity domain is configured: set identity.ldap.url (--ldap-url) and identity.ldap.userTree (--ldap-user-tree).',
        { resource: 'config', id: 'identity.ldap.url' },
      );
    }
    const steps = await checkLdap(ldap);
    printRows(
      format,
      steps.map((s) => ({ step: s.step, result: s.ok ? 'ok' : 'FAILED', detail: s.detail })),
      ['step', 'result', 'detail'],
    );
    const failed = steps.find((s) => !s.ok);
    if (failed) {
      throw new StratusError(
        'unavailable',
        `The LDAP directory of domain '${ldap.domain}' failed the ${failed.step} step.`,
        { resource: 'identity', id: ldap.domain },
      );
    }
  });
}
