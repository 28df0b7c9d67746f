// `stratus lab`: up, status, down and client namespaces of a cloud of several hosts on one
// machine (src/lab).
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  labClientAdd,
  labClientDel,
  labDown,
  labStatus,
  labUp,
  type LabOptions,
} from '../lab/index.js';
import { isoTime, printRows, type Format } from './output.js';

function defaultDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/stratus-lab';
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'stratus-lab');
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return n;
}

/** `KEY=VALUE` of --set, gathered into one record; numbers stay numbers. */
function setting(value: string, previous: Record<string, string | number> = {}) {
  const m = /^([A-Za-z][A-Za-z0-9.]*)=(.*)$/.exec(value);
  if (!m)
    throw new InvalidArgumentError('must be KEY=VALUE, KEY a config file key (quota.instances)');
  const v = m[2] as string;
  return { ...previous, [m[1] as string]: /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('must be a number of seconds > 0');
  return n;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

function dirOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--dir <dir>',
      'Directory of the lab (config files, logs, pid files, state).',
    ).default(defaultDir()),
  );
}

export function labCommand(): Command {
  const lab = new Command('lab').description(
    'A cloud of several hosts on one machine: a controller and N compute hosts as separate processes over PostgreSQL and RabbitMQ.',
  );

  const up = dirOption(lab.command('up').description('Start a lab.'))
    .option('--hosts <n>', 'Compute hosts.', wholeNumber, 3)
    .addOption(
      new Option('--virt <driver>', 'Virt driver of the hosts.')
        .choices(['fake', 'qemu'])
        .default('fake'),
    )
    .option('--api-processes <n>', 'api processes (each on ports of its own).', wholeNumber, 1)
    .option('--schedulers <n>', 'scheduler processes.', wholeNumber, 1)
    .option('--zones <n>', 'Availability zones the hosts are spread over.', wholeNumber, 1)
    .option(
      '--overlay',
      'With --virt qemu: an underlay segment too, and the hosts set up for project networks (VXLAN), lab-node1 as the network host.',
    )
    .option(
      '--postgres <url>',
      'Admin connection to PostgreSQL.',
      'postgres://postgres@127.0.0.1:5432/postgres',
    )
    .option(
      '--rabbitmq <url>',
      'RabbitMQ server (the lab adds its own vhost).',
      'amqp://guest:guest@127.0.0.1:5672',
    )
    .option(
      '--name <name>',
      'Names the database (stratus_NAME), vhost and namespaces (stratus-NAME-...).',
      'lab',
    )
    .option('--heartbeat-seconds <s>', 'service.heartbeatSeconds of every service.', seconds)
    .option('--down-after-seconds <s>', 'service.downAfterSeconds of every service.', seconds)
    .option('--log-level <level>', 'log.level of every service.')
    .option(
      '--set <key=value>',
      'A config file key for every service, e.g. --set quota.instances=1000 (repeatable).',
      setting,
    );
  up.action(async () => {
    // Commander's option names are LabOptions' fields; --set fills `settings`.
    const o = up.opts() as Omit<LabOptions, 'settings'> & {
      set?: Record<string, string | number>;
    };
    // Interrupted, up stops where it is and takes away what it made.
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => abort.abort(new Error(`interrupted by ${signal}`));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await labUp({ ...o, settings: o.set }, print, abort.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });

  const status = dirOption(
    lab
      .command('status')
      .description('Processes, services (from heartbeats) and hosts of the lab.'),
  ).addOption(
    new Option('--format <format>', 'Output format.').choices(['table', 'json']).default('table'),
  );
  status.action(async () => {
    const o = status.opts() as { dir: string; format: Format };
    const s = await labStatus(o.dir);
    if (o.format === 'json') {
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      return;
    }
    print(`Lab in ${s.dir}${s.ready ? '' : ' (not ready: up did not finish)'}`);
    print('\nProcesses:');
    printRows(
      'table',
      s.processes.map((p) => ({ ...p, state: p.running ? 'running' : 'not running' })),
      ['name', 'binary', 'host', 'pid', 'state'],
    );
    if (s.databaseError) {
      print(`\nThe database cannot be read: ${s.databaseError}`);
    } else {
      print('\nServices:');
      printRows(
        'table',
        s.services.map((v) => ({ ...v, last_heartbeat: isoTime(v.lastHeartbeat) })),
        ['binary', 'host', 'state', 'status', 'last_heartbeat'],
      );
      print('\nHosts:');
      printRows(
        'table',
        s.hosts.map((h) => ({ ...h, memory_mb: h.memoryMb })),
        ['host', 'zone', 'state', 'status', 'instances', 'vcpus', 'memory_mb'],
      );
    }
    if (s.storage) {
      print(
        `\nStorage host: ${s.storage.host} at ${s.storage.address} in ${s.storage.namespace}; storage daemon ${s.storage.daemonPid === null ? 'not running (it starts with the first attachment)' : `pid ${s.storage.daemonPid}`}`,
      );
    }
    if (s.clients.length > 0) {
      print('\nClients on the public segment:');
      printRows(
        'table',
        s.clients.map((c) => ({ ...c, use: `ip netns exec ${c.namespace} ...` })),
        ['name', 'address', 'namespace', 'use'],
      );
    }
  });

  const down = dirOption(
    lab
      .command('down')
      .description('Stop every process of the lab and take away everything it made.'),
  );
  down.action(async () => {
    await labDown((down.opts() as { dir: string }).dir, print);
  });

  const client = lab
    .command('client')
    .description('Client namespaces on the public segment (qemu labs): "another machine".');
  const add = dirOption(
    client.command('add').description('Add a client namespace.').argument('<name>'),
  );
  add.action(async () => {
    const c = await labClientAdd(
      (add.opts() as { dir: string }).dir,
      add.processedArgs[0] as string,
    );
    print(
      `Client '${c.name}': namespace ${c.namespace}, address ${c.address} on the public segment.`,
    );
    print(`  ip netns exec ${c.namespace} ping FLOATING-IP`);
    print(`  ip netns exec ${c.namespace} ssh root@FLOATING-IP`);
  });
  const del = dirOption(
    client.command('del').description('Remove a client namespace.').argument('<name>'),
  );
  del.action(async () => {
    await labClientDel((del.opts() as { dir: string }).dir, del.processedArgs[0] as string);
  });
  return lab;
}
