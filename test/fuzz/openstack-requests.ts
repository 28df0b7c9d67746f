// OpenStack requests for the fuzz suite: Compute /v2.1, Image /v2 and Identity /v3, with
// methods and paths from each API's routes (and some that are none of them), ids real and
// not, query strings, JSON bodies shaped like what each route takes with hostile values in
// them, bodies that are not JSON or are too big, and good and bad microversion headers.
import fc from 'fast-check';
import {
  headerText,
  hostileString,
  maybe,
  NUMBER_TEXTS,
  plainName,
  randomUuid,
  RFC3986,
  weighted,
} from './values.js';

/** What already exists in the fuzz cloud, for paths and bodies that name real things. */
export interface OpenStackIds {
  servers: string[];
  images: string[];
  flavors: string[];
  keypairs: string[];
  users: string[];
  projects: string[];
}

export interface OpenStackRequest {
  service: 'compute' | 'image' | 'identity';
  method: string;
  /** The path as sent, already percent-encoded. */
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  /** Whose token goes in X-Auth-Token: a real one, none, or this text. */
  token: 'member' | 'admin' | 'none' | string;
}

type Service = OpenStackRequest['service'];

/** Routes of each API, `{placeholder}` for an id; the body kind a write to it takes. */
const ROUTES: Record<Service, [string, string | undefined][]> = {
  compute: [
    ['/', undefined],
    ['/v2.1', undefined],
    ['/v2.1/', undefined],
    ['/v2.1/flavors', undefined],
    ['/v2.1/flavors/detail', undefined],
    ['/v2.1/flavors/{flavor}', undefined],
    ['/v2.1/flavors/{flavor}/os-extra_specs', undefined],
    ['/v2.1/os-keypairs', 'keypair'],
    ['/v2.1/os-keypairs/{keypair}', undefined],
    ['/v2.1/limits', undefined],
    ['/v2.1/servers', 'server'],
    ['/v2.1/servers/detail', undefined],
    ['/v2.1/servers/{server}', 'server-update'],
    ['/v2.1/servers/{server}/action', 'action'],
    ['/v2.1/os-availability-zone', undefined],
    ['/v2.1/os-availability-zone/detail', undefined],
    ['/v2.1/{junk}', undefined],
  ],
  image: [
    ['/', undefined],
    ['/versions', undefined],
    ['/v2', undefined],
    ['/v2/', undefined],
    ['/v2/images', 'image'],
    ['/v2/images/{image}', 'image'],
    ['/v2/images/{image}/file', 'data'],
    ['/v2/images/{image}/members', undefined],
    ['/v2/images/{image}/members/{project}', undefined],
    ['/v2/{junk}', undefined],
  ],
  identity: [
    ['/', undefined],
    ['/v3', undefined],
    ['/v3/', undefined],
    ['/v3/auth/tokens', 'auth'],
    ['/v3/auth/catalog', undefined],
    ['/v3/auth/projects', undefined],
    ['/v3/users/{user}/projects', undefined],
    ['/v3/projects', undefined],
    ['/v3/projects/{project}', undefined],
    ['/v3/users', undefined],
    ['/v3/users/{user}', undefined],
    ['/v3/domains/default', undefined],
    ['/v3/{junk}', undefined],
  ],
};

/** Query parameters each API reads. */
const QUERY_KEYS: Record<Service, string[]> = {
  compute: ['limit', 'marker', 'name', 'status', 'all_tenants', 'changes-since', 'image', 'flavor'],
  image: [
    'name',
    'status',
    'owner',
    'visibility',
    'limit',
    'marker',
    'sort_key',
    'sort_dir',
    'os_hidden',
  ],
  identity: ['name', 'nocatalog', 'enabled', 'domain_id'],
};

/** A path segment: a real id, one of the right shape, or anything (percent-encoded). */
const PATH_JUNK = fc.oneof(
  hostileString.map((s) => RFC3986(s.slice(0, 2000))),
  fc.constantFrom(
    '%ff',
    '%00',
    '%c0%af',
    '%2e%2e',
    '..%2f',
    '%25',
    '%E2%82%AC',
    ';x',
    'a;b=c',
    '~',
    '%20',
  ),
);

const JSON_VALUES: fc.Arbitrary<unknown> = weighted<unknown>(
  [4, hostileString],
  [2, fc.integer()],
  [1, fc.constantFrom(0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER)],
  [1, fc.boolean()],
  [1, fc.constant(null)],
  [1, fc.array(hostileString, { maxLength: 3 })],
  [1, fc.dictionary(hostileString, hostileString, { maxKeys: 3 })],
  [1, fc.jsonValue({ maxDepth: 3 })],
);

/** A field value: a good one most of the time, else any JSON value. */
const field = (good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  weighted<unknown>([3, good], [2, JSON_VALUES]);

/** An object with these optional fields, and now and then one it does not know. */
function objectOf(
  fields: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.record(Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, maybe(a, 0.7)]))),
      maybe(fc.tuple(hostileString, JSON_VALUES), 0.15),
    )
    .map(([o, extra]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
      if (extra) out[extra[0]] = extra[1];
      return out;
    });
}

export function openstackRequestArbitrary(ids: OpenStackIds): fc.Arbitrary<OpenStackRequest> {
  const real = (list: string[]) => (list.length > 0 ? fc.constantFrom(...list) : plainName);
  const idOf = (list: string[]) =>
    weighted<string>(
      [5, real(list)],
      [2, randomUuid],
      [1, real(list).map((x) => x.toUpperCase())],
      [2, PATH_JUNK],
    );
  const placeholder: Record<string, fc.Arbitrary<string>> = {
    server: idOf(ids.servers),
    image: idOf(ids.images),
    flavor: idOf(ids.flavors),
    keypair: idOf(ids.keypairs),
    user: idOf(ids.users),
    project: idOf(ids.projects),
    junk: PATH_JUNK,
  };

  const serverBody = objectOf({
    server: objectOf({
      name: field(plainName),
      imageRef: field(real(ids.images)),
      flavorRef: field(real(ids.flavors)),
      min_count: field(fc.integer({ min: 0, max: 3 })),
      max_count: field(fc.integer({ min: 0, max: 3 })),
      key_name: field(real(ids.keypairs)),
      security_groups: field(
        fc.array(objectOf({ name: field(fc.constant('default')) }), { maxLength: 2 }),
      ),
      user_data: field(fc.base64String({ maxLength: 100 })),
      networks: field(fc.constantFrom('auto', 'none', [])),
      availability_zone: field(plainName),
      metadata: field(fc.dictionary(plainName, plainName, { maxKeys: 2 })),
      config_drive: field(fc.boolean()),
      'OS-DCF:diskConfig': field(fc.constantFrom('AUTO', 'MANUAL')),
      return_reservation_id: field(fc.boolean()),
    }),
  });
  const actionBody = weighted<unknown>(
    [2, fc.constantFrom({ 'os-stop': null }, { 'os-start': null }, { 'os-stop': {} })],
    [2, objectOf({ reboot: objectOf({ type: field(fc.constantFrom('SOFT', 'HARD', 'soft')) }) })],
    [
      2,
      objectOf({
        'os-getConsoleOutput': objectOf({
          length: field(
            fc.oneof(fc.integer({ min: -2, max: 100 }), fc.constantFrom(...NUMBER_TEXTS)),
          ),
        }),
      }),
    ],
    [1, fc.dictionary(hostileString, JSON_VALUES, { maxKeys: 2 })],
  );
  const keypairBody = objectOf({
    keypair: objectOf({
      name: field(plainName),
      public_key: field(
        fc.constant(
          'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fuzz',
        ),
      ),
      type: field(fc.constantFrom('ssh', 'x509')),
    }),
  });
  const imageBody = objectOf({
    name: field(plainName),
    disk_format: field(fc.constantFrom('qcow2', 'raw', 'aki', 'ari', 'ami', 'iso', 'vhd')),
    container_format: field(fc.constantFrom('bare', 'aki', 'ari', 'ami', 'ovf', 'docker')),
    visibility: field(fc.constantFrom('public', 'private', 'shared', 'community')),
    protected: field(fc.boolean()),
    tags: field(fc.array(plainName, { maxLength: 2 })),
    min_disk: field(fc.integer({ min: -1, max: 10 })),
    architecture: field(fc.constantFrom('x86_64', 'aarch64')),
    kernel_id: field(real(ids.images)),
    'owner_specified.openstack.md5': field(hostileString),
  });
  const authBody = objectOf({
    auth: objectOf({
      identity: objectOf({
        methods: field(fc.constantFrom(['password'], ['token'], [], ['password', 'token'])),
        password: objectOf({
          user: objectOf({
            name: field(fc.constantFrom('admin', 'fuzz-user', 'nobody')),
            id: field(real(ids.users)),
            password: field(fc.constantFrom('correct horse battery', 'wrong')),
            domain: objectOf({
              id: field(fc.constant('default')),
              name: field(fc.constant('Default')),
            }),
          }),
        }),
        token: objectOf({ id: field(hostileString) }),
      }),
      scope: field(
        fc.oneof(
          objectOf({
            project: objectOf({
              name: field(fc.constantFrom('admin', 'fuzz')),
              id: field(real(ids.projects)),
              domain: objectOf({ id: field(fc.constant('default')) }),
            }),
          }),
          fc.constantFrom('unscoped', { system: { all: true } }, { domain: { id: 'default' } }),
        ),
      ),
    }),
  });
  const bodies: Record<string, fc.Arbitrary<unknown>> = {
    server: serverBody,
    'server-update': objectOf({ server: objectOf({ name: field(plainName) }) }),
    action: actionBody,
    keypair: keypairBody,
    image: imageBody,
    auth: authBody,
  };

  /** Bodies each route takes as they are, so that writes succeed too (and change state). */
  const validBodies: Record<string, fc.Arbitrary<unknown>> = {
    server: fc.record({
      server: fc.record({
        name: plainName,
        imageRef: real(ids.images),
        flavorRef: real(ids.flavors),
      }),
    }),
    'server-update': fc.record({ server: fc.record({ name: plainName }) }),
    action: fc.constantFrom(
      { 'os-stop': null },
      { 'os-start': null },
      { reboot: { type: 'SOFT' } },
      { 'os-getConsoleOutput': { length: 10 } },
    ),
    keypair: fc.record({ keypair: fc.record({ name: plainName }) }),
    image: fc.record({
      name: plainName,
      disk_format: fc.constantFrom('qcow2', 'raw'),
      container_format: fc.constant('bare'),
    }),
    auth: fc.constant({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: {
              name: 'fuzz-user',
              domain: { id: 'default' },
              password: 'correct horse battery',
            },
          },
        },
        scope: { project: { name: 'fuzz', domain: { id: 'default' } } },
      },
    }),
  };

  /** A body as text: the route's JSON, any JSON, not JSON at all, or too big. */
  const bodyText = (kind: string | undefined): fc.Arbitrary<string> =>
    weighted<string>(
      [
        kind && validBodies[kind] ? 3 : 0,
        (kind && validBodies[kind] ? validBodies[kind] : JSON_VALUES).map(
          (v) => JSON.stringify(v) ?? 'null',
        ),
      ],
      [
        8,
        (kind && bodies[kind] ? bodies[kind] : JSON_VALUES).map((v) => JSON.stringify(v) ?? 'null'),
      ],
      [1, fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null')],
      [
        1,
        fc.constantFrom(
          '',
          ' ',
          '{',
          '{"a":',
          '[1,]',
          'nul',
          '\u0000',
          '{"server": {"name": "\\ud800"}}',
          '{"__proto__": {"x": 1}}',
          '{"constructor": {"prototype": {"x": 1}}}',
          '1e999',
          '"x"',
          '['.repeat(400_000) + ']'.repeat(400_000),
          '{"a":'.repeat(150_000) + '1' + '}'.repeat(150_000),
          '['.repeat(5000) + ']'.repeat(5000),
          '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
        ),
      ],
      [1, hostileString],
      [1, fc.constantFrom(1_100_000, 2_000_000).map((n) => `{"x":"${'a'.repeat(n)}"}`)],
    );

  const contentType = weighted<string | undefined>(
    [12, fc.constant('application/json')],
    [1, fc.constant(undefined)],
    [
      2,
      fc.constantFrom(
        'text/plain',
        'application/json; charset=utf-16',
        'application/json;charset=UTF-8',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        'multipart/form-data; boundary=x',
        'application/openstack-images-v2.1-json-patch',
        'application/json-patch+json',
        '*/*',
        '',
      ),
    ],
    [1, headerText],
  );
  const microversion = weighted<Record<string, string>>(
    [6, fc.constant({})],
    [
      2,
      fc
        .constantFrom(
          'compute 2.1',
          'compute 2.2',
          'compute latest',
          'compute 2.99',
          'compute 1.0',
          'compute',
          'compute 2.',
          'volume 3.0, compute 2.2',
          'COMPUTE 2.1',
          'compute 99999999999999999999.1',
        )
        .map((v) => ({ 'openstack-api-version': v })),
    ],
    [
      1,
      fc
        .constantFrom('2.1', '2.2', 'latest', '2.1000', '-1.5', '', ' ')
        .map((v) => ({ 'x-openstack-nova-api-version': v })),
    ],
    [1, headerText.map((v) => ({ 'openstack-api-version': v }))],
  );
  const token = weighted<string>(
    [10, fc.constant('member')],
    [3, fc.constant('admin')],
    [1, fc.constant('none')],
    [1, fc.oneof(headerText, randomUuid)],
  );

  const service = fc.constantFrom<Service>('compute', 'image', 'identity');
  return service.chain((svc) =>
    fc.constantFrom(...ROUTES[svc]).chain(([template, kind]) => {
      const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
      const method = weighted<string>(
        [8, fc.constant('GET')],
        [kind ? 6 : 1, fc.constant(kind === 'server-update' || kind === 'data' ? 'PUT' : 'POST')],
        [2, fc.constant('DELETE')],
        [1, fc.constantFrom('PUT', 'PATCH', 'HEAD', 'OPTIONS', 'POST')],
      );
      const query = fc.array(
        fc.tuple(
          weighted<string>([4, fc.constantFrom(...QUERY_KEYS[svc])], [1, hostileString]),
          weighted<string>(
            [
              3,
              fc.constantFrom(
                ...NUMBER_TEXTS,
                'ACTIVE',
                'active',
                'asc',
                'true',
                'public',
                'x*',
                '^a$',
                '.*',
              ),
            ],
            [2, fc.constantFrom(...ids.servers, ...ids.images)],
            [3, hostileString],
          ),
        ),
        { maxLength: 3 },
      );
      const data = weighted<Uint8Array>(
        [3, fc.uint8Array({ maxLength: 2000 })],
        [1, fc.constant(new Uint8Array(0))],
      );
      return fc
        .record({
          segments: fc.tuple(...names.map((n) => placeholder[n] as fc.Arbitrary<string>)),
          method,
          query: maybe(query, 0.4),
          contentType,
          microversion,
          token,
          subject: maybe(
            weighted<string>(
              [2, hostileString.map((s) => s.replace(/[^\x20-\x7e]/g, ''))],
              [1, randomUuid],
            ),
            0.3,
          ),
          text: bodyText(kind),
          data,
          trailing: weighted<string>(
            [12, fc.constant('')],
            [1, fc.constantFrom('/', '//', '/.', '?', '#x')],
          ),
        })
        .map((g): OpenStackRequest => {
          let i = 0;
          const path = template.replace(/\{\w+\}/g, () => g.segments[i++] as string) + g.trailing;
          const headers: Record<string, string> = { ...g.microversion };
          const bodyless = g.method === 'GET' || g.method === 'HEAD';
          // Never the fuzz's own tokens: a DELETE would revoke what every later request uses.
          if (g.subject !== undefined) headers['x-subject-token'] = g.subject;
          let body: string | Uint8Array | undefined;
          if (!bodyless) {
            if (kind === 'data' && g.method === 'PUT' && g.contentType !== 'application/json') {
              headers['content-type'] = 'application/octet-stream';
              body = g.data;
            } else {
              if (g.contentType !== undefined) headers['content-type'] = g.contentType;
              body = g.text;
            }
          }
          return {
            service: svc,
            method: g.method,
            path,
            query: g.query ?? [],
            headers,
            body,
            token: g.token,
          };
        });
    }),
  );
}
