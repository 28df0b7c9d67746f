import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { loadConfig } from '../config/index.js';
import { StratusError } from '../errors.js';
import { planLab, renderConfig, type LabOptions } from './plan.js';

const OPTIONS: LabOptions = {
  dir: '/var/lib/stratus-lab',
  hosts: 5,
  virt: 'fake',
  apiProcesses: 2,
  schedulers: 2,
  zones: 2,
  postgres: 'postgres://postgres@127.0.0.1:5432/postgres',
  rabbitmq: 'amqp://guest:guest@127.0.0.1:5672',
  name: 'lab',
};
const PORTS = Array.from({ length: 16 }, (_, i) => 20000 + i);

describe('lab plan', () => {
  it('names its own database, vhost and bus URL after the lab', () => {
    const plan = planLab(OPTIONS, PORTS);
    assert.equal(plan.database, 'stratus_lab');
    assert.equal(plan.databaseUrl, 'postgres://postgres@127.0.0.1:5432/stratus_lab');
    assert.equal(plan.vhost, 'stratus-lab');
    assert.equal(plan.busUrl, 'amqp://guest:guest@127.0.0.1:5672/stratus-lab');
  });

  it('starts the network service, the schedulers, the apis, the volume service, then one compute per host', () => {
    const plan = planLab(OPTIONS, PORTS);
    assert.deepEqual(
      plan.processes.map((p) => `${p.name}:${p.binary}@${p.host}`),
      [
        'network:network@lab-controller1',
        'scheduler1:scheduler@lab-controller1',
        'scheduler2:scheduler@lab-controller2',
        'api1:api@lab-controller1',
        'api2:api@lab-controller2',
        'volume:volume@lab-storage1',
        ...[1, 2, 3, 4, 5].map((i) => `lab-node${i}:compute@lab-node${i}`),
      ],
    );
    assert.deepEqual(
      plan.hosts.map((h) => [h.zone, h.namespace]),
      [
        ['lab-zone1', 'stratus-lab-node1'],
        ['lab-zone2', 'stratus-lab-node2'],
        ['lab-zone1', 'stratus-lab-node3'],
        ['lab-zone2', 'stratus-lab-node4'],
        ['lab-zone1', 'stratus-lab-node5'],
      ],
    );
    assert.equal(plan.apis[1]?.ec2, 'http://127.0.0.1:20008/');
    assert.equal(plan.apis[0]?.volume, 'http://127.0.0.1:20005/v3');
    assert.equal(plan.apis[0]?.network, 'http://127.0.0.1:20006');
    assert.equal(plan.apis[0]?.dashboard, 'http://127.0.0.1:20007/');
    assert.equal(plan.segments, undefined);
    assert.equal(plan.storage, undefined);
    const volume = plan.processes.find((p) => p.binary === 'volume');
    assert.equal(volume?.settings['volume.nbdAddress'], undefined);
  });

  it('writes config files the real loader reads, each host with its own state dir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-lab-plan-'));
    try {
      const plan = planLab({ ...OPTIONS, dir, settings: { 'quota.instances': 500 } }, PORTS);
      const dirs = new Set<string>();
      for (const p of plan.processes) {
        const file = path.join(dir, `${p.name}.toml`);
        fs.writeFileSync(file, renderConfig(p));
        const config = loadConfig({ file, env: {} });
        assert.equal(config.host, p.host);
        assert.equal(config.transport, plan.busUrl);
        assert.equal(config.database, plan.databaseUrl);
        assert.equal(config.quota.instances, 500);
        if (p.binary === 'compute') {
          dirs.add(config.stateDir);
          assert.equal(config.dataPlane.namespace, `stratus-lab-${p.host.slice(4)}`);
        }
        if (p.name === 'api2')
          assert.deepEqual(config.api.ec2Listen, { host: '127.0.0.1', port: 20008 });
      }
      assert.equal(dirs.size, 5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives qemu hosts the segment interfaces and public addresses', () => {
    const plan = planLab({ ...OPTIONS, virt: 'qemu', hosts: 3 }, PORTS);
    assert.deepEqual(plan.segments, {
      flat: 'stratus-lab-flat',
      public: 'stratus-lab-pub',
      storage: 'stratus-lab-stor',
    });
    const node3 = plan.processes.find((p) => p.name === 'lab-node3');
    const doc = parse(renderConfig(node3 as never)) as { dataPlane: Record<string, string> };
    assert.deepEqual(
      { ...doc.dataPlane },
      {
        namespace: 'stratus-lab-node3',
        mode: 'namespace',
        flatInterface: 'flat0',
        publicInterface: 'pub0',
        publicAddress: '172.24.4.13/24',
      },
    );
    const network = plan.processes.find((p) => p.name === 'network');
    assert.equal(network?.settings['network.floatingRange'], '172.24.4.128/25');
  });

  it('puts the storage host on the storage segment, its storage daemon serving NBD there', () => {
    const plan = planLab({ ...OPTIONS, virt: 'qemu', hosts: 2 }, PORTS);
    assert.deepEqual(plan.storage, {
      host: 'lab-storage1',
      namespace: 'stratus-lab-storage1',
      address: '10.98.0.2/24',
    });
    assert.deepEqual(
      plan.hosts.map((h) => h.storageAddress),
      ['10.98.0.11/24', '10.98.0.12/24'],
    );
    const volume = plan.processes.find((p) => p.binary === 'volume') as never;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-plan-'));
    try {
      const file = path.join(dir, 'volume.toml');
      fs.writeFileSync(file, renderConfig(volume));
      const config = loadConfig({ file, env: {} });
      assert.equal(config.host, 'lab-storage1');
      assert.deepEqual(config.volume, {
        nbdAddress: '10.98.0.2',
        nbdNamespace: 'stratus-lab-storage1',
        nbdPort: 0,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with --overlay, adds the underlay and sets every host up for project networks, node 1 as the network host', () => {
    const plan = planLab({ ...OPTIONS, virt: 'qemu', hosts: 2, overlay: true }, PORTS);
    assert.equal(plan.segments?.underlay, 'stratus-lab-ul');
    const dataPlane = (name: string) =>
      (
        parse(renderConfig(plan.processes.find((p) => p.name === name) as never)) as {
          dataPlane: Record<string, string>;
        }
      ).dataPlane;
    const [node1, node2] = [dataPlane('lab-node1'), dataPlane('lab-node2')];
    assert.deepEqual(
      [node1.underlayInterface, node1.underlayAddress, node1.networkHost, node1.routerInterface],
      ['ul0', '10.99.0.11/24', 'true', 'pub1'],
    );
    assert.deepEqual(
      [node2.underlayAddress, node2.networkHost, node2.routerInterface],
      ['10.99.0.12/24', undefined, undefined],
    );
    assert.deepEqual(plan.hosts[1]?.overlay, {
      namespace: 'stratus-lab-node2-ov',
      underlayAddress: '10.99.0.12/24',
      networkHost: false,
    });
    // The config each host runs from loads.
    for (const p of plan.processes.filter((x) => x.binary === 'compute')) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-plan-'));
      try {
        const file = path.join(dir, 'c.toml');
        fs.writeFileSync(file, renderConfig(p));
        assert.equal(loadConfig({ file, env: {} }).dataPlane.underlayInterface, 'ul0');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('refuses bad options with a message naming the option', () => {
    const refused = (o: Partial<LabOptions>, pattern: RegExp) =>
      assert.throws(
        () => planLab({ ...OPTIONS, ...o }, PORTS),
        (err: unknown) =>
          err instanceof StratusError && err.kind === 'invalid' && pattern.test(err.message),
      );
    refused({ hosts: 0 }, /--hosts/);
    refused({ zones: 6 }, /--zones/);
    refused({ name: 'Bad-Name' }, /--name/);
    refused({ postgres: 'mysql://x' }, /--postgres/);
    refused({ settings: { 'no.such': 1 } }, /no option 'no\.such'/);
    refused({ settings: { 'api.tlsCertFile': '/x.pem' } }, /api\.tlsCertFile: a lab serves/);
    refused({ overlay: true }, /--overlay needs --virt qemu/);
  });
});
