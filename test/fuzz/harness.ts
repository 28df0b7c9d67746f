// The fuzz suite's cloud, senders and checks, shared by the CI tests (test/fuzz/*.fuzz.test.ts)
// and the bench (bench/fuzz.ts). A request is sent as generated; its answer must come within a
// bound, must not be a 5xx, and must parse with what real clients parse it with: for EC2 the
// AWS SDK for JS's own deserializer of that operation (and strict XML 1.0, an
// Errors/Error/Code document for a refusal), for the OpenStack APIs JSON with the fault shape
// `{"<name>": {"code": <status>, "message": "..."}}`.
import * as sdk from '@aws-sdk/client-ec2';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { IdentityService } from '../../src/identity/index.js';
import { ec2Id } from '../../src/ids/index.js';
import { startTestCloud, type Credentials, type TestCloud } from '../support/ec2.js';
import { login, PASSWORD } from '../support/openstack.js';
import { ec2RequestArbitrary, EC2_ACTIONS, type Ec2Ids, type Ec2Request } from './ec2-requests.js';
import { RFC3986 } from './values.js';
import {
  openstackRequestArbitrary,
  type OpenStackIds,
  type OpenStackRequest,
} from './openstack-requests.js';

/** How long an answer may take before the request counts as a hang. */
export const ANSWER_BOUND_MS = 10_000;
/** The seed the CI tests use unless STRATUS_FUZZ_SEED names another. */
export const DEFAULT_SEED = 13_004;

export function fuzzSeed(): number {
  const s = process.env.STRATUS_FUZZ_SEED;
  if (s === undefined || s === '') return DEFAULT_SEED;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`STRATUS_FUZZ_SEED must be an integer, not ${s}`);
  return n;
}

export interface FuzzCloud {
  t: TestCloud;
  member: Credentials;
  ec2Ids: Ec2Ids;
  openstackIds: OpenStackIds;
  /** Origins of the OpenStack APIs. */
  urls: { compute: string; image: string; identity: string };
  tokens: { member: string; admin: string };
  stop(): Promise<void>;
}

/** A test cloud (fake virt driver, SQLite) holding one of each thing the requests name. */
export async function startFuzzCloud(): Promise<FuzzCloud> {
  const t = await startTestCloud();
  try {
    const p = await t.newProject('fuzz');
    const identity = new IdentityService(t.cloud.database.db);
    await identity.setPassword('admin', PASSWORD);
    await identity.setPassword('fuzz-user', PASSWORD);
    const image = await t.addImage({ name: 'fuzz-machine' });
    const kernel = await t.addImage({ name: 'fuzz-kernel', kind: 'kernel' });
    const ramdisk = await t.addImage({ name: 'fuzz-ramdisk', kind: 'ramdisk' });
    const own = await t.addImage({ name: 'fuzz-own', ownerProjectId: p.projectId });
    const key = await p.client.send(new sdk.CreateKeyPairCommand({ KeyName: 'fuzz-key' }));
    const sg = await p.client.send(
      new sdk.CreateSecurityGroupCommand({ GroupName: 'fuzz-sg', Description: 'fuzz' }),
    );
    const run = await p.client.send(
      new sdk.RunInstancesCommand({
        ImageId: ec2Id('ami', image.id),
        InstanceType: 'm1.nano' as sdk._InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'fuzz-key',
      }),
    );
    const instance = run.Instances?.[0]?.InstanceId as string;
    const address = await p.client
      .send(new sdk.AllocateAddressCommand({ Domain: 'vpc' }))
      .catch(() => undefined);
    const zones = await t.admin.send(new sdk.DescribeAvailabilityZonesCommand({}));
    const types = await t.admin.send(new sdk.DescribeInstanceTypesCommand({}));
    const [instanceRow] = await t.cloud.database.db
      .selectFrom('instances')
      .select('id')
      .where('projectId', '=', p.projectId)
      .execute();
    const users = await t.cloud.database.db.selectFrom('users').select('id').execute();
    const urls = {
      compute: new URL(t.cloud.urls?.compute as string).origin,
      image: new URL(t.cloud.urls?.image as string).origin,
      identity: new URL(t.cloud.urls?.identity as string).origin,
    };
    const tokens = {
      member: await login(`${urls.identity}/v3`, 'fuzz-user', 'fuzz'),
      admin: await login(`${urls.identity}/v3`, 'admin', 'admin'),
    };
    const flavors = (await (
      await fetch(`${urls.compute}/v2.1/flavors`, { headers: { 'x-auth-token': tokens.member } })
    ).json()) as { flavors: { id: string; name: string }[] };
    return {
      t,
      member: p.credentials,
      ec2Ids: {
        instances: [instance],
        images: [ec2Id('ami', image.id), ec2Id('ami', own.id)],
        kernels: [ec2Id('aki', kernel.id)],
        ramdisks: [ec2Id('ari', ramdisk.id)],
        securityGroups: [sg.GroupId as string],
        securityGroupNames: ['fuzz-sg', 'default'],
        keyNames: ['fuzz-key'],
        keyPairIds: [key.KeyPairId as string],
        allocations: address?.AllocationId ? [address.AllocationId] : [],
        publicIps: address?.PublicIp ? [address.PublicIp] : [],
        zones: (zones.AvailabilityZones ?? []).map((z) => z.ZoneName as string),
        instanceTypes: (types.InstanceTypes ?? []).map((x) => x.InstanceType as string),
        projectIds: [p.projectId, 'self', 'system'],
      },
      openstackIds: {
        servers: [(instanceRow as { id: string }).id],
        images: [image.id, kernel.id, own.id],
        flavors: flavors.flavors.flatMap((f) => [f.id, f.name]),
        keypairs: ['fuzz-key'],
        users: users.map((u) => u.id),
        projects: [p.projectId],
      },
      urls,
      tokens,
      stop: () => t.stop(),
    };
  } catch (err) {
    await t.stop();
    throw err;
  }
}

/** What one request got: its status, how long it took, and what was wrong with the answer. */
export interface Outcome {
  /** One line naming the request, for reports. */
  label: string;
  /** 0 when no answer came. */
  status: number;
  ms: number;
  problems: string[];
  /** A 5xx, a hang, or an answer the clients cannot parse. */
  kind?: '5xx' | 'hang' | 'unparsable' | 'no answer';
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** Sends with a bound; a request still unanswered after it is a hang. */
async function timedFetch(url: string, init: RequestInit): Promise<Answer | { failed: string }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ANSWER_BOUND_MS) });
    const body = await res.text();
    return { status: res.status, headers: res.headers, body, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return { failed: 'hang' };
    return { failed: `${e.message}: ${e.cause?.code ?? ''} ${e.cause?.message ?? ''}` };
  }
}

function bytes(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** SHA-256 for the signer from node's crypto (the pure-JS one is slow on long bodies). */
class Sha256 {
  private hash: Hash | Hmac;
  private readonly secret: Buffer | undefined;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined ? undefined : bytes(secret);
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

/** What a well-formed client can sign: lone surrogates as U+FFFD. */
const wellFormed = (v: string) =>
  v.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

function short(s: string, n = 120): string {
  const j = JSON.stringify(s);
  return j.length > n ? `${j.slice(0, n)}...(${s.length} chars)` : j;
}

export function ec2Label(r: Ec2Request): string {
  const pairs = r.params
    .filter(([k]) => k !== 'Action' && k !== 'Version')
    .map(([k, v]) => `${short(k, 40)}=${short(v, 40)}`);
  return `EC2 ${r.method} ${r.path} ${short(r.action, 40)} [${r.who}, ${r.auth}${r.method === 'POST' && r.contentType !== 'application/x-www-form-urlencoded; charset=utf-8' ? `, content-type ${JSON.stringify(r.contentType ?? null)}` : ''}] ${pairs.join(' ')}`.slice(
    0,
    600,
  );
}

/** Sends an EC2 request, signed (or mis-signed) as it says. */
async function sendEc2(cloud: FuzzCloud, r: Ec2Request): Promise<Answer | { failed: string }> {
  const url = new URL(`${new URL(cloud.t.endpoint).origin}${r.path}`);
  const real = r.who === 'admin' ? cloud.t.adminCredentials : cloud.member;
  const credentials =
    r.auth === 'wrong-secret'
      ? { ...real, secretAccessKey: `${real.secretAccessKey}x` }
      : r.auth === 'unknown-key'
        ? { ...real, accessKeyId: 'AKIANOSUCHKEY0000000' }
        : real;
  const query = Object.create(null) as Record<string, string | string[]>;
  if (r.method === 'GET') {
    for (const [key, value] of r.params) {
      // The SDK's signer encodes the query itself, and cannot encode a lone surrogate.
      const [k, v] = [wellFormed(key), wellFormed(value)];
      const had = query[k];
      query[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
    }
  }
  const body =
    r.method === 'POST' ? r.params.map(([k, v]) => `${RFC3986(k)}=${RFC3986(v)}`).join('&') : '';
  const headers: Record<string, string> = { host: url.host };
  if (r.method === 'POST' && r.contentType !== undefined) headers['content-type'] = r.contentType;
  let sent = headers;
  if (r.auth !== 'unsigned') {
    const signer = new SignatureV4({
      credentials,
      region: cloud.t.region,
      service: 'ec2',
      sha256: Sha256,
    });
    const signed = await signer.sign(
      {
        method: r.method,
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query,
        headers,
        body: r.method === 'POST' ? body : undefined,
      },
      r.auth === 'stale-date' ? { signingDate: new Date(Date.now() - 3_600_000) } : {},
    );
    sent = signed.headers;
  }
  const qs = Object.entries(query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${RFC3986(k)}=${RFC3986(x)}`))
    .join('&');
  const { host: _host, ...fetchHeaders } = sent;
  return timedFetch(`${url.origin}${url.pathname}${qs ? `?${qs}` : ''}`, {
    method: r.method,
    headers: fetchHeaders,
    body: r.method === 'POST' ? body : undefined,
  });
}

/**
 * The AWS SDK's own deserializer for `action` (DescribeRegions' for actions the SDK does not
 * have): an EC2 client whose transport hands back the answer we got instead of sending.
 */
let canned: Answer | undefined;
const deserializer = new sdk.EC2Client({
  region: 'fuzz',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'fuzz', secretAccessKey: 'fuzz' },
  maxAttempts: 1,
  requestHandler: {
    handle: async () => {
      const a = canned as Answer;
      const headers: Record<string, string> = {};
      a.headers.forEach((v, k) => (headers[k] = v));
      return {
        response: {
          statusCode: a.status,
          reason: '',
          headers,
          body: Readable.from([Buffer.from(a.body)]),
        },
      };
    },
  },
});

type CommandClass = new (input: object) => Parameters<typeof deserializer.send>[0];

async function sdkReads(action: string, a: Answer): Promise<string | undefined> {
  const known = Object.prototype.hasOwnProperty.call(EC2_ACTIONS, action);
  const Command = ((sdk as unknown as Record<string, CommandClass>)[
    known ? `${action}Command` : 'DescribeRegionsCommand'
  ] ?? sdk.DescribeRegionsCommand) as CommandClass;
  canned = a;
  try {
    await deserializer.send(new Command({}));
    if (a.status >= 300) return `the SDK took a ${a.status} for a success`;
    return undefined;
  } catch (err) {
    const e = err as Error & { $fault?: string; $metadata?: { httpStatusCode?: number } };
    if (/Deserialization error/.test(e.message) || !(err instanceof sdk.EC2ServiceException)) {
      return `the AWS SDK could not read it: ${e.name}: ${e.message.split('\n')[0]}`;
    }
    if (a.status < 300) return `the SDK read a ${a.status} as the error ${e.name}`;
    if (e.$metadata?.httpStatusCode !== a.status) return 'the SDK saw another status';
    return undefined;
  }
}

const xml = new XMLParser();

/** What is wrong with an EC2 answer (nothing: an empty list). */
export async function ec2Problems(action: string, a: Answer): Promise<string[]> {
  const problems: string[] = [];
  if (a.status >= 500) problems.push(`status ${a.status}`);
  const valid = XMLValidator.validate(a.body);
  if (valid !== true) problems.push(`not XML 1.0: ${valid.err.msg}`);
  else if (a.status >= 400) {
    const doc = xml.parse(a.body) as {
      Response?: { Errors?: { Error?: { Code?: unknown; Message?: unknown } } };
    };
    const error = doc.Response?.Errors?.Error;
    if (!error || typeof error.Code !== 'string' || error.Code === '')
      problems.push('a refusal without Response/Errors/Error/Code');
    else if (error.Message === undefined) problems.push('a refusal without a Message');
  }
  const sdkProblem = await sdkReads(action, a);
  if (sdkProblem) problems.push(sdkProblem);
  return problems;
}

export async function ec2Outcome(cloud: FuzzCloud, r: Ec2Request): Promise<Outcome> {
  const label = ec2Label(r);
  const a = await sendEc2(cloud, r);
  if ('failed' in a) {
    return {
      label,
      status: 0,
      ms: ANSWER_BOUND_MS,
      problems: [a.failed === 'hang' ? `no answer within ${ANSWER_BOUND_MS} ms` : a.failed],
      kind: a.failed === 'hang' ? 'hang' : 'no answer',
    };
  }
  const problems = await ec2Problems(r.action, a);
  return {
    label,
    status: a.status,
    ms: a.ms,
    problems: problems.map((p) => `${p} (answer: ${short(a.body, 300)})`),
    kind: a.status >= 500 ? '5xx' : problems.length > 0 ? 'unparsable' : undefined,
  };
}

export function openstackLabel(r: OpenStackRequest): string {
  const q = r.query.map(([k, v]) => `${RFC3986(k)}=${RFC3986(v)}`).join('&');
  const headers = Object.entries(r.headers)
    .filter(([k]) => k !== 'x-auth-token')
    .map(([k, v]) => `${k}: ${short(v, 40)}`);
  return `${r.service} ${r.method} ${short(r.path, 100)}${q ? `?${short(q, 100)}` : ''} [token ${r.token}] ${headers.join('; ')} ${r.body === undefined ? '' : `body ${short(typeof r.body === 'string' ? r.body : '<bytes>', 160)}`}`.slice(
    0,
    600,
  );
}

/** What is wrong with an OpenStack answer (nothing: an empty list). */
export function openstackProblems(method: string, a: Answer): string[] {
  const problems: string[] = [];
  if (a.status >= 500) problems.push(`status ${a.status}`);
  const type = a.headers.get('content-type') ?? '';
  if (method === 'HEAD' || a.status === 204 || a.status === 304) {
    if (a.body !== '') problems.push(`a ${a.status} with a body`);
    return problems;
  }
  // An image download, or a success with nothing to say (the Compute API's 202 for a delete).
  if (a.status < 400 && (/octet-stream/.test(type) || a.body === '')) return problems;
  if (!/^application\/json/.test(type)) problems.push(`Content-Type '${type}', not JSON`);
  let doc: unknown;
  try {
    doc = JSON.parse(a.body);
  } catch {
    problems.push('the body is not JSON');
    return problems;
  }
  if (a.status >= 400) {
    const entries =
      doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? Object.entries(doc) : [];
    const fault = entries[0]?.[1] as { code?: unknown; message?: unknown } | undefined;
    if (entries.length !== 1 || !fault || typeof fault !== 'object')
      problems.push('a refusal that is not {"<name>": {...}}');
    else if (fault.code !== a.status) problems.push(`the fault's code is not ${a.status}`);
    else if (typeof fault.message !== 'string' || fault.message === '')
      problems.push('the fault has no message');
  }
  return problems;
}

function openstackUrl(cloud: FuzzCloud, r: OpenStackRequest): string {
  const q = r.query.map(([k, v]) => `${RFC3986(k)}=${RFC3986(v)}`).join('&');
  return `${cloud.urls[r.service]}${r.path}${q ? `?${q}` : ''}`;
}

export async function openstackOutcome(cloud: FuzzCloud, r: OpenStackRequest): Promise<Outcome> {
  const label = openstackLabel(r);
  const token =
    r.token === 'member' ? cloud.tokens.member : r.token === 'admin' ? cloud.tokens.admin : r.token;
  const headers: Record<string, string> = { ...r.headers };
  if (r.token === 'none') delete headers['x-auth-token'];
  else headers['x-auth-token'] = token;
  const a = await timedFetch(openstackUrl(cloud, r), {
    method: r.method,
    headers,
    body: r.body,
  });
  if ('failed' in a) {
    return {
      label,
      status: 0,
      ms: ANSWER_BOUND_MS,
      problems: [a.failed === 'hang' ? `no answer within ${ANSWER_BOUND_MS} ms` : a.failed],
      kind: a.failed === 'hang' ? 'hang' : 'no answer',
    };
  }
  const problems = openstackProblems(r.method, a);
  return {
    label,
    status: a.status,
    ms: a.ms,
    problems: problems.map((p) => `${p} (answer: ${short(a.body, 300)})`),
    kind: a.status >= 500 ? '5xx' : problems.length > 0 ? 'unparsable' : undefined,
  };
}

export function ec2Arbitrary(cloud: FuzzCloud): fc.Arbitrary<Ec2Request> {
  return ec2RequestArbitrary(cloud.ec2Ids);
}

export function openstackArbitrary(cloud: FuzzCloud): fc.Arbitrary<OpenStackRequest> {
  return openstackRequestArbitrary(cloud.openstackIds);
}

/** Throws, naming the request and what was wrong, when an outcome has a problem. */
export function assertGood(o: Outcome): void {
  if (o.problems.length > 0) {
    throw new Error(`${o.label}\n  -> ${o.status}: ${o.problems.join('; ')}`);
  }
}

/**
 * The CI property: `runs` requests from `arbitrary` (with `examples` first), each answered
 * within the bound and without a problem; says the seed (to replay it) and the statuses seen.
 */
export async function checkProperty<R>(
  t: { diagnostic(message: string): void },
  name: string,
  arbitrary: fc.Arbitrary<R>,
  outcome: (request: R) => Promise<Outcome>,
  options: { runs: number; examples: readonly R[] },
): Promise<void> {
  const seed = fuzzSeed();
  const said = `${name} fuzz seed ${seed} (replay: STRATUS_FUZZ_SEED=${seed}), ${options.runs} runs`;
  t.diagnostic(said);
  console.log(said);
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(arbitrary, async (request) => {
      const o = await outcome(request);
      statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
      assertGood(o);
    }),
    { numRuns: options.runs, seed, examples: options.examples.map((r) => [r]) },
  );
  t.diagnostic(
    `statuses: ${[...statuses]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ')}`,
  );
}
