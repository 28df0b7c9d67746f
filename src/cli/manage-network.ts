// `stratus manage network create|list`: the operator's networks (name, CIDR, gateway, DHCP
// range, DNS servers). Creating one writes its fixed addresses; overlapping an existing
// network is refused.
import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import type { Database } from '../db/index.js';
import { NetworkRepo } from '../db/index.js';
import { StratusError } from '../errors.js';
import { removeDataPlane } from '../network/index.js';
import { checkNetworkSpec } from '../network/network-spec.js';
import { addressRange, parseCidr, parseIpv4 } from '../network/index.js';
import { isoTime, printRecord, printRows, type Format } from './output.js';

type Leaf = (parent: Command, name: string, description: string) => Command;
type WithDatabase = (
  cmd: Command,
  action: (ctx: { config: Config; database: Database; format: Format }) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

export function addNetworkCommands(manage: Command, leaf: Leaf, withDatabase: WithDatabase): void {
  const network = manage.command('network').description('Guest networks (fixed IPs, DHCP).');
  const create = leaf(network, 'create', 'Create a network guests get fixed IPs from.')
    .argument('<name>')
    .requiredOption('--cidr <cidr>', 'The network, A.B.C.D/N (N from 8 to 30).')
    .option('--gateway <ip>', 'Gateway address on the bridge (default: the first address).')
    .option('--dhcp-start <ip>', 'First address handed out (default: after the gateway).')
    .option('--dhcp-end <ip>', 'Last address handed out (default: before the broadcast).')
    .option('--dns <ips>', 'DNS servers for guests, comma separated.', '');
  create.action(
    withDatabase(create, async ({ database, format }) => {
      const [name] = create.processedArgs as [string];
      const o = create.opts() as {
        cidr: string;
        gateway?: string;
        dhcpStart?: string;
        dhcpEnd?: string;
        dns: string;
      };
      const spec = checkNetworkSpec({ name, ...o });
      const repo = new NetworkRepo(database.db);
      for (const other of await repo.list()) {
        const c = parseCidr(other.cidr, 0);
        if (c && c.base < spec.cidr.base + spec.cidr.size && spec.cidr.base < c.base + c.size) {
          throw new StratusError(
            'conflict',
            `The network ${spec.cidrText} overlaps the network '${other.name}' (${other.cidr}).`,
            { resource: 'network', id: name },
          );
        }
      }
      const row = await repo.create(
        {
          name: spec.name,
          cidr: spec.cidrText,
          gateway: spec.gateway,
          dhcpStart: spec.dhcpStart,
          dhcpEnd: spec.dhcpEnd,
          dns: spec.dns,
        },
        addressRange(parseIpv4(spec.dhcpStart) as number, parseIpv4(spec.dhcpEnd) as number),
      );
      printRecord(format, {
        id: row.id,
        name: row.name,
        cidr: row.cidr,
        gateway: row.gateway,
        dhcp: `${row.dhcpStart}-${row.dhcpEnd}`,
        dns: row.dns,
      });
    }),
  );

  const list = leaf(network, 'list', 'List networks with their address use.');
  list.action(
    withDatabase(list, async ({ database, format }) => {
      const repo = new NetworkRepo(database.db);
      const counts = await repo.addressCounts();
      const rows = (await repo.list()).map((n) => ({
        id: n.id,
        name: n.name,
        cidr: n.cidr,
        gateway: n.gateway,
        dhcp: `${n.dhcpStart}-${n.dhcpEnd}`,
        dns: n.dns,
        addresses: counts.get(n.id)?.total ?? 0,
        in_use: counts.get(n.id)?.held ?? 0,
        created: isoTime(n.createdAt),
      }));
      printRows(format, rows, [
        'name',
        'cidr',
        'gateway',
        'dhcp',
        'dns',
        'addresses',
        'in_use',
        'created',
      ]);
    }),
  );

  const teardown = leaf(
    network,
    'teardown',
    "Remove this host's data plane (namespace, bridge, dnsmasq, firewall); stop its compute service first.",
  );
  teardown.action(
    withDatabase(teardown, async ({ config }) => {
      const name = config.dataPlane.namespace;
      await removeDataPlane(name);
      process.stdout.write(`Removed the data plane in namespace ${name}.\n`);
    }),
  );
}
