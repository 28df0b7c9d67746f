// Reads users and groups from an LDAP directory with ldapts, and checks a user's password by
// binding as them. Each operation uses a connection of its own: connect, StartTLS when asked,
// bind as the service account, work, unbind. A directory that cannot be reached, refuses the
// service bind or lacks a configured tree is `unavailable`: the caller answers 503, not 401.
import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import {
  AndFilter,
  Client,
  EqualityFilter,
  InvalidCredentialsError,
  SizeLimitExceededError,
  type Entry,
  type Filter,
} from 'ldapts';
import { StratusError } from '../../errors.js';
import type { LdapConfig } from './ldap-config.js';

/** A user as the directory holds it. */
export interface DirectoryUser {
  dn: string;
  /** The value of the user id attribute. */
  id: string;
  name: string;
  mail: string | undefined;
  enabled: boolean;
}

export interface DirectoryGroup {
  dn: string;
  id: string;
  name: string;
}

/** How a user is looked up: by its id attribute or its name attribute. */
export type UserKey = { id: string } | { name: string };

function first(entry: Entry, attribute: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const v = key === undefined ? undefined : entry[key];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return undefined;
  return Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/** Whether an error is the network's or TLS's rather than the directory's answer. */
export function describeLdapError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export class LdapDirectory {
  constructor(private readonly config: LdapConfig) {}

  get domain(): string {
    return this.config.domain;
  }

  /** TLS options for ldaps and StartTLS: the configured CA bundle, or the system's. */
  tlsOptions(): ConnectionOptions {
    const ca = this.config.caFile ? fs.readFileSync(this.config.caFile) : undefined;
    return ca ? { ca } : {};
  }

  /** A connected client, upgraded with StartTLS when configured; not yet bound. */
  async connect(): Promise<Client> {
    const client = new Client({
      url: this.config.url,
      timeout: this.config.timeoutMs,
      connectTimeout: this.config.timeoutMs,
      tlsOptions: this.config.url.startsWith('ldaps:') ? this.tlsOptions() : undefined,
    });
    if (this.config.startTls) {
      try {
        await client.startTLS(this.tlsOptions());
      } catch (err) {
        await client.unbind().catch(() => undefined);
        throw err;
      }
    }
    return client;
  }

  /** Binds as the service account (anonymous without a bind DN). */
  async bindService(client: Client): Promise<void> {
    if (this.config.bindDn) await client.bind(this.config.bindDn, this.config.bindPassword ?? '');
  }

  /** Runs `work` on a service-bound connection; every failure becomes `unavailable`. */
  async #session<T>(what: string, work: (client: Client) => Promise<T>): Promise<T> {
    let client: Client | undefined;
    try {
      client = await this.connect();
      await this.bindService(client);
      return await work(client);
    } catch (err) {
      if (err instanceof StratusError) throw err;
      throw new StratusError(
        'unavailable',
        `The LDAP directory of domain '${this.config.domain}' could not ${what}: ${describeLdapError(err)}.`,
        { resource: 'identity', id: this.config.domain, cause: err },
      );
    } finally {
      await client?.unbind().catch(() => undefined);
    }
  }

  #userFilter(extra?: Filter): Filter {
    const filters: Filter[] = [
      new EqualityFilter({ attribute: 'objectClass', value: this.config.userObjectClass }),
    ];
    if (extra) filters.push(extra);
    return new AndFilter({ filters });
  }

  #groupFilter(extra?: Filter): Filter {
    const filters: Filter[] = [
      new EqualityFilter({ attribute: 'objectClass', value: this.config.groupObjectClass }),
    ];
    if (extra) filters.push(extra);
    return new AndFilter({ filters });
  }

  #toUser(entry: Entry): DirectoryUser | undefined {
    const c = this.config;
    const id = first(entry, c.userIdAttribute);
    const name = first(entry, c.userNameAttribute);
    if (!id || !name) return undefined;
    let enabled = true;
    if (c.userEnabledAttribute) {
      const raw = first(entry, c.userEnabledAttribute);
      if (raw !== undefined) {
        enabled =
          c.userEnabledMask > 0
            ? (Number(raw) & c.userEnabledMask) !== c.userEnabledMask
            : ['true', '1', 'yes'].includes(raw.trim().toLowerCase());
        if (c.userEnabledInvert) enabled = !enabled;
      }
    }
    return { dn: entry.dn, id, name, mail: first(entry, c.userMailAttribute), enabled };
  }

  #toGroup(entry: Entry): DirectoryGroup | undefined {
    const id = first(entry, this.config.groupIdAttribute);
    const name = first(entry, this.config.groupNameAttribute);
    return id && name ? { dn: entry.dn, id, name } : undefined;
  }

  #attributes(): string[] {
    const c = this.config;
    return [
      c.userIdAttribute,
      c.userNameAttribute,
      c.userMailAttribute,
      ...(c.userEnabledAttribute ? [c.userEnabledAttribute] : []),
    ];
  }

  async #findUser(client: Client, key: UserKey): Promise<DirectoryUser | undefined> {
    const attribute = 'id' in key ? this.config.userIdAttribute : this.config.userNameAttribute;
    const value = 'id' in key ? key.id : key.name;
    let searchEntries: Entry[];
    try {
      ({ searchEntries } = await client.search(this.config.userTree, {
        scope: 'sub',
        filter: this.#userFilter(new EqualityFilter({ attribute, value })),
        attributes: this.#attributes(),
        sizeLimit: 2,
      }));
    } catch (err) {
      // More entries than the limit: ambiguous, like two.
      if (err instanceof SizeLimitExceededError) return undefined;
      throw err;
    }
    // Two entries with one name cannot log in: which one would it be?
    if (searchEntries.length !== 1) return undefined;
    return this.#toUser(searchEntries[0] as Entry);
  }

  /** The user with this id or name; undefined when there is none (or more than one). */
  findUser(key: UserKey): Promise<DirectoryUser | undefined> {
    return this.#session('be searched', (client) => this.#findUser(client, key));
  }

  /**
   * The user if `password` is theirs: found with the service account, then bound as. An
   * unknown user and a wrong password both answer undefined. A disabled user is answered as
   * found (`enabled` false) without its password being tried: the caller refuses it alike.
   */
  async authenticate(key: UserKey, password: string): Promise<DirectoryUser | undefined> {
    // An empty password would be an anonymous bind, which most directories accept.
    if (password === '') return undefined;
    return this.#session('check a password', async (client) => {
      const user = await this.#findUser(client, key);
      if (!user || !user.enabled) return user;
      try {
        await client.bind(user.dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) return undefined;
        throw err;
      }
      return user;
    });
  }

  /** The groups that list the user as a member. */
  groupsOf(user: DirectoryUser): Promise<DirectoryGroup[]> {
    if (!this.config.groupTree) return Promise.resolve([]);
    return this.#session('be searched for groups', async (client) => {
      const { searchEntries } = await client.search(this.config.groupTree, {
        scope: 'sub',
        filter: this.#groupFilter(
          new EqualityFilter({ attribute: this.config.groupMemberAttribute, value: user.dn }),
        ),
        attributes: [this.config.groupIdAttribute, this.config.groupNameAttribute],
      });
      return searchEntries.flatMap((e) => this.#toGroup(e) ?? []);
    });
  }

  listUsers(): Promise<DirectoryUser[]> {
    return this.#session('be searched', (client) => this.searchUsers(client));
  }

  listGroups(): Promise<DirectoryGroup[]> {
    if (!this.config.groupTree) return Promise.resolve([]);
    return this.#session('be searched for groups', (client) => this.searchGroups(client));
  }

  /** Every user under the user tree, on a connection the caller bound. */
  async searchUsers(client: Client): Promise<DirectoryUser[]> {
    const { searchEntries } = await client.search(this.config.userTree, {
      scope: 'sub',
      filter: this.#userFilter(),
      attributes: this.#attributes(),
      paged: true,
    });
    return searchEntries.flatMap((e) => this.#toUser(e) ?? []);
  }

  /** Every group under the group tree, on a connection the caller bound. */
  async searchGroups(client: Client): Promise<DirectoryGroup[]> {
    const { searchEntries } = await client.search(this.config.groupTree, {
      scope: 'sub',
      filter: this.#groupFilter(),
      attributes: [this.config.groupIdAttribute, this.config.groupNameAttribute],
      paged: true,
    });
    return searchEntries.flatMap((e) => this.#toGroup(e) ?? []);
  }
}
