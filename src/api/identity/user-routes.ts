// Identity v3 users (with the user's own password change) and groups with their members.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { UserRow } from '../../db/index.js';
import { StratusError } from '../../errors.js';
import {
  base,
  bodyObject,
  bool,
  caller,
  checkId,
  checkInDomain,
  forbidden,
  isAdmin,
  links,
  queryOf,
  requireAdmin,
  requireDomainAccess,
  requireSelfOrAdmin,
  str,
  type RouteContext,
} from './route-context.js';
import { groupView, userView } from './views.js';

type Id = { Params: { id: string } };
type GroupUser = { Params: { id: string; userId: string } };

export function addUserRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { identity } = ctx;
  const dir = identity.directory;

  const userList = (request: FastifyRequest, rows: UserRow[], path: string) => {
    const q = queryOf(request);
    const shown = rows.filter(
      (u) =>
        (q.name === undefined || u.name === q.name) &&
        (q.domain_id === undefined || u.domainId === q.domain_id) &&
        (q.enabled === undefined || (u.enabled === 1) === (q.enabled.toLowerCase() !== 'false')),
    );
    return {
      users: shown.map((u) => userView(u, base(request))),
      links: links(base(request), path),
    };
  };
  /**
   * Every user the API shows: SQL users, and for a domain backed by an LDAP directory the
   * directory's users (issue 14), read from it at each call (`domainId`: one domain only).
   */
  const allUsers = async (domainId?: string): Promise<UserRow[]> => {
    const domains = (await dir.listDomains()).filter(
      (d) => domainId === undefined || d.id === domainId,
    );
    const ldap = domains.flatMap((d) => ctx.tokens.directoryFor(d.id) ?? []);
    const sqlRows = (await identity.listUsers()).filter(
      (u) =>
        (domainId === undefined || u.domainId === domainId) && !ctx.tokens.directoryFor(u.domainId),
    );
    const fromDirectories = await Promise.all(ldap.map((l) => l.listUsers()));
    return [...sqlRows, ...fromDirectories.flat()].sort((a, b) => a.name.localeCompare(b.name));
  };
  /** A user by id: a directory user from its directory, where it may have gone since. */
  const findUser = async (id: string): Promise<UserRow | undefined> => {
    // (A name that several domains use names no one here.)
    const row = await identity.findUser(id).catch((err: unknown) => {
      if (err instanceof StratusError && err.kind === 'invalid') return undefined;
      throw err;
    });
    const ldap = row ? ctx.tokens.directoryFor(row.domainId) : undefined;
    if (row && !ldap) return row;
    if (ldap) return ldap.findUser(id);
    for (const d of await dir.listDomains()) {
      const found = await ctx.tokens.directoryFor(d.id)?.findUser(id);
      if (found) return found;
    }
    return undefined;
  };

  /** Groups of an LDAP domain are the directory's: made, changed and filled there (403). */
  const refuseDirectoryGroup = async (groupOrDomain: { domainId: string } | string) => {
    const domainId = typeof groupOrDomain === 'string' ? groupOrDomain : groupOrDomain.domainId;
    if (ctx.tokens.directoryFor(domainId)) {
      throw new StratusError(
        'forbidden',
        `The groups of domain '${domainId}' live in its LDAP directory, which is read-only here: change them there.`,
        { resource: 'group' },
      );
    }
  };

  const domainOf = async (o: Record<string, unknown>, fallback = 'default') => {
    const domain = str(o, 'domain_id') ?? fallback;
    if (!(await dir.findDomain(domain))) {
      throw new StratusError('not_found', `Could not find domain: ${domain}.`, {
        resource: 'domain',
        id: domain,
      });
    }
    return domain;
  };

  app.get('/v3/users', async (request) => {
    const access = await requireDomainAccess(ctx, request, 'identity:list_users', false);
    const q = queryOf(request);
    if (
      access.domainId !== undefined &&
      q.domain_id !== undefined &&
      q.domain_id !== access.domainId
    ) {
      return userList(request, [], '/v3/users');
    }
    return userList(request, await allUsers(access.domainId ?? q.domain_id), '/v3/users');
  });
  app.get<Id>('/v3/users/:id', async (request) => {
    const me = await caller(ctx, request);
    const id = checkId(request.params.id, 'user');
    if (id === me.user.id) return { user: userView(me.user, base(request)) };
    const readsDomain = me.domain !== null;
    if (!isAdmin(me) && !readsDomain) throw forbidden('identity:get_user');
    const found = await findUser(id);
    // A domain-scoped caller sees only its domain's users; others do not exist for it.
    if (!found || (!isAdmin(me) && found.domainId !== me.domain?.id)) {
      throw new StratusError('not_found', `Could not find user: ${id}.`, { resource: 'user', id });
    }
    return { user: userView(found, base(request)) };
  });
  app.post('/v3/users', async (request, reply) => {
    const access = await requireDomainAccess(ctx, request, 'identity:create_user', true);
    const o = bodyObject(request, 'user');
    const domain = await domainOf(o, access.domainId);
    checkInDomain(access, domain, 'identity:create_user');
    const u = await identity.createUser({
      name: str(o, 'name', true),
      password: str(o, 'password'),
      domain,
      defaultProject: str(o, 'default_project_id'),
      enabled: bool(o, 'enabled'),
      description: str(o, 'description'),
      email: str(o, 'email'),
    });
    reply.code(201);
    return { user: userView(u, base(request)) };
  });
  app.patch<Id>('/v3/users/:id', async (request) => {
    const access = await requireDomainAccess(ctx, request, 'identity:update_user', true);
    const o = bodyObject(request, 'user');
    const target = await identity.getUser(checkId(request.params.id, 'user'));
    checkInDomain(access, target.domainId, 'identity:update_user');
    const u = await identity.updateUser(target.id, {
      name: str(o, 'name'),
      password: str(o, 'password'),
      enabled: bool(o, 'enabled'),
      defaultProject: o.default_project_id === null ? null : str(o, 'default_project_id'),
      description: str(o, 'description'),
      email: o.email === null ? null : str(o, 'email'),
    });
    return { user: userView(u, base(request)) };
  });
  app.delete<Id>('/v3/users/:id', async (request, reply) => {
    const access = await requireDomainAccess(ctx, request, 'identity:delete_user', true);
    const me = access.me;
    const u = await identity.getUser(checkId(request.params.id, 'user'));
    checkInDomain(access, u.domainId, 'identity:delete_user');
    if (u.id === me.user.id) {
      throw new StratusError('forbidden', 'You cannot delete the user you are logged in as.', {
        resource: 'user',
        id: u.id,
      });
    }
    await identity.deleteUser(u.id);
    reply.code(204).send();
  });
  app.post<Id>('/v3/users/:id/password', async (request, reply) => {
    const id = checkId(request.params.id, 'user');
    const o = bodyObject(request, 'user');
    const original = str(o, 'original_password', true);
    const password = str(o, 'password', true);
    // No token needed: the original password proves who asks (Keystone's change_password).
    await identity.changePassword(id, original, password, request.ip);
    reply.code(204).send();
  });
  app.get<Id>('/v3/users/:id/groups', async (request) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:list_groups_for_user', true);
    const u = await identity.getUser(id);
    return {
      groups: (await dir.groupsOfUser(u.id)).map((g) => groupView(g, base(request))),
      links: links(base(request), `/v3/users/${id}/groups`),
    };
  });

  // Groups.
  app.get('/v3/groups', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_groups');
    const q = queryOf(request);
    // The directory's groups, fresh from it, in place of their rows here.
    const ldap = (await dir.listDomains()).flatMap((d) =>
      q.domain_id === undefined || q.domain_id === d.id
        ? (ctx.tokens.directoryFor(d.id) ?? [])
        : [],
    );
    const fromDirectories = (await Promise.all(ldap.map((l) => l.listGroups()))).flat();
    const rows = [
      ...(await dir.listGroups({ domainId: q.domain_id, name: q.name })).filter(
        (g) => !ctx.tokens.directoryFor(g.domainId),
      ),
      ...fromDirectories.filter((g) => q.name === undefined || g.name === q.name),
    ];
    return {
      groups: rows.map((g) => groupView(g, base(request))),
      links: links(base(request), '/v3/groups'),
    };
  });
  app.get<Id>('/v3/groups/:id', async (request) => {
    await requireAdmin(ctx, request, 'identity:get_group');
    return {
      group: groupView(await dir.getGroup(checkId(request.params.id, 'group')), base(request)),
    };
  });
  app.post('/v3/groups', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:create_group');
    const o = bodyObject(request, 'group');
    const domain = await domainOf(o);
    await refuseDirectoryGroup(domain);
    const g = await dir.createGroup({
      name: str(o, 'name', true),
      domain,
      description: str(o, 'description'),
    });
    reply.code(201);
    return { group: groupView(g, base(request)) };
  });
  app.patch<Id>('/v3/groups/:id', async (request) => {
    await requireAdmin(ctx, request, 'identity:update_group');
    await refuseDirectoryGroup(await dir.getGroup(checkId(request.params.id, 'group')));
    const o = bodyObject(request, 'group');
    const g = await dir.updateGroup(checkId(request.params.id, 'group'), {
      name: str(o, 'name'),
      description: str(o, 'description'),
    });
    return { group: groupView(g, base(request)) };
  });
  app.delete<Id>('/v3/groups/:id', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_group');
    await refuseDirectoryGroup(await dir.getGroup(checkId(request.params.id, 'group')));
    await dir.deleteGroup(checkId(request.params.id, 'group'));
    reply.code(204).send();
  });
  app.get<Id>('/v3/groups/:id/users', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_users_in_group');
    const id = checkId(request.params.id, 'group');
    return {
      users: (await dir.groupMembers(id)).map((u) => userView(u, base(request))),
      links: links(base(request), `/v3/groups/${id}/users`),
    };
  });
  app.put<GroupUser>('/v3/groups/:id/users/:userId', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:add_user_to_group');
    await refuseDirectoryGroup(await dir.getGroup(checkId(request.params.id, 'group')));
    await dir.addGroupMember(
      checkId(request.params.id, 'group'),
      checkId(request.params.userId, 'user'),
    );
    reply.code(204).send();
  });
  // (HEAD is answered by this route too.)
  app.get<GroupUser>('/v3/groups/:id/users/:userId', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:check_user_in_group');
    const group = checkId(request.params.id, 'group');
    const user = checkId(request.params.userId, 'user');
    if (!(await dir.isGroupMember(group, user))) {
      throw new StratusError('not_found', `User ${user} is not a member of group ${group}.`, {
        resource: 'group',
        id: group,
      });
    }
    reply.code(204).send();
  });
  app.delete<GroupUser>('/v3/groups/:id/users/:userId', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:remove_user_from_group');
    await refuseDirectoryGroup(await dir.getGroup(checkId(request.params.id, 'group')));
    await dir.removeGroupMember(
      checkId(request.params.id, 'group'),
      checkId(request.params.userId, 'user'),
    );
    reply.code(204).send();
  });
}
