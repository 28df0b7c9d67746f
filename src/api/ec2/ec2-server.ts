// The EC2 Query API endpoint: GET or form POST on '/' and '/services/Cloud/', authenticated
// with Signature V4 or V2, dispatched by `Action` to the action tables it was given, answered
// in EC2's XML; STS GetCallerIdentity and IAM GetUser at /sts/ and /iam/ (caller-identity.ts).
// Every failure, including bad input, is an EC2 error document with a 4xx
// status; 5xx only for our own faults.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mayChange, newRequestId, userContext, type RequestContext } from '../../context.js';
import { asStratusError, StratusError } from '../../errors.js';
import type { Ec2Principal } from '../../identity/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { isReadOnlyAction, type Ec2ActionTable } from './action.js';
import { authenticateEc2Request } from './auth.js';
import {
  answerIdentity,
  identityErrorFor,
  type IdentityAnswer,
  type IdentityApi,
} from './caller-identity.js';
import { toEc2Error } from './errors.js';
import { checkParameters, EC2_PARAMETERS, identityParameters } from './parameters/index.js';
import { Params } from './params.js';
import { renderError, renderResponse } from './xml.js';

export interface Ec2ServerOptions {
  logger: Logger;
  metrics: Metrics;
  /** Serve HTTPS with this certificate; plain HTTP without. */
  tls?: HttpsCertificate | undefined;
  region: string;
  actions: Ec2ActionTable;
  /** Who an access key speaks for; undefined for unknown or disabled keys. */
  findPrincipal: (accessKey: string) => Promise<Ec2Principal | undefined>;
  /**
   * A counter that changes whenever what `findPrincipal` answers may have changed
   * (`IdentityService.identityGeneration`); cached principals are dropped when it moves.
   */
  identityGeneration: () => Promise<number>;
}

/** API versions clients send; EC2 accepts any dated version and so do we. */
const VERSION = /^\d{4}-\d{2}-\d{2}$/;
/** How long a looked-up access key is kept (while nothing in identity changed). */
const PRINCIPAL_TTL_MS = 5_000;

export function createEc2Server(options: Ec2ServerOptions): FastifyInstance {
  const app = createHttpServer({
    api: 'ec2',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    refusalBody: (_status, message) => ({
      type: 'text/xml;charset=UTF-8',
      body: renderError('InvalidRequest', message, newRequestId()),
    }),
  });
  // Keep the raw body: signatures are computed over it.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_req, body, done) => done(null, body),
  );
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  // Looked-up access keys, valid while the identity generation they were read at is current.
  // Disabling a user or deleting a credential must take effect at once on every API process
  // (issue 13), and such changes come from anywhere: `stratus manage` works on the database
  // directly with no bus, and an operator may use SQL. So instead of a fanout, which would
  // reach only processes that changed identity through the bus, each request reads one
  // counter that database triggers bump with every such change (one primary-key read, where
  // a lookup is four queries), and a change seen empties the cache.
  const principals = new Map<string, { at: number; principal: Ec2Principal | undefined }>();
  let cachedGeneration: number | undefined;
  const findPrincipal = async (
    accessKey: string,
    generation: number,
  ): Promise<Ec2Principal | undefined> => {
    if (cachedGeneration === undefined || generation > cachedGeneration) {
      principals.clear();
      cachedGeneration = generation;
    }
    // A request that read an older counter than another already did neither reads nor fills.
    const current = generation === cachedGeneration;
    const cached = current ? principals.get(accessKey) : undefined;
    if (cached && Date.now() - cached.at < PRINCIPAL_TTL_MS) return cached.principal;
    const principal = await options.findPrincipal(accessKey);
    if (principals.size > 10_000) principals.clear();
    // Kept only if no change was seen while it was looked up.
    if (current && generation === cachedGeneration) {
      principals.set(accessKey, { at: Date.now(), principal });
    }
    return principal;
  };

  // STS GetCallerIdentity and IAM GetUser (caller-identity.ts): on this listener, at their own
  // paths, each checking that the signature was made for its own service.
  const identity =
    (api: IdentityApi) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<string> => {
      const requestId = String(request.id);
      reply.type('text/xml;charset=UTF-8');
      let answer: IdentityAnswer;
      try {
        const [path, query = ''] = request.url.split(/\?(.*)/s) as [string, string?];
        const body = typeof request.body === 'string' ? request.body : '';
        const params: Record<string, string> = {};
        for (const [k, v] of new URLSearchParams(query)) params[k] = v;
        if (request.method === 'POST')
          for (const [k, v] of new URLSearchParams(body)) params[k] = v;
        const generation = await options.identityGeneration();
        const auth = await authenticateEc2Request(
          { method: request.method, path, query, headers: request.headers, body, params },
          async (key) => (await findPrincipal(key, generation))?.credential.secretKey,
          {
            now: new Date(),
            region: options.region,
            service: api,
            // IAM is global: AWS clients sign it for us-east-1 whatever their region.
            otherRegions: api === 'iam' ? ['us-east-1'] : [],
          },
        );
        if (auth.signatureVersion !== 4) {
          throw new StratusError(
            'unauthenticated',
            `The ${api} endpoint takes Signature Version 4 only.`,
            {
              reason: 'signature',
            },
          );
        }
        const principal = await findPrincipal(auth.accessKey, generation);
        if (!principal) throw new StratusError('unauthenticated', 'The access key is not valid.');
        const action = params['Action'] ?? '';
        const actions = identityParameters[api];
        const declared = Object.prototype.hasOwnProperty.call(actions, action)
          ? actions[action]
          : undefined;
        if (declared) checkParameters(action, declared, params);
        answer = answerIdentity(api, params, principal, requestId);
      } catch (err) {
        const error = asStratusError(err);
        if (error.kind === 'internal') request.log.error({ err, api }, 'identity request failed');
        answer = identityErrorFor(api, error, requestId);
      }
      reply.code(answer.status);
      return answer.body;
    };

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<string> => {
    const requestId = String(request.id);
    reply.type('text/xml;charset=UTF-8');
    let action = '';
    try {
      const [path, query = ''] = request.url.split(/\?(.*)/s) as [string, string?];
      const body = typeof request.body === 'string' ? request.body : '';
      const params: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(query)) params[k] = v;
      if (request.method === 'POST') for (const [k, v] of new URLSearchParams(body)) params[k] = v;
      action = params['Action'] ?? '';

      const generation = await options.identityGeneration();
      const auth = await authenticateEc2Request(
        { method: request.method, path, query, headers: request.headers, body, params },
        async (key) => (await findPrincipal(key, generation))?.credential.secretKey,
        { now: new Date(), region: options.region },
      );
      const principal = await findPrincipal(auth.accessKey, generation);
      if (!principal) throw new StratusError('unauthenticated', 'The access key is not valid.');
      const context: RequestContext = userContext({
        userId: principal.user.id,
        projectId: principal.project.id,
        roles: principal.roles,
        requestId,
      });

      if (!action)
        throw new StratusError('missing', 'The request must contain the parameter Action.');
      const fn = Object.prototype.hasOwnProperty.call(options.actions, action)
        ? options.actions[action]
        : undefined;
      if (!fn) {
        reply.code(400);
        return renderError(
          'InvalidAction',
          `The action ${action} is not valid for this web service.`,
          requestId,
        );
      }
      const version = params['Version'];
      if (version === undefined)
        throw new StratusError('missing', 'The request must contain the parameter Version.');
      if (!VERSION.test(version)) {
        reply.code(400);
        return renderError(
          'InvalidParameterValue',
          `The API version '${version}' is not valid.`,
          requestId,
        );
      }
      // A reader (a role without `member`) describes but changes nothing (issue 14): one
      // check for every action, before its parameters and DryRun, as EC2 authorises first.
      if (!isReadOnlyAction(action) && !mayChange(context)) {
        throw new StratusError(
          'forbidden',
          `You are not authorized to perform this operation: ${action} changes resources, and your roles in this project (${context.roles.join(', ') || 'none'}) only read.`,
        );
      }
      // Every parameter is declared honoured, refused or ignored (parameters/): an unknown one
      // or a refused value is answered before the action runs, so nothing is silently dropped.
      const declared = Object.prototype.hasOwnProperty.call(EC2_PARAMETERS, action)
        ? EC2_PARAMETERS[action]
        : undefined;
      if (!declared) {
        throw new StratusError('internal', `The action ${action} declares no parameters.`);
      }
      checkParameters(action, declared, params);
      // DryRun: a member of a project may call every action, so a request that passed the
      // checks above would have been allowed; EC2 answers that with DryRunOperation.
      if (new Params(params).bool('DryRun')) {
        reply.code(412);
        return renderError(
          'DryRunOperation',
          'Request would have succeeded, but DryRun flag is set.',
          requestId,
        );
      }
      const result = await fn({
        action,
        requestId,
        params: new Params(params),
        context,
        region: options.region,
        endpoint: request.headers.host ?? request.hostname,
      });
      return renderResponse(action, requestId, result);
    } catch (err) {
      const error = asStratusError(err);
      const e = toEc2Error(error);
      if (e.status >= 500) request.log.error({ err, action }, 'EC2 request failed');
      else if (error.kind === 'unauthenticated')
        // Failed logins are logged with where they came from (issue 14).
        request.log.warn({ action, code: e.code, source: request.ip }, 'Failed login');
      else request.log.info({ action, code: e.code }, 'EC2 request refused');
      reply.code(e.status);
      return renderError(e.code, e.message, requestId);
    }
  };

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type('text/xml;charset=UTF-8');
    return renderError(
      'InvalidAction',
      `There is no EC2 endpoint at ${request.url.split('?')[0]}.`,
      String(request.id),
    );
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    // Fastify's own refusals (body too large, bad content type) in EC2's format.
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'EC2 request failed');
    reply.code(status).type('text/xml;charset=UTF-8');
    return renderError(
      status === 413 ? 'RequestEntityTooLarge' : 'InvalidRequest',
      err.message,
      String(request.id),
    );
  });
  for (const url of ['/', '/services/Cloud', '/services/Cloud/']) {
    app.get(url, handle);
    app.post(url, handle);
  }
  for (const api of ['sts', 'iam'] as const) {
    for (const url of [`/${api}`, `/${api}/`]) {
      app.get(url, identity(api));
      app.post(url, identity(api));
    }
  }
  return app;
}
