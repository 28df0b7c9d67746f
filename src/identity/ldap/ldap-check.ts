// `stratus manage identity check`: walks the way to the directory one step at a time (name
// lookup, connection and TLS, service bind, user tree, group tree) and says for each what it
// found or why it failed, so an operator sees at once which part of the set-up is wrong.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { InvalidCredentialsError, NoSuchObjectError, ResultCodeError, type Client } from 'ldapts';
import type { LdapConfig } from './ldap-config.js';
import { describeLdapError, LdapDirectory } from './ldap-directory.js';

export type LdapCheckStepName = 'dns' | 'connect' | 'tls' | 'bind' | 'users' | 'groups';

export interface LdapCheckStep {
  step: LdapCheckStepName;
  ok: boolean;
  /** What was found, or why it failed: one line. */
  detail: string;
}

const TLS_CODES = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|HOSTNAME|ALTNAME|EPROTO/i;

function isTlsError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return TLS_CODES.test(String(e.code ?? '')) || TLS_CODES.test(String(e.message ?? ''));
}

/** Runs the steps in order, stopping at the first that fails (later ones would fail too). */
export async function checkLdap(config: LdapConfig): Promise<LdapCheckStep[]> {
  const steps: LdapCheckStep[] = [];
  const ok = (step: LdapCheckStepName, detail: string) => steps.push({ step, ok: true, detail });
  const fail = (step: LdapCheckStepName, detail: string) => {
    steps.push({ step, ok: false, detail });
    return steps;
  };
  const url = new URL(config.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'ldaps:';
  const port = Number(url.port) || (secure ? 636 : 389);

  if (net.isIP(host)) ok('dns', `${host} is an address; nothing to look up.`);
  else {
    try {
      const found = await lookup(host, { all: true });
      ok('dns', `${host} is ${found.map((a) => a.address).join(', ')}.`);
    } catch (err) {
      return fail('dns', `${host} cannot be resolved: ${describeLdapError(err)}.`);
    }
  }

  const directory = new LdapDirectory(config);
  let client: Client | undefined;
  /** A failure before the directory answered anything: connection or TLS. */
  const unreached = (err: unknown) => {
    if ((secure || config.startTls) && isTlsError(err)) {
      ok('connect', `${host}:${port} accepts connections.`);
      return fail(
        'tls',
        `TLS with ${host}:${port} failed${config.caFile ? ` (CA file ${config.caFile})` : ''}: ${describeLdapError(err)}.`,
      );
    }
    return fail('connect', `Cannot connect to ${host}:${port}: ${describeLdapError(err)}.`);
  };
  try {
    try {
      // ldapts connects on the first operation: StartTLS, or else the bind below.
      client = await directory.connect();
    } catch (err) {
      return unreached(err);
    }
    let bindError: unknown;
    try {
      await directory.bindService(client);
      if (!config.bindDn) await client.bind('', '');
    } catch (err) {
      if (!(err instanceof ResultCodeError)) return unreached(err);
      bindError = err;
    }
    ok('connect', `${host}:${port} accepts connections.`);
    if (secure || config.startTls) {
      ok('tls', `${secure ? 'ldaps' : 'StartTLS'}: the certificate is trusted.`);
    } else {
      ok('tls', 'Not used (plain ldap:// without StartTLS).');
    }
    if (bindError !== undefined) {
      const why =
        bindError instanceof InvalidCredentialsError
          ? 'wrong DN or password'
          : describeLdapError(bindError);
      return fail('bind', `Cannot bind as ${config.bindDn ?? 'anonymous'}: ${why}.`);
    }
    ok('bind', config.bindDn ? `Bound as ${config.bindDn}.` : 'Bound anonymously.');

    const tree = async (
      step: 'users' | 'groups',
      base: string,
      search: () => Promise<unknown[]>,
    ): Promise<boolean> => {
      try {
        const n = (await search()).length;
        ok(step, `${n} ${step} under ${base}.`);
        return true;
      } catch (err) {
        const why = err instanceof NoSuchObjectError ? 'no such entry' : describeLdapError(err);
        fail(step, `Cannot search ${base}: ${why}.`);
        return false;
      }
    };
    const c = client;
    if (!(await tree('users', config.userTree, () => directory.searchUsers(c)))) return steps;
    if (config.groupTree) await tree('groups', config.groupTree, () => directory.searchGroups(c));
    else ok('groups', 'No group tree configured.');
    return steps;
  } finally {
    await client?.unbind().catch(() => undefined);
  }
}
