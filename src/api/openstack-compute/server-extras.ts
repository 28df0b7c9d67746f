// What a server's views show beyond its instance row, read for a page of servers at once: the
// name (the instance's `Name` tag, which EC2 shows too), security groups, addresses, metadata,
// the Compute API's details and tags, the flavor (embedded from 2.47), server groups (2.71)
// and the state of the server's host (host_status, 2.16).
import type { InstanceRow } from '../../db/index.js';
import type { ApiServices } from '../services.js';
import type { ServerExtras } from './views.js';

/** The tag that holds a server's name (EC2 shows the same tag as the instance's Name). */
export const NAME_TAG = 'Name';

export type ExtrasReader = (
  rows: readonly InstanceRow[],
  opts?: { serverGroups?: boolean; hostStatus?: boolean },
) => Promise<Map<string, ServerExtras>>;

export function serverExtrasReader(services: ApiServices): ExtrasReader {
  const { instances: ops, tags, addresses, securityGroups: groups } = services;
  return async (rows, opts = {}) => {
    const ids = rows.map((r) => r.id);
    const [
      tagRows,
      groupLinks,
      fixed,
      floating,
      metadata,
      details,
      flavors,
      serverGroups,
      hosts,
      volumes,
      ports,
    ] = await Promise.all([
      tags.of(ids),
      ops.securityGroupsOf(ids),
      addresses.fixedByInstance(ids),
      addresses.floatingByInstance(ids),
      ops.metadataOf(ids),
      ops.serverDetailsOf(ids),
      ops.flavors(),
      opts.serverGroups ? services.serverGroups.ofInstances(ids) : undefined,
      opts.hostStatus && rows.some((r) => r.host) ? services.hosts.computeHosts() : undefined,
      services.volumes.ofInstances(ids),
      services.projectNetworks.instanceAddresses(ids),
    ]);
    // host_status (2.16) as the Compute API defines it: DOWN when the host's compute service
    // misses its heartbeats, MAINTENANCE when an operator disabled it, UP otherwise; UNKNOWN
    // for a host that never registered, '' for a server without a host.
    const hostStatus = new Map(
      (hosts ?? []).map((h) => [
        h.host,
        h.state === 'down' ? 'DOWN' : !h.enabled ? 'MAINTENANCE' : 'UP',
      ]),
    );
    const groupNames = new Map(
      (await groups.byIds([...new Set([...groupLinks.values()].flat())])).map((g) => [
        g.id,
        g.name,
      ]),
    );
    const flavorById = new Map(flavors.map((f) => [f.id, f]));
    return new Map(
      rows.map((r) => {
        const group = serverGroups?.get(r.id);
        const extras: ServerExtras = {
          name: (tagRows.get(r.id) ?? []).find((t) => t.key === NAME_TAG)?.value ?? '',
          securityGroups: (groupLinks.get(r.id) ?? []).flatMap((g) => groupNames.get(g) ?? []),
          volumes: (volumes.get(r.id) ?? []).map((v) => ({
            id: v.id,
            deleteOnTermination: v.deleteOnTermination === 1,
          })),
          // A stopped or deleted server's address may have gone back to the pool.
          fixed:
            fixed.get(r.id) ??
            (r.privateIp
              ? { network: 'private', address: r.privateIp, mac: r.macAddress }
              : undefined),
          floating: floating.get(r.id),
          ports: ports.get(r.id) ?? [],
          metadata: metadata.get(r.id) ?? {},
          details: details.get(r.id),
          flavor: flavorById.get(r.flavorId),
          serverGroups: group ? [group.id] : [],
          hostStatus: r.host ? (hostStatus.get(r.host) ?? 'UNKNOWN') : '',
        };
        return [r.id, extras];
      }),
    );
  };
}
