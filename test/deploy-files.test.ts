// The deployment files the repository ships (deploy/): both example configs load through the
// config loader as the services would read them, and each systemd unit starts its service from
// the one config file, restarts on failure, waits for what it needs, and (compute) leaves the
// guests running when it stops. So they never drift from the code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, OPTIONS } from '../src/config/index.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));

/** The `[section]` of each commented-out `# key = value` line: `section.key`, and the line. */
function commentedKeys(text: string): { key: string; line: string }[] {
  let section = '';
  const out: { key: string; line: string }[] = [];
  for (const line of text.split('\n')) {
    const s = /^\[([A-Za-z.]+)\]$/.exec(line);
    if (s) section = s[1] as string;
    const m = /^# ([A-Za-z]+) = .+$/.exec(line);
    if (m) out.push({ key: section ? `${section}.${m[1]}` : (m[1] as string), line });
  }
  return out;
}

/** Loads a config text the way `stratus ... --config FILE` does, with no environment. */
function load(text: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-deploy-'));
  try {
    const file = path.join(dir, 'stratus.toml');
    fs.writeFileSync(file, text);
    return loadConfig({ flags: { config: file }, env: {} });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the example configs (deploy/config)', () => {
  const known = new Set(OPTIONS.map((o) => o.key));
  for (const name of ['controller', 'compute']) {
    it(`${name}.toml loads, and so do the keys it shows commented out that the code knows`, () => {
      const text = fs.readFileSync(path.join(DEPLOY, 'config', `${name}.toml`), 'utf8');
      const c = load(text);
      assert.match(c.database, /^postgres:\/\//);
      assert.match(c.transport, /^amqp:\/\//);
      assert.equal(c.stateDir, '/var/lib/stratus');
      if (name === 'compute') {
        assert.equal(c.virt.driver, 'qemu');
        assert.equal(c.dataPlane.mode, 'namespace');
        assert.equal(c.dataPlane.namespace, 'stratus-compute1');
      } else {
        assert.equal(c.api.ec2Listen.host, '0.0.0.0');
      }
      // A commented example becomes real by removing its '# ': it must load then too.
      const usable = commentedKeys(text).filter((k) => known.has(k.key));
      let uncommented = text;
      for (const k of usable) uncommented = uncommented.replace(k.line, k.line.slice(2));
      load(uncommented);
    });
  }

  it('every option the controller and compute hosts share has the same value in both', () => {
    const read = (n: string) => load(fs.readFileSync(path.join(DEPLOY, 'config', n), 'utf8'));
    const [controller, compute] = [read('controller.toml'), read('compute.toml')];
    assert.deepEqual(compute.service, controller.service);
    assert.deepEqual(compute.network, controller.network);
    assert.equal(compute.region, controller.region);
    assert.equal(new URL(compute.database).pathname, new URL(controller.database).pathname);
    assert.equal(new URL(compute.transport).pathname, new URL(controller.transport).pathname);
  });
});

describe('the systemd units (deploy/systemd)', () => {
  const unit = (binary: string) => {
    const text = fs.readFileSync(path.join(DEPLOY, 'systemd', `stratus-${binary}.service`), 'utf8');
    const values = new Map<string, string[]>();
    for (const m of text.matchAll(/^([A-Za-z]+)=(.*)$/gm)) {
      values.set(m[1] as string, [...(values.get(m[1] as string) ?? []), m[2] as string]);
    }
    return (key: string) => values.get(key) ?? [];
  };
  for (const binary of ['api', 'scheduler', 'network', 'compute', 'volume']) {
    it(`stratus-${binary}.service runs 'stratus ${binary}' from the one config file`, () => {
      const get = unit(binary);
      assert.deepEqual(get('ExecStart'), [
        `/usr/local/bin/stratus ${binary} --config /etc/stratus/stratus.toml`,
      ]);
      assert.deepEqual(get('Restart'), ['on-failure']);
      assert.deepEqual(get('WantedBy'), ['multi-user.target']);
      const after = get('After').join(' ').split(/\s+/);
      assert.ok(after.includes('network-online.target'));
      // The controller's services start after its database and broker; a compute host has
      // neither locally.
      const local = ['postgresql.service', 'rabbitmq-server.service'];
      for (const l of local) assert.equal(after.includes(l), binary !== 'compute', l);
      // Only compute leaves processes behind on purpose: its guests and data plane.
      assert.deepEqual(get('KillMode'), binary === 'compute' ? ['process'] : []);
    });
  }
});
