// Identity v3 roles, their implications, grants of roles to users and groups on projects and
// domains, and the /v3/role_assignments listing with its filters.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AssignmentView } from '../../identity/index.js';
import { StratusError } from '../../errors.js';
import {
  base,
  bodyObject,
  checkId,
  flag,
  links,
  queryOf,
  requireAdmin,
  str,
  type RouteContext,
} from './route-context.js';
import { roleRef, roleView } from './views.js';

type Id = { Params: { id: string } };
type Implies = { Params: { prior: string; implied: string } };
type Grant = {
  Params: {
    targetKind: string;
    targetId: string;
    actorKind: string;
    actorId: string;
    roleId: string;
  };
};
type Grants = { Params: Omit<Grant['Params'], 'roleId'> };

const TARGETS = { projects: 'project', domains: 'domain' } as const;
const ACTORS = { users: 'user', groups: 'group' } as const;

export function addRoleRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const dir = ctx.identity.directory;

  app.get('/v3/roles', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_roles');
    const rows = await dir.listRoles({ name: queryOf(request).name });
    return {
      roles: rows.map((r) => roleView(r, base(request))),
      links: links(base(request), '/v3/roles'),
    };
  });
  app.get<Id>('/v3/roles/:id', async (request) => {
    await requireAdmin(ctx, request, 'identity:get_role');
    return { role: roleView(await dir.getRole(checkId(request.params.id, 'role')), base(request)) };
  });
  app.post('/v3/roles', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:create_role');
    const o = bodyObject(request, 'role');
    if (o.domain_id !== undefined && o.domain_id !== null) {
      throw new StratusError('invalid', 'Domain-specific roles are not offered.', {
        resource: 'role',
      });
    }
    const r = await dir.createRole({
      name: str(o, 'name', true),
      description: str(o, 'description'),
    });
    reply.code(201);
    return { role: roleView(r, base(request)) };
  });
  app.patch<Id>('/v3/roles/:id', async (request) => {
    await requireAdmin(ctx, request, 'identity:update_role');
    const o = bodyObject(request, 'role');
    const r = await dir.updateRole(checkId(request.params.id, 'role'), {
      name: str(o, 'name'),
      description: str(o, 'description'),
    });
    return { role: roleView(r, base(request)) };
  });
  app.delete<Id>('/v3/roles/:id', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_role');
    await dir.deleteRole(checkId(request.params.id, 'role'));
    reply.code(204).send();
  });

  // Implied roles.
  const inference = async (request: FastifyRequest, prior: string, implied: string) => {
    const [p, i] = await Promise.all([dir.getRole(prior), dir.getRole(implied)]);
    return {
      role_inference: { prior_role: roleRef(p, base(request)), implies: roleRef(i, base(request)) },
    };
  };
  app.get('/v3/role_inferences', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_role_inference_rules');
    const pairs = await dir.implications();
    const roles = new Map((await dir.listRoles()).map((r) => [r.id, r]));
    const byPrior = new Map<string, string[]>();
    for (const p of pairs)
      byPrior.set(p.priorRoleId, [...(byPrior.get(p.priorRoleId) ?? []), p.impliedRoleId]);
    const b = base(request);
    return {
      role_inferences: [...byPrior].flatMap(([prior, implied]) => {
        const p = roles.get(prior);
        if (!p) return [];
        return [
          {
            prior_role: roleRef(p, b),
            implies: implied.flatMap((id) => {
              const r = roles.get(id);
              return r ? [roleRef(r, b)] : [];
            }),
          },
        ];
      }),
      links: links(b, '/v3/role_inferences'),
    };
  });
  app.get<Id>('/v3/roles/:id/implies', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_implied_roles');
    const prior = await dir.getRole(checkId(request.params.id, 'role'));
    const roles = new Map((await dir.listRoles()).map((r) => [r.id, r]));
    const b = base(request);
    return {
      role_inference: {
        prior_role: roleRef(prior, b),
        implies: (await dir.implications(prior.id)).flatMap((p) => {
          const r = roles.get(p.impliedRoleId);
          return r ? [roleRef(r, b)] : [];
        }),
      },
      links: links(b, `/v3/roles/${prior.id}/implies`),
    };
  });
  app.put<Implies>('/v3/roles/:prior/implies/:implied', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:create_implied_role');
    const prior = checkId(request.params.prior, 'role');
    const implied = checkId(request.params.implied, 'role');
    await dir.addImplication(prior, implied);
    reply.code(201);
    return inference(request, prior, implied);
  });
  app.get<Implies>('/v3/roles/:prior/implies/:implied', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:get_implied_role');
    const prior = checkId(request.params.prior, 'role');
    const implied = checkId(request.params.implied, 'role');
    await dir.getImplication(prior, implied);
    if (request.method === 'HEAD') return reply.code(204).send();
    return inference(request, prior, implied);
  });
  app.delete<Implies>('/v3/roles/:prior/implies/:implied', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_implied_role');
    await dir.removeImplication(
      checkId(request.params.prior, 'role'),
      checkId(request.params.implied, 'role'),
    );
    reply.code(204).send();
  });

  // Grants: /v3/{projects|domains}/{id}/{users|groups}/{id}/roles[/{role}].
  const parts = (p: Grants['Params']) => {
    const target = TARGETS[p.targetKind as keyof typeof TARGETS];
    const actor = ACTORS[p.actorKind as keyof typeof ACTORS];
    if (!target || !actor) return undefined;
    return {
      target: { type: target, id: checkId(p.targetId, target) },
      actor: { type: actor, id: checkId(p.actorId, actor) },
    };
  };
  const notRoute = (request: FastifyRequest, reply: FastifyReply) => reply.callNotFound();
  const grantPath = '/v3/:targetKind/:targetId/:actorKind/:actorId/roles';
  app.get<Grants>(grantPath, async (request, reply) => {
    const p = parts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:list_grants');
    const roles = await dir.rolesOn(p.actor, p.target);
    return {
      roles: roles.map((r) => roleView(r, base(request))),
      links: links(base(request), request.url.split('?')[0] as string),
    };
  });
  app.put<Grant>(`${grantPath}/:roleId`, async (request, reply) => {
    const p = parts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:create_grant');
    await dir.grant(p.actor, p.target, checkId(request.params.roleId, 'role'));
    return reply.code(204).send();
  });
  app.get<Grant>(`${grantPath}/:roleId`, async (request, reply) => {
    const p = parts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:check_grant');
    const role = checkId(request.params.roleId, 'role');
    if (!(await dir.isGranted(p.actor, p.target, role))) {
      throw new StratusError(
        'not_found',
        `Could not find role assignment with role: ${role}, ${p.actor.type}: ${p.actor.id}, ${p.target.type}: ${p.target.id}.`,
        { resource: 'role_assignment' },
      );
    }
    return reply.code(204).send();
  });
  app.delete<Grant>(`${grantPath}/:roleId`, async (request, reply) => {
    const p = parts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:revoke_grant');
    await dir.revoke(p.actor, p.target, checkId(request.params.roleId, 'role'));
    return reply.code(204).send();
  });

  // System grants: /v3/system/{users|groups}/{id}/roles[/{role}] (the whole cloud).
  type SystemGrant = { Params: { actorKind: string; actorId: string; roleId: string } };
  const systemParts = (p: { actorKind: string; actorId: string }) => {
    const actor = ACTORS[p.actorKind as keyof typeof ACTORS];
    if (!actor) return undefined;
    return {
      target: { type: 'system' as const, id: 'all' },
      actor: { type: actor, id: checkId(p.actorId, actor) },
    };
  };
  const systemPath = '/v3/system/:actorKind/:actorId/roles';
  app.get<SystemGrant>(systemPath, async (request, reply) => {
    const p = systemParts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:list_system_grants');
    const roles = await dir.rolesOn(p.actor, p.target);
    return {
      roles: roles.map((r) => roleView(r, base(request))),
      links: links(base(request), request.url.split('?')[0] as string),
    };
  });
  app.put<SystemGrant>(`${systemPath}/:roleId`, async (request, reply) => {
    const p = systemParts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:create_system_grant');
    await dir.grant(p.actor, p.target, checkId(request.params.roleId, 'role'));
    return reply.code(204).send();
  });
  app.get<SystemGrant>(`${systemPath}/:roleId`, async (request, reply) => {
    const p = systemParts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:check_system_grant');
    const role = checkId(request.params.roleId, 'role');
    if (!(await dir.isGranted(p.actor, p.target, role))) {
      throw new StratusError(
        'not_found',
        `Could not find role assignment with role: ${role}, ${p.actor.type}: ${p.actor.id}, system: all.`,
        { resource: 'role_assignment' },
      );
    }
    return reply.code(204).send();
  });
  app.delete<SystemGrant>(`${systemPath}/:roleId`, async (request, reply) => {
    const p = systemParts(request.params);
    if (!p) return notRoute(request, reply);
    await requireAdmin(ctx, request, 'identity:revoke_system_grant');
    await dir.revoke(p.actor, p.target, checkId(request.params.roleId, 'role'));
    return reply.code(204).send();
  });

  app.get('/v3/role_assignments', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_role_assignments');
    const q = queryOf(request);
    const effective = flag(request, 'effective');
    const names = flag(request, 'include_names');
    if (effective && q['group.id'] !== undefined) {
      throw new StratusError(
        'invalid',
        'Combining effective and group filter will always result in an empty list.',
        {
          resource: 'request',
        },
      );
    }
    if (q['scope.project.id'] !== undefined && q['scope.domain.id'] !== undefined) {
      throw new StratusError(
        'invalid',
        'Specify only one of scope.project.id and scope.domain.id.',
        {
          resource: 'request',
        },
      );
    }
    const b = base(request);
    // System-scoped assignments do not exist here.
    if (q['scope.system'] !== undefined) {
      return { role_assignments: [], links: links(b, '/v3/role_assignments') };
    }
    const resolve = async <T>(
      v: string | undefined,
      get: (id: string) => Promise<{ id: string } & T>,
    ) => (v === undefined ? undefined : (await get(checkId(v, 'filter'))).id);
    const rows = await dir.listAssignments({
      userId: await resolve(q['user.id'], (id) => ctx.identity.getUser(id)),
      groupId: await resolve(q['group.id'], (id) => dir.getGroup(id)),
      roleId: await resolve(q['role.id'], (id) => dir.getRole(id)),
      projectId: await resolve(q['scope.project.id'], (id) => ctx.identity.getProject(id)),
      domainId: await resolve(q['scope.domain.id'], (id) => dir.getDomain(id)),
      effective,
    });
    const namer = names ? await nameBook(ctx) : undefined;
    return {
      role_assignments: rows.map((r) => assignmentView(r, b, namer)),
      links: links(b, '/v3/role_assignments'),
    };
  });
}

type NameBook = {
  role(id: string): { id: string; name: string };
  user(id: string): { id: string; name: string; domain: { id: string; name: string } };
  group(id: string): { id: string; name: string; domain: { id: string; name: string } };
  project(id: string): { id: string; name: string; domain: { id: string; name: string } };
  domain(id: string): { id: string; name: string };
};

async function nameBook(ctx: RouteContext): Promise<NameBook> {
  const dir = ctx.identity.directory;
  const [roles, users, groups, projects, domains] = await Promise.all([
    dir.listRoles(),
    ctx.identity.listUsers(),
    dir.listGroups(),
    ctx.identity.listProjects(),
    dir.listDomains(),
  ]);
  const domain = (id: string) => ({ id, name: domains.find((d) => d.id === id)?.name ?? id });
  const named = <T extends { id: string; name: string; domainId: string }>(
    rows: T[],
    id: string,
  ) => {
    const r = rows.find((x) => x.id === id);
    return { id, name: r?.name ?? id, domain: domain(r?.domainId ?? 'default') };
  };
  return {
    role: (id) => ({ id, name: roles.find((r) => r.id === id)?.name ?? id }),
    user: (id) => named(users, id),
    group: (id) => named(groups, id),
    project: (id) => named(projects, id),
    domain,
  };
}

function assignmentView(r: AssignmentView, b: string, names?: NameBook) {
  const targetPath =
    r.targetType === 'system'
      ? 'system'
      : `${r.targetType === 'project' ? 'projects' : 'domains'}/${r.targetId}`;
  const assignedRole = r.priorRoleId ?? r.roleId;
  const assignment = r.viaGroupId
    ? `${b}/v3/${targetPath}/groups/${r.viaGroupId}/roles/${assignedRole}`
    : `${b}/v3/${targetPath}/${r.actorType}s/${r.actorId}/roles/${assignedRole}`;
  const actor =
    r.actorType === 'user'
      ? { user: names ? names.user(r.actorId) : { id: r.actorId } }
      : { group: names ? names.group(r.actorId) : { id: r.actorId } };
  const scope =
    r.targetType === 'system'
      ? { system: { all: true } }
      : r.targetType === 'project'
        ? { project: names ? names.project(r.targetId) : { id: r.targetId } }
        : { domain: names ? names.domain(r.targetId) : { id: r.targetId } };
  return {
    role: names ? names.role(r.roleId) : { id: r.roleId },
    scope,
    ...actor,
    links: {
      assignment,
      ...(r.viaGroupId ? { membership: `${b}/v3/groups/${r.viaGroupId}/users/${r.actorId}` } : {}),
      ...(r.priorRoleId ? { prior_role: `${b}/v3/roles/${r.priorRoleId}` } : {}),
    },
  };
}
