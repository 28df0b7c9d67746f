// The server action `createImage`: a snapshot image of the server's root disk in the image
// service (compute/instance-images.ts makes it). Answered 202; before 2.45 the image is named
// by the Location header, from 2.45 by `image_id` in the body. The copy is made with the guest
// running (no reboot, as the Compute API does); the server's task_state shows the steps.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../context.js';
import type { InstanceRow } from '../../db/index.js';
import { atLeast, type Microversion } from './microversion.js';
import { bad, object, onlyKeys, type Obj } from './requests.js';
import type { RouteDeps } from './routes.js';

export interface CreateImageRequest {
  name: string;
  metadata: Record<string, string>;
}

/** The request if the body is a `createImage` action, undefined for any other action. */
export function parseCreateImage(body: unknown): CreateImageRequest | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'createImage') return undefined;
  const o = object((body as Obj).createImage, 'createImage');
  onlyKeys(o, ['name', 'metadata'], 'createImage');
  const name = o.name;
  if (name === undefined)
    throw bad("Invalid input for createImage: 'name' is a required property.");
  if (typeof name !== 'string' || name.length < 1 || name.length > 255 || name.trim() !== name) {
    throw bad(
      `Invalid input for field/attribute name. Value: ${JSON.stringify(name)}. It must be a string of 1 to 255 characters without leading or trailing white space.`,
    );
  }
  const metadata: Record<string, string> = {};
  if (o.metadata !== undefined) {
    const m = object(o.metadata, 'metadata');
    for (const [key, value] of Object.entries(m)) {
      if (key.length < 1 || key.length > 255) {
        throw bad(
          `Invalid input for field/attribute metadata. The key '${key.slice(0, 300)}' must be 1 to 255 characters.`,
        );
      }
      if (typeof value !== 'string' || value.length > 255) {
        throw bad(
          `Invalid input for field/attribute metadata. Value: ${JSON.stringify(value)}. A value must be a string of at most 255 characters.`,
        );
      }
      metadata[key] = value;
    }
  }
  return { name, metadata };
}

/** Starts the image and answers as the Compute API does at microversion `v`. */
export async function runCreateImage(
  deps: RouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: RequestContext,
  row: InstanceRow,
  action: CreateImageRequest,
  v: Microversion,
): Promise<unknown> {
  const image = await deps.services.instanceImages.create(ctx, row, {
    name: action.name,
    noReboot: true,
    properties: action.metadata,
  });
  if (atLeast(v, 45)) return reply.code(202).send({ image_id: image.id });
  return reply
    .code(202)
    .header('location', `${deps.base(request)}/v2.1/images/${image.id}`)
    .send();
}
