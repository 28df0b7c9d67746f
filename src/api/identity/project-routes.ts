// Identity v3 domains and projects (with their tags), and what a token may see of them:
// /v3/auth/projects, /v3/auth/domains, /v3/auth/system and /v3/users/{id}/projects.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectRow } from '../../db/index.js';
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
  str,
  strings,
  type RouteContext,
} from './route-context.js';
import { domainView, projectView } from './views.js';

type Id = { Params: { id: string } };
type IdTag = { Params: { id: string; tag: string } };

export function addProjectRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { identity } = ctx;
  const dir = identity.directory;

  const projectList = async (request: FastifyRequest, rows: ProjectRow[], path: string) => {
    const q = queryOf(request);
    const tags = await identity.allProjectTags();
    const wantTags = q.tags?.split(',').filter(Boolean) ?? [];
    const anyTags = q['tags-any']?.split(',').filter(Boolean) ?? [];
    const shown = rows.filter(
      (p) =>
        (q.name === undefined || p.name === q.name) &&
        (q.domain_id === undefined || p.domainId === q.domain_id) &&
        (q.parent_id === undefined || p.domainId === q.parent_id) &&
        (q.enabled === undefined || (p.enabled === 1) === (q.enabled.toLowerCase() !== 'false')) &&
        wantTags.every((t) => tags.get(p.id)?.includes(t)) &&
        (anyTags.length === 0 || anyTags.some((t) => tags.get(p.id)?.includes(t))),
    );
    return {
      projects: shown.map((p) => projectView(p, base(request), tags.get(p.id))),
      links: links(base(request), path),
    };
  };

  /** A project the caller may see: an admin any, others those they hold a role in. */
  const visibleProject = async (request: FastifyRequest, id: string) => {
    checkId(id, 'project');
    const me = await caller(ctx, request);
    const found = await identity.findProject(id);
    const mine =
      found &&
      (isAdmin(me) ||
        me.domain?.id === found.domainId ||
        (await identity.projectsOfUser(me.user.id)).some((p) => p.id === found.id));
    if (!found || !mine) {
      // Not 403: a project the caller cannot see does not exist for them.
      throw new StratusError('not_found', `Could not find project: ${id}.`, {
        resource: 'project',
        id,
      });
    }
    return found;
  };

  app.get('/v3/auth/projects', async (request) => {
    const me = await caller(ctx, request);
    return projectList(request, await identity.projectsOfUser(me.user.id), '/v3/auth/projects');
  });
  app.get('/v3/auth/domains', async (request) => {
    const me = await caller(ctx, request);
    const ids = new Set(await dir.domainIdsOf(me.user.id));
    const rows = (await dir.listDomains()).filter((d) => ids.has(d.id) && d.enabled === 1);
    return {
      domains: rows.map((d) => domainView(d, base(request))),
      links: links(base(request), '/v3/auth/domains'),
    };
  });
  app.get('/v3/auth/system', async (request) => {
    const me = await caller(ctx, request);
    // The system a user may scope a token to: the whole cloud, when they hold a role on it.
    const held = (await dir.effectiveSystemRoleIds(me.user.id)).size > 0;
    return { system: held ? [{ all: true }] : [], links: links(base(request), '/v3/auth/system') };
  });
  app.get<Id>('/v3/users/:id/projects', async (request) => {
    const me = await caller(ctx, request);
    const id = checkId(request.params.id, 'user');
    if (id !== me.user.id && !isAdmin(me)) throw forbidden('identity:list_user_projects');
    const user = await identity.getUser(id);
    return projectList(
      request,
      await identity.projectsOfUser(user.id),
      `/v3/users/${request.params.id}/projects`,
    );
  });

  // Projects.
  app.get('/v3/projects', async (request) => {
    const access = await requireDomainAccess(ctx, request, 'identity:list_projects', false);
    const rows = (await identity.listProjects()).filter(
      (p) => access.domainId === undefined || p.domainId === access.domainId,
    );
    return projectList(request, rows, '/v3/projects');
  });
  app.get<Id>('/v3/projects/:id', async (request) => {
    const p = await visibleProject(request, request.params.id);
    return { project: projectView(p, base(request), await identity.projectTags(p.id)) };
  });
  app.post('/v3/projects', async (request, reply) => {
    const access = await requireDomainAccess(ctx, request, 'identity:create_project', true);
    const o = bodyObject(request, 'project');
    if (o.is_domain === true) {
      throw new StratusError('invalid', 'Projects acting as domains are not offered.', {
        resource: 'project',
      });
    }
    const domain = str(o, 'domain_id') ?? str(o, 'parent_id') ?? access.domainId ?? 'default';
    checkInDomain(access, domain, 'identity:create_project');
    const parent = str(o, 'parent_id');
    if (parent !== undefined && parent !== domain) {
      throw new StratusError(
        'invalid',
        `Projects are not nested here: parent_id must be the project's domain (${domain}).`,
        { resource: 'project' },
      );
    }
    if (!(await dir.findDomain(domain))) {
      throw new StratusError('not_found', `Could not find domain: ${domain}.`, {
        resource: 'domain',
        id: domain,
      });
    }
    const p = await identity.createProject({
      name: str(o, 'name', true),
      description: str(o, 'description'),
      domain,
      enabled: bool(o, 'enabled'),
      tags: strings(o, 'tags'),
    });
    reply.code(201);
    return { project: projectView(p, base(request), await identity.projectTags(p.id)) };
  });
  app.patch<Id>('/v3/projects/:id', async (request) => {
    const access = await requireDomainAccess(ctx, request, 'identity:update_project', true);
    const o = bodyObject(request, 'project');
    const current = await identity.getProject(checkId(request.params.id, 'project'));
    checkInDomain(access, current.domainId, 'identity:update_project');
    const p = await identity.updateProject(current.id, {
      name: str(o, 'name'),
      description: str(o, 'description'),
      enabled: bool(o, 'enabled'),
    });
    const tags = strings(o, 'tags');
    if (tags !== undefined) await identity.setProjectTags(p.id, tags);
    return { project: projectView(p, base(request), await identity.projectTags(p.id)) };
  });
  app.delete<Id>('/v3/projects/:id', async (request, reply) => {
    const access = await requireDomainAccess(ctx, request, 'identity:delete_project', true);
    const p = await identity.getProject(checkId(request.params.id, 'project'));
    checkInDomain(access, p.domainId, 'identity:delete_project');
    await identity.deleteProject(p.id);
    reply.code(204).send();
  });

  // Project tags.
  app.get<Id>('/v3/projects/:id/tags', async (request) => {
    const p = await visibleProject(request, request.params.id);
    return { tags: await identity.projectTags(p.id) };
  });
  app.put<Id>('/v3/projects/:id/tags', async (request) => {
    await requireAdmin(ctx, request, 'identity:update_project_tags');
    const p = await identity.getProject(checkId(request.params.id, 'project'));
    const body = (request.body ?? {}) as Record<string, unknown>;
    const tags = strings(body, 'tags');
    if (tags === undefined) {
      throw new StratusError('invalid', 'Expecting to find tags in request body.', {
        resource: 'request',
      });
    }
    await identity.setProjectTags(p.id, tags);
    return { tags: await identity.projectTags(p.id) };
  });
  app.delete<Id>('/v3/projects/:id/tags', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_project_tags');
    const p = await identity.getProject(checkId(request.params.id, 'project'));
    await identity.setProjectTags(p.id, []);
    reply.code(204).send();
  });
  app.get<IdTag>('/v3/projects/:id/tags/:tag', async (request, reply) => {
    const p = await visibleProject(request, request.params.id);
    if (!(await identity.projectTags(p.id)).includes(request.params.tag)) {
      throw new StratusError('not_found', `Could not find tag: ${request.params.tag}.`, {
        resource: 'project',
      });
    }
    reply.code(204).send();
  });
  app.put<IdTag>('/v3/projects/:id/tags/:tag', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:create_project_tag');
    const p = await identity.getProject(checkId(request.params.id, 'project'));
    await identity.addProjectTag(p.id, request.params.tag);
    reply
      .code(201)
      .header('location', `${base(request)}/v3/projects/${p.id}/tags/${request.params.tag}`);
    return { tags: await identity.projectTags(p.id) };
  });
  app.delete<IdTag>('/v3/projects/:id/tags/:tag', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_project_tag');
    const p = await identity.getProject(checkId(request.params.id, 'project'));
    await identity.removeProjectTag(p.id, request.params.tag);
    reply.code(204).send();
  });

  // Domains.
  app.get('/v3/domains', async (request) => {
    await requireAdmin(ctx, request, 'identity:list_domains');
    const q = queryOf(request);
    const rows = (await dir.listDomains()).filter(
      (d) =>
        (q.name === undefined || d.name === q.name) &&
        (q.enabled === undefined || (d.enabled === 1) === (q.enabled.toLowerCase() !== 'false')),
    );
    return {
      domains: rows.map((d) => domainView(d, base(request))),
      links: links(base(request), '/v3/domains'),
    };
  });
  app.get<Id>('/v3/domains/:id', async (request) => {
    const me = await caller(ctx, request);
    const id = checkId(request.params.id, 'domain');
    const d = await dir.findDomain(id);
    // Keystone: an admin, or a token scoped to a project of the domain.
    const mine =
      d &&
      (isAdmin(me) ||
        me.domain?.id === d.id ||
        me.project?.domainId === d.id ||
        d.id === me.user.domainId);
    if (!d || !mine) {
      throw new StratusError('not_found', `Could not find domain: ${id}.`, {
        resource: 'domain',
        id,
      });
    }
    return { domain: domainView(d, base(request)) };
  });
  app.post('/v3/domains', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:create_domain');
    const o = bodyObject(request, 'domain');
    const d = await dir.createDomain({
      name: str(o, 'name', true),
      description: str(o, 'description'),
      enabled: bool(o, 'enabled'),
    });
    reply.code(201);
    return { domain: domainView(d, base(request)) };
  });
  app.patch<Id>('/v3/domains/:id', async (request) => {
    await requireAdmin(ctx, request, 'identity:update_domain');
    const o = bodyObject(request, 'domain');
    const d = await dir.updateDomain(checkId(request.params.id, 'domain'), {
      name: str(o, 'name'),
      description: str(o, 'description'),
      enabled: bool(o, 'enabled'),
    });
    return { domain: domainView(d, base(request)) };
  });
  app.delete<Id>('/v3/domains/:id', async (request, reply) => {
    await requireAdmin(ctx, request, 'identity:delete_domain');
    await dir.deleteDomain(checkId(request.params.id, 'domain'));
    reply.code(204).send();
  });
}
