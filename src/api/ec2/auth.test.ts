// EC2 request authentication, checked against signers that are not the code under test:
// Signature V4 requests come from the AWS SDK's own signer (and from the EC2 client itself),
// Signature V2 requests are signed here by hand from the published algorithm.
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { StratusError } from '../../errors.js';
import { authenticateEc2Request, type AuthOptions, type SignedRequest } from './auth.js';
import { toEc2Error } from './errors.js';

const ACCESS_KEY = 'AKIASTRATUSTEST00001';
const SECRET = 'stratus/Secret+Key~0123456789abcdefghijkl';
const OTHER_KEY = 'AKIASTRATUSTEST00002';
const OTHER_SECRET = 'another-secret-key-for-the-second-user00';
const SECRETS = new Map([
  [ACCESS_KEY, SECRET],
  [OTHER_KEY, OTHER_SECRET],
]);
const lookupSecret = async (key: string): Promise<string | undefined> => SECRETS.get(key);

const NOW = new Date('2026-03-14T15:09:26Z');
const HOST = '127.0.0.1:8773';
const REGION = 'stratus-1';
const FORM = 'application/x-www-form-urlencoded; charset=utf-8';
const VERSION = '2016-11-15';
const MINUTE = 60_000;

/** Values a client must percent-encode: spaces, '/', '+', '~', '=', '&', non-ASCII text. */
const AWKWARD = {
  Action: 'CreateTags',
  Version: VERSION,
  'ResourceId.1': 'i-0123456789abcdef0',
  // A name that is a prefix of another: sorting must be by name, not by 'name=value'.
  'ResourceId.10': 'i-00000000000000010',
  'Tag.1.Key': 'Name',
  'Tag.1.Value': 'web / prod + staging ~ a=b&c ünïcödé 雲',
  'Tag.2.Key': 'path',
  'Tag.2.Value': '/srv/data+1~2 ',
};

// ---- Turning a client's outgoing request into what the server receives ---------------------

/** RFC 3986 encoding, as the SDK's HTTP handler writes a query string. */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

interface Outgoing {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The request as the EC2 endpoint sees it: lower-case headers, raw query and body, params. */
function received(out: Outgoing): SignedRequest {
  const query = Object.entries(out.query ?? {})
    .flatMap(([k, v]) =>
      (Array.isArray(v) ? v : [v ?? '']).map((x) => `${rfc3986(k)}=${rfc3986(x)}`),
    )
    .join('&');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
  const body = typeof out.body === 'string' ? out.body : '';
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) params[k] = v;
  if (out.method === 'POST') for (const [k, v] of new URLSearchParams(body)) params[k] = v;
  return { method: out.method, path: out.path, query, headers, body, params };
}

// ---- Signature V4 through the SDK's signer -------------------------------------------------

interface V4Options {
  secret?: string;
  accessKey?: string;
  service?: string;
  region?: string;
  at?: Date;
  path?: string;
  applyChecksum?: boolean;
}

function signer(o: V4Options = {}): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: o.accessKey ?? ACCESS_KEY, secretAccessKey: o.secret ?? SECRET },
    region: o.region ?? REGION,
    service: o.service ?? 'ec2',
    sha256: Sha256,
    ...(o.applyChecksum === undefined ? {} : { applyChecksum: o.applyChecksum }),
  });
}

/** A form POST as the EC2 client sends it. */
async function v4Post(
  params: Record<string, string> = { Action: 'DescribeRegions', Version: VERSION },
  o: V4Options = {},
): Promise<SignedRequest> {
  const body = new URLSearchParams(params).toString();
  const request = await signer(o).sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8773,
      path: o.path ?? '/',
      query: {},
      headers: { host: HOST, 'content-type': FORM, 'content-length': String(body.length) },
      body,
    },
    { signingDate: o.at ?? NOW },
  );
  return received(request);
}

/** A GET with the parameters in the query string, signed in the Authorization header. */
async function v4Get(params: Record<string, string>, o: V4Options = {}): Promise<SignedRequest> {
  const request = await signer(o).sign(
    {
      method: 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8773,
      path: o.path ?? '/',
      query: { ...params },
      headers: { host: HOST },
    },
    { signingDate: o.at ?? NOW },
  );
  return received(request);
}

/** A presigned GET URL: everything in the query string, no Authorization header. */
async function v4Presigned(
  params: Record<string, string> = { Action: 'DescribeRegions', Version: VERSION },
  o: V4Options & { expiresIn?: number; headers?: Record<string, string> } = {},
): Promise<SignedRequest> {
  const request = await signer(o).presign(
    {
      method: 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8773,
      path: o.path ?? '/',
      query: { ...params },
      headers: { host: HOST, ...o.headers },
    },
    { signingDate: o.at ?? NOW, expiresIn: o.expiresIn ?? 300 },
  );
  return received(request);
}

// ---- Signature V2 by hand, from the published algorithm ------------------------------------

interface V2Options {
  method?: 'GET' | 'POST';
  host?: string;
  path?: string;
  secret?: string;
  accessKey?: string;
  signatureMethod?: string;
  signatureVersion?: string;
  /** 'Timestamp' (the default, at NOW) or an explicit time parameter. */
  time?: { Timestamp: string } | { Expires: string };
}

/**
 * StringToSign = METHOD \n lower-case Host \n path \n CanonicalizedQueryString, the latter
 * being every parameter but Signature, sorted by the bytes of the name, name and value
 * RFC 3986-encoded; the signature is the base64 HMAC of it with the secret key.
 */
function signV2(params: Record<string, string>, o: V2Options = {}): SignedRequest {
  const method = o.method ?? 'GET';
  const host = o.host ?? HOST;
  const path = o.path ?? '/services/Cloud/';
  const signatureMethod = o.signatureMethod ?? 'HmacSHA256';
  const all: Record<string, string> = {
    ...params,
    AWSAccessKeyId: o.accessKey ?? ACCESS_KEY,
    SignatureVersion: o.signatureVersion ?? '2',
    SignatureMethod: signatureMethod,
    ...(o.time ?? { Timestamp: NOW.toISOString().replace(/\.\d{3}Z$/, 'Z') }),
  };
  const canonical = Object.keys(all)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((k) => `${rfc3986(k)}=${rfc3986(all[k] as string)}`)
    .join('&');
  const stringToSign = `${method}\n${host.toLowerCase()}\n${path}\n${canonical}`;
  const algorithm = signatureMethod === 'HmacSHA1' ? 'sha1' : 'sha256';
  all['Signature'] = createHmac(algorithm, o.secret ?? SECRET)
    .update(stringToSign)
    .digest('base64');
  const encoded = Object.entries(all)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
  return {
    method,
    path,
    query: method === 'GET' ? encoded : '',
    headers: method === 'GET' ? { host } : { host, 'content-type': FORM, 'content-length': '1' },
    body: method === 'POST' ? encoded : '',
    params: all,
  };
}

/** The same request with its parameters changed after signing (and the raw text to match). */
function withParams(req: SignedRequest, change: Record<string, string>): SignedRequest {
  const params = { ...req.params, ...change };
  const encoded = Object.entries(params)
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
  return req.method === 'GET'
    ? { ...req, params, query: encoded }
    : { ...req, params, body: encoded };
}

// ---- Assertions ----------------------------------------------------------------------------

function auth(req: SignedRequest, options: Partial<AuthOptions> = {}) {
  return authenticateEc2Request(req, lookupSecret, { now: NOW, region: REGION, ...options });
}

async function assertRefused(
  attempt: Promise<unknown>,
  code: 'AuthFailure' | 'RequestExpired',
  message?: RegExp,
): Promise<void> {
  await assert.rejects(attempt, (err: unknown) => {
    assert.ok(err instanceof StratusError, `expected a StratusError, got ${String(err)}`);
    assert.equal(err.kind, 'unauthenticated');
    assert.equal(toEc2Error(err).code, code, err.message);
    assert.match(err.message, /^[A-Z].*\.$/s, 'the message is a sentence');
    if (message) assert.match(err.message, message);
    return true;
  });
}

// ---- Tests ---------------------------------------------------------------------------------

describe('Signature Version 4', () => {
  it('accepts a form POST signed as the SDK signs it, and returns key and region', async () => {
    const req = await v4Post();
    assert.match(String(req.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=/);
    assert.deepEqual(await auth(req), {
      accessKey: ACCESS_KEY,
      signatureVersion: 4,
      region: REGION,
    });
  });

  it('accepts a POST without x-amz-content-sha256, hashing the body itself', async () => {
    const req = await v4Post(AWKWARD, { applyChecksum: false });
    assert.equal(req.headers['x-amz-content-sha256'], undefined);
    assert.equal((await auth(req)).accessKey, ACCESS_KEY);
  });

  it('accepts the region the endpoint serves, whatever it is called, and returns it', async () => {
    const req = await v4Post(undefined, { region: 'eu-north-7' });
    assert.equal((await auth(req, { region: 'eu-north-7' })).region, 'eu-north-7');
  });

  it('accepts a GET with awkward values in the query and a /services/Cloud/ path', async () => {
    const req = await v4Get(AWKWARD, { path: '/services/Cloud/' });
    assert.equal(req.params['Tag.1.Value'], AWKWARD['Tag.1.Value']);
    assert.equal((await auth(req)).signatureVersion, 4);
  });

  it('normalises the path as the signer does (dot segments, repeated slashes, escapes)', async () => {
    for (const path of ['/services/./Cloud//', '/services/x/../Cloud/', '/a%20b/c%2Fd']) {
      const req = await v4Post(undefined, { path });
      assert.equal(req.path, path);
      assert.equal((await auth(req)).accessKey, ACCESS_KEY, path);
    }
  });

  it('accepts a request from the EC2 client itself', async () => {
    let sent: Outgoing | undefined;
    const client = new EC2Client({
      endpoint: `http://${HOST}`,
      region: REGION,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: Outgoing) => {
          sent = request;
          const xml = `<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/${VERSION}/"><requestId>r-1</requestId><regionInfo><item><regionName>${REGION}</regionName><regionEndpoint>127.0.0.1</regionEndpoint></item></regionInfo></DescribeRegionsResponse>`;
          return {
            response: {
              statusCode: 200,
              headers: { 'content-type': 'text/xml' },
              body: Readable.from([Buffer.from(xml)]),
            },
          };
        },
      },
    });
    try {
      const out = await client.send(new DescribeRegionsCommand({}));
      assert.equal(out.Regions?.[0]?.RegionName, REGION);
    } finally {
      client.destroy();
    }
    assert.ok(sent);
    const req = received(sent);
    assert.equal(req.method, 'POST');
    assert.equal(req.params['Action'], 'DescribeRegions');
    // The client signs with the real clock, so verify against it.
    assert.deepEqual(await auth(req, { now: new Date() }), {
      accessKey: ACCESS_KEY,
      signatureVersion: 4,
      region: REGION,
    });
  });

  it('accepts a presigned GET, with the body hash or UNSIGNED-PAYLOAD', async () => {
    const plain = await v4Presigned(AWKWARD, { path: '/services/Cloud/' });
    assert.equal(plain.headers['authorization'], undefined);
    assert.ok(plain.params['X-Amz-Signature']);
    assert.deepEqual(await auth(plain), {
      accessKey: ACCESS_KEY,
      signatureVersion: 4,
      region: REGION,
    });

    const unsigned = await v4Presigned(undefined, {
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    // The signer moved the header into the query under its own (lower-case) name.
    assert.equal(unsigned.params['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    assert.equal(unsigned.headers['x-amz-content-sha256'], undefined);
    assert.equal((await auth(unsigned)).accessKey, ACCESS_KEY);
  });

  it('accepts a presigned request until X-Amz-Expires has passed', async () => {
    const req = await v4Presigned(undefined, { expiresIn: 300 });
    const justBefore = new Date(NOW.getTime() + 299_000);
    assert.equal((await auth(req, { now: justBefore })).accessKey, ACCESS_KEY);
  });

  it('allows clock skew up to the configured window, both ways', async () => {
    const late = await v4Post(undefined, { at: new Date(NOW.getTime() - 14 * MINUTE) });
    const early = await v4Post(undefined, { at: new Date(NOW.getTime() + 14 * MINUTE) });
    assert.equal((await auth(late)).accessKey, ACCESS_KEY);
    assert.equal((await auth(early)).accessKey, ACCESS_KEY);
    await assertRefused(auth(late, { skewMs: 5 * MINUTE }), 'RequestExpired');
  });

  it('tells the key holders apart', async () => {
    const req = await v4Post(undefined, { accessKey: OTHER_KEY, secret: OTHER_SECRET });
    assert.equal((await auth(req)).accessKey, OTHER_KEY);
  });
});

describe('Signature Version 2', () => {
  for (const signatureMethod of ['HmacSHA256', 'HmacSHA1']) {
    for (const method of ['GET', 'POST'] as const) {
      it(`accepts a ${method} signed with ${signatureMethod}`, async () => {
        const req = signV2(AWKWARD, { method, signatureMethod });
        assert.equal(req.path, '/services/Cloud/');
        assert.deepEqual(await auth(req), { accessKey: ACCESS_KEY, signatureVersion: 2 });
      });
    }
  }

  it('signs the Host header lower-cased, keeping its port', async () => {
    const req = signV2(AWKWARD, { host: 'Cloud.Example.ORG:8773' });
    assert.equal(req.headers['host'], 'Cloud.Example.ORG:8773');
    assert.equal((await auth(req)).signatureVersion, 2);
    const noPort = { ...req, headers: { host: 'cloud.example.org' } };
    await assertRefused(auth(noPort), 'AuthFailure', /signature does not match/);
  });

  it('signs the path as received', async () => {
    const req = signV2(AWKWARD, { path: '/' });
    assert.equal((await auth(req)).accessKey, ACCESS_KEY);
    await assertRefused(auth({ ...req, path: '/services/Cloud/' }), 'AuthFailure');
  });

  it('accepts Expires instead of Timestamp until that time', async () => {
    const req = signV2(AWKWARD, { time: { Expires: '2026-03-14T15:30:00Z' } });
    assert.equal((await auth(req)).signatureVersion, 2);
    const later = new Date('2026-03-14T15:29:59Z');
    assert.equal((await auth(req, { now: later })).signatureVersion, 2);
  });

  it('accepts Timestamps with milliseconds, and without a zone as UTC', async () => {
    for (const Timestamp of ['2026-03-14T15:09:26.123Z', '2026-03-14T15:09:26']) {
      const req = signV2(AWKWARD, { time: { Timestamp } });
      assert.equal((await auth(req)).signatureVersion, 2, Timestamp);
    }
  });
});

describe('refusals', () => {
  const minutes = (n: number) => new Date(NOW.getTime() + n * MINUTE);

  /** name -> request that must be refused, the reason, and optionally what the message says. */
  const cases: [string, () => Promise<SignedRequest>, 'AuthFailure' | 'RequestExpired', RegExp?][] =
    [
      ['v4: wrong secret', () => v4Post(undefined, { secret: 'wrong' }), 'AuthFailure', /match/],
      [
        'v4 presigned: wrong secret',
        () => v4Presigned(undefined, { secret: OTHER_SECRET }),
        'AuthFailure',
        /match/,
      ],
      [
        'v2: wrong secret',
        async () => signV2(AWKWARD, { secret: 'wrong' }),
        'AuthFailure',
        /match/,
      ],
      [
        'v4: unknown access key',
        () => v4Post(undefined, { accessKey: 'AKIAUNKNOWN000000000' }),
        'AuthFailure',
        /access key/,
      ],
      [
        'v2: unknown access key',
        async () => signV2(AWKWARD, { accessKey: 'AKIAUNKNOWN000000000' }),
        'AuthFailure',
        /access key/,
      ],
      [
        'v4 GET: tampered query parameter',
        async () => {
          const req = await v4Get(AWKWARD);
          return { ...req, query: req.query.replace('i-0123456789abcdef0', 'i-0123456789abcdef1') };
        },
        'AuthFailure',
        /match/,
      ],
      [
        'v4 presigned: tampered parameter',
        async () => {
          const req = await v4Presigned();
          return { ...req, query: req.query.replace('DescribeRegions', 'DescribeImages') };
        },
        'AuthFailure',
        /match/,
      ],
      [
        'v2 GET: tampered parameter',
        async () => withParams(signV2(AWKWARD), { 'Tag.1.Value': 'other' }),
        'AuthFailure',
        /match/,
      ],
      [
        'v2 POST: tampered parameter',
        async () => withParams(signV2(AWKWARD, { method: 'POST' }), { Action: 'DeleteTags' }),
        'AuthFailure',
        /match/,
      ],
      [
        'v4: tampered body, x-amz-content-sha256 sent',
        async () => {
          const req = await v4Post();
          return { ...req, body: req.body.replace('DescribeRegions', 'DescribeImages') };
        },
        'AuthFailure',
        /x-amz-content-sha256/,
      ],
      [
        'v4: tampered body, no x-amz-content-sha256',
        async () => {
          const req = await v4Post(undefined, { applyChecksum: false });
          return { ...req, body: req.body.replace('DescribeRegions', 'DescribeImages') };
        },
        'AuthFailure',
        /match/,
      ],
      [
        'v4: tampered signed header',
        async () => {
          const req = await v4Post();
          return { ...req, headers: { ...req.headers, 'content-type': 'text/plain' } };
        },
        'AuthFailure',
        /match/,
      ],
      [
        'v4: another method than signed',
        async () => ({ ...(await v4Post()), method: 'PUT' }),
        'AuthFailure',
        /match/,
      ],
      [
        'no signature at all',
        async () => ({
          method: 'GET',
          path: '/',
          query: 'Action=DescribeRegions&Version=2016-11-15',
          headers: { host: HOST },
          body: '',
          params: { Action: 'DescribeRegions', Version: VERSION },
        }),
        'AuthFailure',
        /not signed/,
      ],
      [
        'v2: Signature missing',
        async () => {
          const req = signV2(AWKWARD);
          const params = { ...req.params };
          delete params['Signature'];
          return { ...req, params };
        },
        'AuthFailure',
        /Signature/,
      ],
      [
        'v4 presigned: X-Amz-Signature missing',
        async () => {
          const req = await v4Presigned();
          return { ...req, query: req.query.replace(/&?X-Amz-Signature=[0-9a-f]+/, '') };
        },
        'AuthFailure',
        /X-Amz-Signature/,
      ],
      ...(
        [
          ['not AWS4', 'Bearer abc.def'],
          ['SigV2-style header', `AWS ${ACCESS_KEY}:c2lnbmF0dXJl`],
          ['empty', ''],
          ['no fields', 'AWS4-HMAC-SHA256 '],
          [
            'no Signature',
            `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, SignedHeaders=host`,
          ],
          [
            'bad Signature',
            `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=xyz`,
          ],
          [
            'bad SignedHeaders',
            `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, SignedHeaders=Host;X Y, Signature=${'a'.repeat(64)}`,
          ],
          [
            'short Credential',
            `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/ec2/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`,
          ],
          [
            'field without value',
            `AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=${'a'.repeat(64)}`,
          ],
          [
            'repeated field',
            `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, Credential=x, SignedHeaders=host, Signature=${'a'.repeat(64)}`,
          ],
        ] as const
      ).map(([what, value]): [string, () => Promise<SignedRequest>, 'AuthFailure'] => [
        `malformed Authorization header: ${what}`,
        async () => {
          const req = await v4Post();
          return { ...req, headers: { ...req.headers, authorization: value } };
        },
        'AuthFailure',
      ]),
      [
        'v4: signed 16 minutes ago',
        () => v4Post(undefined, { at: minutes(-16) }),
        'RequestExpired',
        /server time/,
      ],
      [
        'v4: signed 16 minutes in the future',
        () => v4Post(undefined, { at: minutes(16) }),
        'RequestExpired',
        /server time/,
      ],
      [
        'v2: Timestamp 16 minutes ago',
        async () => signV2(AWKWARD, { time: { Timestamp: minutes(-16).toISOString() } }),
        'RequestExpired',
      ],
      [
        'v2: Timestamp 16 minutes in the future',
        async () => signV2(AWKWARD, { time: { Timestamp: minutes(16).toISOString() } }),
        'RequestExpired',
      ],
      [
        'v2: Expires passed',
        async () => signV2(AWKWARD, { time: { Expires: minutes(-1).toISOString() } }),
        'RequestExpired',
        /expired/,
      ],
      [
        'v2: Expires in 2099',
        async () => signV2(AWKWARD, { time: { Expires: '2099-01-01T00:00:00Z' } }),
        'RequestExpired',
        /days after the server time/,
      ],
      [
        'v2: Expires a week and a day away',
        async () => signV2(AWKWARD, { time: { Expires: minutes(8 * 24 * 60).toISOString() } }),
        'RequestExpired',
        /7 days/,
      ],
      [
        'v2: Timestamp not a date',
        async () => signV2(AWKWARD, { time: { Timestamp: 'yesterday' } }),
        'AuthFailure',
      ],
      [
        'v4 presigned: expired',
        () => v4Presigned(undefined, { at: minutes(-6), expiresIn: 300 }),
        'RequestExpired',
        /expired/,
      ],
      [
        'v4 presigned: dated in the future',
        () => v4Presigned(undefined, { at: minutes(16) }),
        'RequestExpired',
      ],
      [
        'v4 presigned: X-Amz-Expires over a week',
        async () => {
          // The SDK will not presign for longer than a week, so stretch a valid one.
          const req = await v4Presigned(undefined, { expiresIn: 300 });
          return { ...req, query: req.query.replace('X-Amz-Expires=300', 'X-Amz-Expires=604801') };
        },
        'AuthFailure',
        /X-Amz-Expires/,
      ],
      [
        'v2: SignatureVersion=1',
        async () => signV2(AWKWARD, { signatureVersion: '1' }),
        'AuthFailure',
        /version '1'/,
      ],
      [
        'v2: SignatureMethod=HmacMD5',
        async () => signV2(AWKWARD, { signatureMethod: 'HmacMD5' }),
        'AuthFailure',
        /HmacMD5/,
      ],
      [
        'v4: scope date differs from X-Amz-Date',
        async () => {
          // Signed a minute before midnight; the scope claims the day before.
          const req = await v4Post(undefined, { at: new Date('2026-03-14T23:59:00Z') });
          const authorization = String(req.headers['authorization']).replace(
            '/20260314/',
            '/20260313/',
          );
          return { ...req, headers: { ...req.headers, authorization } };
        },
        'AuthFailure',
        /20260313/,
      ],
      [
        'v4 presigned: scope date differs from X-Amz-Date',
        async () => {
          const req = await v4Presigned();
          return { ...req, query: req.query.replace('%2F20260314%2F', '%2F20260315%2F') };
        },
        'AuthFailure',
        /20260315/,
      ],
      [
        'v4: signed for another region (us-west-2)',
        () => v4Post(undefined, { region: 'us-west-2' }),
        'AuthFailure',
        /scoped to a valid region, not 'us-west-2'/,
      ],
      [
        'v4 presigned: signed for another region (us-west-2)',
        () => v4Presigned(undefined, { region: 'us-west-2' }),
        'AuthFailure',
        /not 'us-west-2'/,
      ],
      [
        'v4: service s3 in the scope',
        () => v4Post(undefined, { service: 's3' }),
        'AuthFailure',
        /service 's3'/,
      ],
      [
        'v4 presigned: service sts in the scope',
        () => v4Presigned(undefined, { service: 'sts' }),
        'AuthFailure',
        /service 'sts'/,
      ],
      [
        'v4: UNSIGNED-PAYLOAD outside a presigned request',
        async () => {
          const req = await v4Post();
          return {
            ...req,
            headers: { ...req.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
          };
        },
        'AuthFailure',
        /unsigned payload/i,
      ],
      [
        'v4 presigned: UNSIGNED-PAYLOAD with a body',
        async () => {
          const req = await v4Presigned(undefined, {
            headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
          });
          return { ...req, method: 'POST', body: 'Action=TerminateInstances' };
        },
        'AuthFailure',
        /unsigned payload/i,
      ],
      [
        'v4 presigned: algorithm other than AWS4-HMAC-SHA256',
        async () => {
          const req = await v4Presigned();
          return { ...req, query: req.query.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512') };
        },
        'AuthFailure',
        /AWS4-HMAC-SHA512/,
      ],
      [
        'v4: a signed header is missing from the request',
        async () => {
          const req = await v4Post();
          const headers = { ...req.headers };
          delete headers['content-type'];
          return { ...req, headers };
        },
        'AuthFailure',
        /content-type/,
      ],
      [
        'v4: Host is not signed',
        async () => {
          const req = await v4Post();
          const authorization = String(req.headers['authorization']).replace(
            /SignedHeaders=[^,]+/,
            'SignedHeaders=content-type;x-amz-date',
          );
          return { ...req, headers: { ...req.headers, authorization } };
        },
        'AuthFailure',
        /Host/,
      ],
      [
        'v4: signed header names that exist on every object',
        async () => {
          const req = await v4Post();
          const authorization = String(req.headers['authorization']).replace(
            /SignedHeaders=[^,]+/,
            'SignedHeaders=constructor;host;tostring',
          );
          return { ...req, headers: { ...req.headers, authorization } };
        },
        'AuthFailure',
        /constructor/,
      ],
      [
        'v4 GET: malformed percent-encoding in the query',
        async () => {
          const req = await v4Get({ Action: 'DescribeRegions', Version: VERSION });
          return { ...req, query: `${req.query}&Bad=%E0%A4%A` };
        },
        'AuthFailure',
        /percent-encoding/,
      ],
    ];

  for (const [name, build, reason, message] of cases) {
    it(`refuses ${name} (${reason})`, async () => {
      await assertRefused(auth(await build()), reason, message);
    });
  }

  it('throws nothing but StratusError for garbage', async () => {
    const garbage: Partial<SignedRequest>[] = [
      { params: { Signature: '', AWSAccessKeyId: '' } },
      { params: { SignatureVersion: '2', Signature: 'x', AWSAccessKeyId: ACCESS_KEY } },
      { params: { ['__proto__']: 'x', Signature: 'x', AWSAccessKeyId: 'constructor' } },
      { query: 'X-Amz-Algorithm=AWS4-HMAC-SHA256' },
      { query: 'X-Amz-Signature=1&X-Amz-Signature=2&X-Amz-Algorithm=AWS4-HMAC-SHA256' },
      { query: '%%%&X-Amz-Credential' },
      { headers: { authorization: ['AWS4-HMAC-SHA256', 'x'] } },
      { headers: { authorization: 'AWS4-HMAC-SHA256 ,,,,=,=' } },
      {
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, SignedHeaders=host;__proto__, Signature=${'0'.repeat(64)}`,
          'x-amz-date': '20261340T256161Z',
        },
      },
      {
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20260314/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
          date: 'not a date',
        },
      },
    ];
    for (const g of garbage) {
      const req: SignedRequest = {
        method: 'GET',
        path: '/',
        query: '',
        headers: { host: HOST },
        body: '',
        params: {},
        ...g,
      };
      await assert.rejects(auth(req), StratusError, JSON.stringify(g));
    }
  });
});
