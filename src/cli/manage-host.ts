// `stratus manage host list|show`: the compute hosts as the operator sees them: state from the
// heartbeat, enabled or disabled (and why), zone, capacity as reported and under the
// allocation ratios, what the capacity claims use, and the instances each runs, with a host
// that is down shown as such on its instances.
import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import type { Database, Resources } from '../db/index.js';
import { notFound } from '../errors.js';
import { ec2Id } from '../ids/index.js';
import { HostInventory, type ComputeHostSummary } from '../scheduler/index.js';
import { isoTime, printRecord, printRows, type Format } from './output.js';

type Leaf = (parent: Command, name: string, description: string) => Command;
type WithDatabase = (
  cmd: Command,
  action: (ctx: { config: Config; database: Database; format: Format }) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

function inventory(config: Config, database: Database): HostInventory {
  return new HostInventory({
    db: database.db,
    downAfterMs: config.service.downAfterSeconds * 1000,
    ratios: config.scheduler,
  });
}

/** `used/limit (capacity)`, as the table shows each resource. */
function usage(h: ComputeHostSummary, key: keyof Resources): string {
  const limit = h.limits[key];
  const reported = h.capacity[key];
  return `${h.used[key]}/${limit}${limit === reported ? '' : ` (${reported})`}`;
}

/** One host as JSON shows it: every figure as a number. */
function hostRecord(h: ComputeHostSummary): Record<string, unknown> {
  return {
    host: h.host,
    zone: h.availabilityZone,
    state: h.state,
    status: h.enabled ? 'enabled' : 'disabled',
    disabled_reason: h.disabledReason,
    last_heartbeat: h.heartbeatAt ? isoTime(h.heartbeatAt) : null,
    architecture: h.architecture,
    capacity: { vcpus: h.capacity.vcpus, ram_mb: h.capacity.memoryMb, disk_gb: h.capacity.diskGb },
    allocatable: { vcpus: h.limits.vcpus, ram_mb: h.limits.memoryMb, disk_gb: h.limits.diskGb },
    used: { vcpus: h.used.vcpus, ram_mb: h.used.memoryMb, disk_gb: h.used.diskGb },
    instances: h.instances,
  };
}

export function addHostCommands(manage: Command, leaf: Leaf, withDatabase: WithDatabase): void {
  const host = manage
    .command('host')
    .description('Compute hosts: state, capacity, usage and instances.');
  const list = leaf(
    host,
    'list',
    'List compute hosts: state (from the heartbeat), status, zone, vCPUs, RAM (MiB) and disk (GiB) as used/allocatable (reported, when the allocation ratio changes it), instances.',
  );
  list.action(
    withDatabase(list, async ({ config, database, format }) => {
      const hosts = await inventory(config, database).computeHosts();
      if (format === 'json') {
        printRows(format, hosts.map(hostRecord), []);
        return;
      }
      printRows(
        format,
        hosts.map((h) => ({
          host: h.host,
          zone: h.availabilityZone,
          state: h.state,
          status: h.enabled ? 'enabled' : 'disabled',
          vcpus: usage(h, 'vcpus'),
          ram_mb: usage(h, 'memoryMb'),
          disk_gb: usage(h, 'diskGb'),
          instances: h.instances,
          disabled_reason: h.disabledReason,
        })),
        [
          'host',
          'zone',
          'state',
          'status',
          'vcpus',
          'ram_mb',
          'disk_gb',
          'instances',
          'disabled_reason',
        ],
      );
    }),
  );

  const show = leaf(
    host,
    'show',
    "Show one compute host and its live instances, each with its host's state.",
  ).argument('<host>');
  show.action(
    withDatabase(show, async ({ config, database, format }) => {
      const [name] = show.processedArgs as [string];
      const inv = inventory(config, database);
      const h = (await inv.computeHosts()).find((x) => x.host === name);
      if (!h) throw notFound('host', name);
      const instances = (await inv.instances({ host: name })).map(({ instance, hostState }) => ({
        id: ec2Id('i', instance.id),
        uuid: instance.id,
        project_id: instance.projectId,
        state: instance.vmState,
        host_state: hostState,
      }));
      if (format === 'json') {
        printRecord(format, { ...hostRecord(h), instance_list: instances });
        return;
      }
      const r = hostRecord(h);
      printRecord(format, {
        ...r,
        capacity: `${h.capacity.vcpus} vCPUs, ${h.capacity.memoryMb} MiB RAM, ${h.capacity.diskGb} GiB disk`,
        allocatable: `${h.limits.vcpus} vCPUs, ${h.limits.memoryMb} MiB RAM, ${h.limits.diskGb} GiB disk`,
        used: `${h.used.vcpus} vCPUs, ${h.used.memoryMb} MiB RAM, ${h.used.diskGb} GiB disk`,
      });
      if (h.state === 'down' && instances.length > 0) {
        process.stdout.write(
          `\nThe host is down: its ${instances.length} instance(s) are not known to be running.\n`,
        );
      }
      process.stdout.write('\n');
      if (instances.length === 0) {
        process.stdout.write('No live instances on this host.\n');
        return;
      }
      printRows(format, instances, ['id', 'uuid', 'project_id', 'state', 'host_state']);
    }),
  );
}
