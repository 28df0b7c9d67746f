// The caller-identity calls tools make before any EC2 call: STS GetCallerIdentity and a
// minimal IAM GetUser for the caller. Served on the EC2 listener at /sts/ and /iam/ (the rc
// file names them as AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_IAM), signed with SigV4 for
// the service 'sts' or 'iam' and verified as EC2 requests are. The account is the project
// (its id, as EC2 shows it as OwnerId), the ARN names the user, the user id is the user's.
import { XMLBuilder } from 'fast-xml-parser';
import type { StratusError } from '../../errors.js';
import type { Ec2Principal } from '../../identity/index.js';
import { xmlText } from './xml.js';

export type IdentityApi = 'sts' | 'iam';

const NAMESPACES: Readonly<Record<IdentityApi, string>> = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
};

/** The API versions each service's clients send. */
const VERSIONS: Readonly<Record<IdentityApi, string>> = { sts: '2011-06-15', iam: '2010-05-08' };

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_' });

export interface IdentityAnswer {
  status: number;
  body: string;
}

function doc(value: unknown): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(value) as string}`;
}

/** The caller's ARN: `arn:aws:iam::<project id>:user/<user name>`. */
export function callerArn(principal: Ec2Principal): string {
  return `arn:aws:iam::${principal.project.id}:user/${principal.user.name}`;
}

/** The error document STS and IAM answer: `ErrorResponse` with a type, code and message. */
export function identityError(
  api: IdentityApi,
  status: number,
  code: string,
  message: string,
  requestId: string,
): IdentityAnswer {
  return {
    status,
    body: doc({
      ErrorResponse: {
        '@_xmlns': NAMESPACES[api],
        Error: {
          Type: status >= 500 ? 'Receiver' : 'Sender',
          Code: code,
          Message: xmlText(message),
        },
        RequestId: requestId,
      },
    }),
  };
}

/** STS's and IAM's codes for a refused request. */
export function identityErrorFor(
  api: IdentityApi,
  err: StratusError,
  requestId: string,
): IdentityAnswer {
  if (err.kind === 'unauthenticated') {
    if (err.reason === 'expired')
      return identityError(api, 400, 'RequestExpired', err.message, requestId);
    if (err.reason === 'signature')
      return identityError(api, 403, 'SignatureDoesNotMatch', err.message, requestId);
    return identityError(api, 403, 'InvalidClientTokenId', err.message, requestId);
  }
  if (err.kind === 'missing')
    return identityError(api, 400, 'MissingParameter', err.message, requestId);
  if (err.kind === 'internal')
    return identityError(api, 500, 'InternalFailure', 'An internal error has occurred.', requestId);
  return identityError(api, 400, 'ValidationError', err.message, requestId);
}

/** Answers one STS or IAM request of an authenticated caller. */
export function answerIdentity(
  api: IdentityApi,
  params: Readonly<Record<string, string>>,
  principal: Ec2Principal,
  requestId: string,
): IdentityAnswer {
  const action = params['Action'] ?? '';
  const version = params['Version'];
  const known = api === 'sts' ? ['GetCallerIdentity'] : ['GetUser'];
  if (!action)
    return identityError(api, 400, 'MissingAction', 'The request has no Action.', requestId);
  if (!known.includes(action)) {
    return identityError(
      api,
      400,
      'InvalidAction',
      `The action ${action.slice(0, 64)} is not valid for this endpoint; it serves ${known.join(', ')}.`,
      requestId,
    );
  }
  if (version !== undefined && version !== VERSIONS[api]) {
    return identityError(
      api,
      400,
      'InvalidParameterValue',
      `The API version '${version.slice(0, 32)}' is not valid; this endpoint speaks ${VERSIONS[api]}.`,
      requestId,
    );
  }
  const metadata = { RequestId: requestId };
  if (api === 'sts') {
    return {
      status: 200,
      body: doc({
        GetCallerIdentityResponse: {
          '@_xmlns': NAMESPACES.sts,
          GetCallerIdentityResult: {
            Arn: xmlText(callerArn(principal)),
            UserId: principal.user.id,
            Account: principal.project.id,
          },
          ResponseMetadata: metadata,
        },
      }),
    };
  }
  // GetUser: the caller itself; another user's name is not found (no IAM administration here).
  const name = params['UserName'];
  if (name !== undefined && name !== principal.user.name) {
    return identityError(
      api,
      404,
      'NoSuchEntity',
      `The user with name ${name.slice(0, 64)} cannot be found.`,
      requestId,
    );
  }
  return {
    status: 200,
    body: doc({
      GetUserResponse: {
        '@_xmlns': NAMESPACES.iam,
        GetUserResult: {
          User: {
            Path: '/',
            UserName: xmlText(principal.user.name),
            UserId: principal.user.id,
            Arn: xmlText(callerArn(principal)),
            CreateDate: new Date(principal.user.createdAt).toISOString(),
          },
        },
        ResponseMetadata: metadata,
      },
    }),
  };
}
