// A server's metadata (`/servers/{id}/metadata`: list, merge with POST, replace with PUT; and
// `/servers/{id}/metadata/{key}`: show, set, delete) and its security groups
// (`/servers/{id}/os-security-groups`), in the Compute API's shapes and error codes: keys and
// values of at most 255 characters (400), at most 128 items (403 overLimit), a missing key
// 404, a change while the server is building or busy 409.
import type { SecurityGroupRuleRow } from '../../db/index.js';
import { notFound } from '../../errors.js';
import { parseMetadataBody, parseMetadataItem } from './requests.js';
import type { RouteDeps } from './routes.js';
import { findServer } from './servers.js';

type ServerParams = { Params: { id: string } };
type ItemParams = { Params: { id: string; key: string } };

const missingItem = (id: string) => notFound('instance', id, 'Metadata item was not found.');

export function serverMetadataRoutes({ app, services, caller }: RouteDeps): void {
  const ops = services.instances;
  const groups = services.securityGroups;
  const itemsOf = async (id: string) => (await ops.metadataOf([id])).get(id) ?? {};

  app.get<ServerParams>('/v2.1/servers/:id/metadata', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    return { metadata: await itemsOf(row.id) };
  });
  // POST merges the items given into the server's; PUT replaces them all.
  for (const [method, kind] of [
    ['POST', 'merge'],
    ['PUT', 'replace'],
  ] as const) {
    app.route<ServerParams>({
      method,
      url: '/v2.1/servers/:id/metadata',
      handler: async (request) => {
        const ctx = await caller(request);
        const items = parseMetadataBody(request.body);
        const row = await findServer(ops, ctx, request.params.id);
        return { metadata: await ops.changeMetadata(ctx, row, { kind, items }) };
      },
    });
  }

  app.get<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    const { key } = request.params;
    const value = (await itemsOf(row.id))[key];
    if (value === undefined) throw missingItem(row.id);
    return { meta: { [key]: value } };
  });
  app.put<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request) => {
    const ctx = await caller(request);
    const { key } = request.params;
    const value = parseMetadataItem(request.body, key);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeMetadata(ctx, row, { kind: 'merge', items: { [key]: value } });
    return { meta: { [key]: value } };
  });
  app.delete<ItemParams>('/v2.1/servers/:id/metadata/:key', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    await ops.changeMetadata(ctx, row, { kind: 'delete', key: request.params.key });
    return reply.code(204).send();
  });

  app.get<ServerParams>('/v2.1/servers/:id/os-security-groups', async (request) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    const ids = (await ops.securityGroupsOf([row.id])).get(row.id) ?? [];
    const [rows, rules] = await Promise.all([groups.byIds(ids), groups.rules(ids)]);
    const sources = new Map(
      (await groups.byIds([...new Set(rules.flatMap((r) => r.sourceGroupId ?? []))])).map((g) => [
        g.id,
        g,
      ]),
    );
    const ruleView = (r: SecurityGroupRuleRow) => {
      const source = r.sourceGroupId ? sources.get(r.sourceGroupId) : undefined;
      return {
        id: r.id,
        parent_group_id: r.groupId,
        ip_protocol: r.protocol === '-1' ? null : r.protocol,
        from_port: r.fromPort ?? -1,
        to_port: r.toPort ?? -1,
        ip_range: r.cidr ? { cidr: r.cidr } : {},
        group: source ? { name: source.name, tenant_id: source.projectId } : {},
      };
    };
    return {
      security_groups: rows.map((g) => ({
        id: g.id,
        name: g.name,
        description: g.description,
        tenant_id: g.projectId,
        // The Compute API's view of a group shows the rules for traffic coming in.
        rules: rules.filter((r) => r.groupId === g.id && r.direction === 'ingress').map(ruleView),
      })),
    };
  });
}
