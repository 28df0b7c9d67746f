// Config loading: precedence, defaults and the messages for bad values.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { StratusError } from '../errors.js';
import { loadConfig } from './config.js';

function tomlFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-config-'));
  const file = path.join(dir, 'stratus.toml');
  fs.writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('fills every option with a default and derives paths from the state dir', () => {
    const c = loadConfig({ flags: { 'state-dir': '/tmp/x' }, env: {} });
    assert.equal(c.stateDir, '/tmp/x');
    assert.equal(c.database, 'sqlite:/tmp/x/stratus.sqlite');
    assert.equal(c.log.file, '/tmp/x/stratus.log');
    assert.equal(c.transport, 'in-process');
    assert.equal(c.virt.driver, 'fake');
    assert.deepEqual(c.api.ec2Listen, { host: '127.0.0.1', port: 8773 });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.api.ec2Listen));
  });

  it('takes the file, then the environment, then flags, the later winning', () => {
    const file = tomlFile(
      'region = "from-file"\n[service]\nheartbeatSeconds = 3\ndownAfterSeconds = 30\n',
    );
    const env = { STRATUS_SERVICE_HEARTBEAT_SECONDS: '4', STRATUS_REGION: 'from-env' };
    const c = loadConfig({ file, env, flags: { region: 'from-flag' } });
    assert.equal(c.region, 'from-flag');
    assert.equal(c.service.heartbeatSeconds, 4);
    assert.equal(c.service.downAfterSeconds, 30);
  });

  it('parses listen addresses including IPv6 and port 0', () => {
    const c = loadConfig({
      env: {},
      flags: { 'ec2-listen': '[::1]:0', 'status-listen': '0.0.0.0:9000' },
    });
    assert.deepEqual(c.api.ec2Listen, { host: '::1', port: 0 });
    assert.deepEqual(c.api.statusListen, { host: '0.0.0.0', port: 9000 });
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    [
      'a heartbeat that is not a number',
      { 'service-heartbeat-seconds': 'soon' },
      /service-heartbeat-seconds.*'soon' is not a number/,
    ],
    ['a negative busy timeout', { 'db-busy-timeout-ms': '-1' }, /below the minimum 0/],
    ['a fractional integer', { 'bus-call-timeout-ms': '1.5' }, /not a whole number/],
    ['an unknown virt driver', { virt: 'xen' }, /'xen' is not one of fake, qemu/],
    [
      'a listen address without a port',
      { 'ec2-listen': 'localhost' },
      /'localhost' is not HOST:PORT/,
    ],
    ['a port above 65535', { 'ec2-listen': '127.0.0.1:70000' }, /port 70000 is above 65535/],
    [
      'an unknown transport',
      { transport: 'carrier-pigeon' },
      /neither 'in-process' nor an amqp:\/\/ URL/,
    ],
    [
      'an unknown database',
      { database: 'mysql://x' },
      /neither sqlite:PATH nor a postgres:\/\/ URL/,
    ],
    ['an unknown flag', { 'no-such-flag': '1' }, /Unknown option --no-such-flag/],
    [
      'an in-flight deadline within the bus call timeout (a live launch would be taken over)',
      { 'in-flight-deadline-seconds': '2', 'bus-call-timeout-ms': '2000' },
      /inFlightDeadlineSeconds: 2 s must exceed the bus call timeout \(2000 ms\)/,
    ],
  ];
  for (const [what, flags, message] of bad) {
    it(`refuses ${what} with a clear message`, () => {
      assert.throws(
        () => loadConfig({ env: {}, flags }),
        (err: unknown) =>
          err instanceof StratusError && err.kind === 'invalid' && message.test(err.message),
      );
    });
  }

  it('names the environment variable that holds a bad value', () => {
    assert.throws(
      () => loadConfig({ env: { STRATUS_LOG_LEVEL: 'loud' }, flags: {} }),
      /environment STRATUS_LOG_LEVEL/,
    );
  });

  it('refuses a config file with an unknown key or bad TOML', () => {
    assert.throws(
      () => loadConfig({ env: {}, file: tomlFile('[service]\nheartbeat = 3\n') }),
      /unknown option 'service.heartbeat'/,
    );
    assert.throws(() => loadConfig({ env: {}, file: tomlFile('region = \n') }), /not valid TOML/);
    assert.throws(
      () => loadConfig({ env: {}, file: '/nonexistent/stratus.toml' }),
      /Cannot read the config file/,
    );
  });

  it('takes the multi-host interfaces, none by default', () => {
    const none = loadConfig({ flags: { 'state-dir': '/tmp/x' }, env: {} }).dataPlane;
    assert.equal(none.flatInterface, undefined);
    assert.equal(none.publicInterface, undefined);
    assert.equal(none.publicAddress, undefined);
    const c = loadConfig({
      flags: {
        'state-dir': '/tmp/x',
        'flat-interface': 'eth1',
        'public-interface': 'eth2',
        'public-address': '172.24.4.11/24',
      },
      env: {},
    }).dataPlane;
    assert.deepEqual(
      [c.flatInterface, c.publicInterface, c.publicAddress],
      ['eth1', 'eth2', '172.24.4.11/24'],
    );
    const file = tomlFile('[dataPlane]\nflatInterface = "bond0"\n');
    assert.equal(loadConfig({ file, env: {} }).dataPlane.flatInterface, 'bond0');
  });

  it('takes the overlay options, off by default, and refuses them half given', () => {
    const none = loadConfig({ flags: { 'state-dir': '/tmp/x' }, env: {} }).dataPlane;
    assert.deepEqual(
      [none.underlayInterface, none.underlayAddress, none.networkHost, none.routerInterface],
      [undefined, undefined, false, undefined],
    );
    const c = loadConfig({
      flags: {
        'state-dir': '/tmp/x',
        'underlay-interface': 'eth3',
        'underlay-address': '10.99.0.11/24',
        'network-host': 'true',
        'router-interface': 'eth2',
      },
      env: {},
    }).dataPlane;
    assert.deepEqual(
      [c.underlayInterface, c.underlayAddress, c.networkHost, c.routerInterface],
      ['eth3', '10.99.0.11/24', true, 'eth2'],
    );
    for (const [flags, pattern] of [
      [{ 'underlay-interface': 'eth3' }, /go together/],
      [{ 'underlay-interface': 'eth3', 'underlay-address': '10.99.0.11' }, /not an address/],
      [{ 'network-host': 'true' }, /need --underlay-interface/],
      [
        {
          'underlay-interface': 'eth3',
          'underlay-address': '10.99.0.11/24',
          'router-interface': 'eth2',
        },
        /is for the network host/,
      ],
    ] as const) {
      assert.throws(
        () => loadConfig({ flags: { 'state-dir': '/tmp/x', ...flags }, env: {} }),
        (err: Error & { kind?: string }) => err.kind === 'invalid' && pattern.test(err.message),
      );
    }
  });

  for (const [what, flags, pattern] of [
    [
      'a public interface without its address',
      { 'public-interface': 'eth2' },
      /needs --public-address/,
    ],
    [
      'an address without the interface',
      { 'public-address': '172.24.4.11/24' },
      /needs --public-interface/,
    ],
    [
      'an address without a prefix',
      { 'public-interface': 'eth2', 'public-address': '172.24.4.11' },
      /'172\.24\.4\.11' is not an address with its prefix/,
    ],
    ['a bad interface name', { 'flat-interface': 'eth 1' }, /'eth 1' is not an interface name/],
    [
      'one interface for both segments',
      { 'flat-interface': 'eth1', 'public-interface': 'eth1', 'public-address': '172.24.4.11/24' },
      /is also the flat interface/,
    ],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => loadConfig({ flags: { 'state-dir': '/tmp/x', ...flags }, env: {} }),
        (err: unknown) =>
          err instanceof StratusError && err.kind === 'invalid' && pattern.test(err.message),
      );
    });
  }
});
