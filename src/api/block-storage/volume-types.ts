// Volume types (`/v3/types`): everyone lists and shows the types they may use (the built-in
// ones, and the public ones an administrator added; administrators see all); administrators
// create, update and delete added types and set their extra specs, as Cinder's types_manage
// policy has it. A built-in type cannot be changed, and a type a volume has cannot be deleted.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import type { ApiServices } from '../services.js';
import { objectOf, optionalText } from './requests.js';
import { volumeTypeView } from './views.js';

type IdParams = { Params: { id: string } };
type KeyParams = { Params: { id: string; key: string } };

export function volumeTypeRoutes(
  app: FastifyInstance,
  services: ApiServices,
  caller: (request: FastifyRequest) => Promise<RequestContext>,
): void {
  const types = services.volumes.types;
  const admin = async (request: FastifyRequest) => {
    const ctx = await caller(request);
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an administrator may manage volume types.', {
        resource: 'resource',
      });
    }
    return ctx;
  };

  app.get('/v3/types', async (request) => {
    const ctx = await caller(request);
    const q = (request.query ?? {}) as Record<string, string | undefined>;
    let list = await types.list(isAdmin(ctx));
    // `is_public` (admins: true, false or None for all), as Cinder filters.
    const pub = q['is_public']?.toLowerCase();
    if (pub === 'true') list = list.filter((t) => t.isPublic);
    else if (pub === 'false') list = list.filter((t) => !t.isPublic);
    return { volume_types: list.map((t) => volumeTypeView(t)) };
  });
  app.get<IdParams>('/v3/types/:id', async (request) => {
    const ctx = await caller(request);
    return { volume_type: volumeTypeView(await types.get(request.params.id, isAdmin(ctx))) };
  });
  app.post('/v3/types', async (request) => {
    await admin(request);
    const body = objectOf(objectOf(request.body, 'request body')['volume_type'], 'volume_type');
    const type = await types.create({
      name: body['name'] as string,
      description: optionalText(body['description'], 'description'),
      isPublic: publicFlag(body['os-volume-type-access:is_public'] ?? body['is_public']),
      extraSpecs: body['extra_specs'] === undefined ? undefined : stringMap(body['extra_specs']),
    });
    return { volume_type: volumeTypeView(type) };
  });
  app.put<IdParams>('/v3/types/:id', async (request) => {
    await admin(request);
    const body = objectOf(objectOf(request.body, 'request body')['volume_type'], 'volume_type');
    const type = await types.update(request.params.id, {
      name: optionalText(body['name'], 'name'),
      description: optionalText(body['description'], 'description'),
      isPublic: publicFlag(body['is_public']),
    });
    return { volume_type: volumeTypeView(type) };
  });
  app.delete<IdParams>('/v3/types/:id', async (request, reply) => {
    await admin(request);
    await types.delete(request.params.id);
    reply.code(202);
    return '';
  });

  app.get<IdParams>('/v3/types/:id/extra_specs', async (request) => {
    const ctx = await caller(request);
    return { extra_specs: (await types.get(request.params.id, isAdmin(ctx))).extraSpecs };
  });
  app.get<KeyParams>('/v3/types/:id/extra_specs/:key', async (request) => {
    const ctx = await caller(request);
    const { id, key } = request.params;
    const specs = (await types.get(id, isAdmin(ctx))).extraSpecs;
    if (!(key in specs)) {
      throw notFound('resource', key, `Volume Type ${id} has no extra specs with key ${key}.`);
    }
    return { [key]: specs[key] };
  });
  app.post<IdParams>('/v3/types/:id/extra_specs', async (request) => {
    await admin(request);
    const body = objectOf(request.body, 'request body');
    const specs = stringMap(body['extra_specs']);
    await types.setExtraSpecs(request.params.id, specs);
    return { extra_specs: specs };
  });
  app.put<KeyParams>('/v3/types/:id/extra_specs/:key', async (request) => {
    await admin(request);
    const { id, key } = request.params;
    const body = stringMap(request.body);
    const keys = Object.keys(body);
    if (keys.length !== 1 || keys[0] !== key) {
      throw invalid('The request body must name the key of the URL, and only it.', {
        resource: 'request',
      });
    }
    await types.setExtraSpecs(id, body);
    return body;
  });
  app.delete<KeyParams>('/v3/types/:id/extra_specs/:key', async (request, reply) => {
    await admin(request);
    await types.unsetExtraSpec(request.params.id, request.params.key);
    reply.code(202);
    return '';
  });
  // Access lists of private types (addProjectAccess, removeProjectAccess) are not kept: a
  // private type is an administrator's.
  app.post<IdParams>('/v3/types/:id/action', async (request) => {
    await admin(request);
    await types.get(request.params.id, true);
    throw invalid(
      'Project access to private volume types is not kept here: a private type is for administrators only.',
      { resource: 'request', reason: 'unsupported' },
    );
  });
}

function publicFlag(value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return /^true$/i.test(value);
  throw invalid('is_public must be a boolean.', { resource: 'parameter', id: 'is_public' });
}

function stringMap(value: unknown): Record<string, string> {
  const o = objectOf(value, 'extra_specs');
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') {
      throw invalid(`Extra spec '${k}' must be a string.`, {
        resource: 'parameter',
        id: 'extra_specs',
      });
    }
  }
  return o as Record<string, string>;
}
