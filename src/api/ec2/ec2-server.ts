// The EC2 Query API endpoint. Actions are added by the EC2 issue; until then every request
// is answered with EC2's own error for an action the service does not offer.
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer } from '../http.js';

function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) =>
      `&${({ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' } as const)[c as '<']};`,
  );
}

export function createEc2Server(options: { logger: Logger; metrics: Metrics }): FastifyInstance {
  const app = createHttpServer({ api: 'ec2', logger: options.logger, metrics: options.metrics });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  const handler = async (
    request: import('fastify').FastifyRequest,
    reply: import('fastify').FastifyReply,
  ) => {
    const params = {
      ...(request.query as Record<string, string>),
      ...((request.body as Record<string, string> | undefined) ?? {}),
    };
    const action = params.Action ?? '';
    reply.code(400).type('text/xml;charset=UTF-8');
    return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidAction</Code><Message>${escapeXml(
      `The action '${action}' is not valid for this web service.`,
    )}</Message></Error></Errors><RequestID>${escapeXml(String(request.id))}</RequestID></Response>`;
  };
  for (const url of ['/', '/services/Cloud', '/services/Cloud/']) {
    app.get(url, handler);
    app.post(url, handler);
  }
  return app;
}
