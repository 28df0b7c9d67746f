// What an LDAP identity domain is configured with (`[identity.ldap]`), and the parsing of its
// group-to-role mapping.
import { StratusError } from '../../errors.js';

/** A role that members of a directory group hold in a project. */
export interface GroupRole {
  /** The group's name or id in the directory. */
  group: string;
  /** The project's name or id (in SQL). */
  project: string;
  role: string;
}

export interface LdapConfig {
  /** `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`. */
  url: string;
  /** Upgrade an ldap:// connection with StartTLS before binding. */
  startTls: boolean;
  /** PEM bundle of the CAs the directory's certificate is checked against; the system's if unset. */
  caFile: string | undefined;
  /** The service account the cloud searches with; anonymous when unset. */
  bindDn: string | undefined;
  bindPassword: string | undefined;
  userTree: string;
  userObjectClass: string;
  userIdAttribute: string;
  userNameAttribute: string;
  userMailAttribute: string;
  /** The attribute that says whether a user is enabled; every user is when unset. */
  userEnabledAttribute: string | undefined;
  /** When non-zero, the enabled attribute is a number and these bits set mean disabled. */
  userEnabledMask: number;
  /** Reads the enabled attribute the other way round. */
  userEnabledInvert: boolean;
  groupTree: string;
  groupObjectClass: string;
  groupIdAttribute: string;
  groupNameAttribute: string;
  /** The group attribute listing its members' DNs (`member`, `uniqueMember`). */
  groupMemberAttribute: string;
  /** The identity domain these users belong to: its id and its name. */
  domain: string;
  /** Roles held through group membership, set again at each login. */
  groupRoles: readonly GroupRole[];
  /** How long a connection, bind or search may take before the directory counts as down. */
  timeoutMs: number;
}

/**
 * Parses `GROUP=PROJECT:ROLE[,GROUP=PROJECT:ROLE...]`; an empty string is no mapping.
 * Throws an `invalid` config error naming the bad entry.
 */
export function parseGroupRoles(text: string, key: string): GroupRole[] {
  const out: GroupRole[] = [];
  for (const entry of text.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const m = /^([^=]+)=([^:]+):([A-Za-z0-9_-]+)$/.exec(entry);
    if (!m) {
      throw new StratusError(
        'invalid',
        `Invalid value for ${key}: '${entry}' is not GROUP=PROJECT:ROLE.`,
        { resource: 'config', id: key },
      );
    }
    out.push({
      group: (m[1] as string).trim(),
      project: (m[2] as string).trim(),
      role: m[3] as string,
    });
  }
  return out;
}
