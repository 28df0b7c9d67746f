// Identity v3 credentials: /v3/credentials (EC2 keys, which the EC2 API verifies, and other
// types), the OS-EC2 extension under /v3/users/{id}/credentials/OS-EC2 that `openstack ec2
// credentials` uses, and application credentials under /v3/users/{id}/application_credentials.
import type { FastifyInstance } from 'fastify';
import { StratusError } from '../../errors.js';
import type { CredentialRecord } from '../../identity/index.js';
import {
  base,
  bodyObject,
  bool,
  caller,
  canWrite,
  checkId,
  forbidden,
  isAdmin,
  links,
  queryOf,
  requireSelfOrAdmin,
  str,
  type RouteContext,
} from './route-context.js';
import { applicationCredentialView, credentialView, ec2View } from './views.js';

type Id = { Params: { id: string } };
type UserItem = { Params: { id: string; item: string } };

export function addCredentialRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { identity } = ctx;
  const creds = identity.credentials;
  const apps = identity.applicationCredentials;

  // /v3/credentials.
  const owned = async (request: Parameters<typeof caller>[1], id: string, write: boolean) => {
    const me = await caller(ctx, request);
    const c: CredentialRecord = await creds.get(checkId(id, 'credential'));
    if (!isAdmin(me) && (c.userId !== me.user.id || (write && !canWrite(me)))) {
      throw forbidden(write ? 'identity:update_credential' : 'identity:get_credential');
    }
    return c;
  };
  app.get('/v3/credentials', async (request) => {
    const me = await caller(ctx, request);
    const q = queryOf(request);
    const userId = isAdmin(me) ? q.user_id : me.user.id;
    if (!isAdmin(me) && q.user_id !== undefined && q.user_id !== me.user.id) {
      throw forbidden('identity:list_credentials');
    }
    const rows = await creds.list({ userId, type: q.type });
    return {
      credentials: rows.map((c) => credentialView(c, base(request))),
      links: links(base(request), '/v3/credentials'),
    };
  });
  app.get<Id>('/v3/credentials/:id', async (request) => ({
    credential: credentialView(await owned(request, request.params.id, false), base(request)),
  }));
  app.post('/v3/credentials', async (request, reply) => {
    const me = await caller(ctx, request);
    const o = bodyObject(request, 'credential');
    const userId = str(o, 'user_id', true);
    if (!isAdmin(me) && (userId !== me.user.id || !canWrite(me))) {
      throw forbidden('identity:create_credential');
    }
    const blob = o.blob;
    const c = await creds.create({
      userId,
      projectId: str(o, 'project_id') ?? null,
      type: str(o, 'type', true),
      blob: typeof blob === 'string' ? blob : JSON.stringify(blob ?? null),
    });
    reply.code(201);
    return { credential: credentialView(c, base(request)) };
  });
  app.patch<Id>('/v3/credentials/:id', async (request) => {
    const c = await owned(request, request.params.id, true);
    const o = bodyObject(request, 'credential');
    const blob = o.blob;
    const updated = await creds.update(c.id, {
      ...(blob !== undefined
        ? { blob: typeof blob === 'string' ? blob : JSON.stringify(blob) }
        : {}),
      ...(o.project_id !== undefined ? { projectId: str(o, 'project_id') ?? null } : {}),
    });
    return { credential: credentialView(updated, base(request)) };
  });
  app.delete<Id>('/v3/credentials/:id', async (request, reply) => {
    const c = await owned(request, request.params.id, true);
    await creds.delete(c.id);
    reply.code(204).send();
  });

  // OS-EC2.
  const ec2Path = '/v3/users/:id/credentials/OS-EC2';
  app.get<Id>(ec2Path, async (request) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:ec2_list_credentials', true);
    const u = await identity.getUser(id);
    return {
      credentials: (await identity.listEc2Credentials({ user: u.id })).map((c) =>
        ec2View(c, base(request)),
      ),
      links: links(base(request), `/v3/users/${u.id}/credentials/OS-EC2`),
    };
  });
  app.post<Id>(ec2Path, async (request, reply) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:ec2_create_credential');
    const body = (request.body ?? {}) as Record<string, unknown>;
    const project = str(body, 'tenant_id', true);
    const u = await identity.getUser(id);
    const p = await identity.findProject(checkId(project, 'project'));
    if (!p) {
      throw new StratusError('not_found', `Could not find project: ${project}.`, {
        resource: 'project',
        id: project,
      });
    }
    if ((await identity.rolesOf(u.id, p.id)).length === 0) {
      throw new StratusError(
        'forbidden',
        `The user '${u.name}' has no role on project '${p.name}', so EC2 credentials there would authenticate to nothing.`,
        { resource: 'credential' },
      );
    }
    const c = await identity.createEc2Credential(u.id, p.id);
    reply.code(201);
    return { credential: ec2View(c, base(request)) };
  });
  const ec2One = async (
    request: Parameters<typeof caller>[1],
    userId: string,
    access: string,
    write: boolean,
  ) => {
    await requireSelfOrAdmin(
      ctx,
      request,
      checkId(userId, 'user'),
      write ? 'identity:ec2_delete_credential' : 'identity:ec2_get_credential',
      !write,
    );
    const c = await identity.findEc2Credential(checkId(access, 'credential'));
    if (!c || c.userId !== userId) {
      throw new StratusError('not_found', `Could not find credential: ${access}.`, {
        resource: 'credential',
        id: access,
      });
    }
    return c;
  };
  app.get<UserItem>(`${ec2Path}/:item`, async (request) => ({
    credential: ec2View(
      await ec2One(request, request.params.id, request.params.item, false),
      base(request),
    ),
  }));
  app.delete<UserItem>(`${ec2Path}/:item`, async (request, reply) => {
    const c = await ec2One(request, request.params.id, request.params.item, true);
    await identity.deleteEc2Credential(c.accessKey);
    reply.code(204).send();
  });

  // Application credentials.
  const appPath = '/v3/users/:id/application_credentials';
  app.get<Id>(appPath, async (request) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:list_application_credentials', true);
    const rows = await apps.list(id, { name: queryOf(request).name });
    const b = base(request);
    return {
      application_credentials: await Promise.all(
        rows.map(async (c) => applicationCredentialView(c, await apps.rolesOf(c), b)),
      ),
      links: links(b, `/v3/users/${id}/application_credentials`),
    };
  });
  app.get<UserItem>(`${appPath}/:item`, async (request) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:get_application_credential', true);
    const c = await apps.get(id, checkId(request.params.item, 'application credential'));
    return {
      application_credential: applicationCredentialView(c, await apps.rolesOf(c), base(request)),
    };
  });
  app.post<Id>(appPath, async (request, reply) => {
    const me = await caller(ctx, request);
    const id = checkId(request.params.id, 'user');
    // Only the user themself, from a project-scoped token, may make one (Keystone's owner rule).
    if (me.user.id !== id || !canWrite(me))
      throw forbidden('identity:create_application_credential');
    if (!me.project) {
      throw new StratusError(
        'forbidden',
        'An application credential is made from a project-scoped token: it belongs to that project.',
        { resource: 'application_credential' },
      );
    }
    if (me.applicationCredential?.restricted) {
      throw new StratusError(
        'forbidden',
        'A restricted application credential cannot be used to create another one.',
        { resource: 'application_credential' },
      );
    }
    const o = bodyObject(request, 'application_credential');
    const expires = str(o, 'expires_at');
    const expiresAt =
      expires === undefined
        ? null
        : Date.parse(
            expires.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(expires) ? expires : `${expires}Z`,
          );
    if (expiresAt !== null && Number.isNaN(expiresAt)) {
      throw new StratusError(
        'invalid',
        `Invalid input for field 'expires_at': '${expires}' is not a time.`,
        {
          resource: 'request',
        },
      );
    }
    const roles = o.roles;
    if (roles !== undefined && !Array.isArray(roles)) {
      throw new StratusError('invalid', "Invalid input for field 'roles': it must be a list.", {
        resource: 'request',
      });
    }
    const roleNames = (roles as unknown[] | undefined)?.map((r) => {
      const ref = (r ?? {}) as Record<string, unknown>;
      const v =
        typeof ref.id === 'string' ? ref.id : typeof ref.name === 'string' ? ref.name : undefined;
      if (!v) {
        throw new StratusError(
          'invalid',
          "Invalid input for field 'roles': each needs an id or a name.",
          {
            resource: 'request',
          },
        );
      }
      return v;
    });
    const made = await apps.create({
      userId: id,
      projectId: me.project.id,
      name: str(o, 'name', true),
      description: str(o, 'description'),
      secret: str(o, 'secret'),
      roles: roleNames,
      expiresAt,
      unrestricted: bool(o, 'unrestricted'),
    });
    reply.code(201);
    return {
      application_credential: applicationCredentialView(
        made.credential,
        made.roles,
        base(request),
        made.secret,
      ),
    };
  });
  app.delete<UserItem>(`${appPath}/:item`, async (request, reply) => {
    const id = checkId(request.params.id, 'user');
    await requireSelfOrAdmin(ctx, request, id, 'identity:delete_application_credential');
    await apps.delete(id, checkId(request.params.item, 'application credential'));
    reply.code(204).send();
  });
}
