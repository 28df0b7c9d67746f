// What every OpenStack API of Stratus does alike at the protocol level, whatever its error
// format: each response names its request in `x-openstack-request-id` (clients log it and
// report it with errors), and a JSON body that is empty is no body at all, so a DELETE or GET
// from a tool that always sends `Content-Type: application/json` is not refused. Malformed
// JSON is the caller's fault: an `invalid` error, which each API renders in its own format.
import type { FastifyInstance } from 'fastify';
import { invalid } from '../../errors.js';

export const REQUEST_ID_HEADER = 'x-openstack-request-id';

export function openstackProtocol(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, String(request.id));
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    const s = String(text);
    if (s.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(s));
    } catch {
      done(invalid('The request body is not valid JSON.', { resource: 'request' }));
    }
  });
}
