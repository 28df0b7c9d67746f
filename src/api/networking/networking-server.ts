// The OpenStack Networking API v2.0 on its own listener (issue 16): networks, subnets, ports
// and routers over the project network model; security groups and rules over the same groups
// EC2 and the Compute API show; floating IPs over the same floating addresses; extensions,
// quotas and network IP availabilities. Policy: a member sees its project's things and the
// shared and external networks, an admin sees all (and the provider attributes), a reader
// only reads. Every failure is `{"NeutronError": {"type", "message", "detail"}}` with a 4xx.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin, type RequestContext } from '../../context.js';
import type { SecurityGroupRuleRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import { stableUuid, type PortSpec, type ProjectPort } from '../../network/index.js';
import { createHttpServer, type HttpsCertificate } from '../http.js';
import { openstackProtocol } from '../openstack/protocol.js';
import { contextFromToken } from '../openstack/token-auth.js';
import type { ApiServices } from '../services.js';
import { networkFault, toNetworkFault, type NetworkFault } from './errors.js';
import { listing, pickFields } from './listing.js';
import {
  egressRuleView,
  EXTENSIONS,
  extensionView,
  FLOATING_IP_ATTRIBUTES,
  floatingIpView,
  IP_AVAILABILITY_ATTRIBUTES,
  ipAvailabilityView,
  NETWORK_ATTRIBUTES,
  networkView,
  PORT_ATTRIBUTES,
  portView,
  ROUTER_ATTRIBUTES,
  routerView,
  RULE_ATTRIBUTES,
  ruleView,
  SECURITY_GROUP_ATTRIBUTES,
  securityGroupView,
  SUBNET_ATTRIBUTES,
  subnetView,
  versionView,
} from './views.js';

export interface NetworkingServerOptions {
  logger: Logger;
  metrics: Metrics;
  tls?: HttpsCertificate | undefined;
  services: ApiServices;
}

const JSON_TYPE = 'application/json';
type Body = Record<string, unknown>;
type Query = Record<string, string | string[] | undefined>;
type IdParams = { Params: { id: string } };

export function createNetworkingServer(options: NetworkingServerOptions): FastifyInstance {
  const { services } = options;
  const { projectNetworks: model, network: networkClient, securityGroups: groups } = services;
  const app = createHttpServer({
    api: 'network',
    logger: options.logger,
    metrics: options.metrics,
    tls: options.tls,
    refusalBody: (status, message) => ({
      type: JSON_TYPE,
      body: JSON.stringify(networkFault(status, message).body),
    }),
  });
  const base = (request: FastifyRequest) =>
    `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const caller = (request: FastifyRequest) => contextFromToken(services.tokens, request);
  const send = (reply: FastifyReply, f: NetworkFault) =>
    reply.code(f.status).type(JSON_TYPE).send(f.body);
  const query = (request: FastifyRequest) => (request.query ?? {}) as Query;
  const zone = model.zone;

  openstackProtocol(app);

  app.get('/', async (request) => ({ versions: [versionView(base(request))] }));
  for (const url of ['/v2.0', '/v2.0/']) {
    app.get(url, async (request) => ({
      resources: [
        'network',
        'subnet',
        'port',
        'router',
        'floatingip',
        'security_group',
        'security_group_rule',
        'quota',
        'network_ip_availability',
        'extension',
      ].map((name) => {
        const collection =
          name === 'network_ip_availability'
            ? 'network-ip-availabilities'
            : name === 'security_group'
              ? 'security-groups'
              : name === 'security_group_rule'
                ? 'security-group-rules'
                : `${name}s`;
        return {
          name,
          collection,
          links: [{ rel: 'self', href: `${base(request)}/v2.0/${collection}` }],
        };
      }),
    }));
  }

  app.get('/v2.0/extensions', async (request) => {
    await caller(request);
    return { extensions: EXTENSIONS.map(extensionView) };
  });
  app.get<{ Params: { alias: string } }>('/v2.0/extensions/:alias', async (request) => {
    await caller(request);
    const e = EXTENSIONS.find((x) => x.alias === request.params.alias);
    if (!e) {
      throw notFound(
        'resource',
        request.params.alias,
        `Extension with alias ${request.params.alias} does not exist.`,
      );
    }
    return { extension: extensionView(e) };
  });

  // Networks

  const showNetwork = (ctx: RequestContext, n: Parameters<typeof networkView>[0]) =>
    networkView(n, { admin: isAdmin(ctx), zone });

  app.get('/v2.0/networks', async (request) => {
    const ctx = await caller(request);
    const rows = (await model.listNetworks(ctx)).map((n) => showNetwork(ctx, n));
    return listing(rows, query(request), {
      collection: 'networks',
      url: `${base(request)}/v2.0/networks`,
      attributes: NETWORK_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/networks/:id', async (request) => {
    const ctx = await caller(request);
    return {
      network: pickFields(
        showNetwork(ctx, await model.getNetwork(ctx, request.params.id)),
        query(request),
      ),
    };
  });
  app.post('/v2.0/networks', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'network', [
      'name',
      'description',
      'admin_state_up',
      'shared',
      'router:external',
      'mtu',
      'provider:network_type',
      'provider:physical_network',
      'provider:segmentation_id',
      'project_id',
      'tenant_id',
      'port_security_enabled',
      'availability_zone_hints',
    ]);
    const type = b['provider:network_type'];
    if (type !== undefined && type !== 'vxlan') {
      if (!isAdmin(ctx)) throw adminOnly('provider:network_type');
      throw invalid(
        `Network type ${String(type)} is not offered here; project networks are vxlan.`,
        {
          resource: 'parameter',
          id: 'provider:network_type',
          reason: 'unsupported',
        },
      );
    }
    if (b['provider:physical_network'] !== undefined && b['provider:physical_network'] !== null) {
      if (!isAdmin(ctx)) throw adminOnly('provider:physical_network');
      throw invalid('A vxlan network has no physical network.', {
        resource: 'parameter',
        id: 'provider:physical_network',
      });
    }
    if (b['port_security_enabled'] === false) {
      throw invalid('Port security cannot be turned off for a whole network here.', {
        resource: 'parameter',
        id: 'port_security_enabled',
        reason: 'unsupported',
      });
    }
    const network = await model.createNetwork(ctx, {
      name: str(b, 'name'),
      description: str(b, 'description'),
      adminStateUp: bool(b, 'admin_state_up'),
      shared: bool(b, 'shared'),
      external: bool(b, 'router:external'),
      mtu: int(b, 'mtu'),
      segmentationId: int(b, 'provider:segmentation_id'),
      projectId: project(b),
    });
    reply.code(201);
    return { network: showNetwork(ctx, network) };
  });
  app.put<IdParams>('/v2.0/networks/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'network', [
      'name',
      'description',
      'admin_state_up',
      'shared',
      'router:external',
    ]);
    const network = await model.updateNetwork(ctx, request.params.id, {
      name: str(b, 'name'),
      description: str(b, 'description'),
      adminStateUp: bool(b, 'admin_state_up'),
      shared: bool(b, 'shared'),
      external: bool(b, 'router:external'),
    });
    return { network: showNetwork(ctx, network) };
  });
  app.delete<IdParams>('/v2.0/networks/:id', async (request, reply) => {
    const ctx = await caller(request);
    await model.deleteNetwork(ctx, request.params.id);
    return reply.code(204).send();
  });

  // Subnets

  app.get('/v2.0/subnets', async (request) => {
    const ctx = await caller(request);
    return listing((await model.listSubnets(ctx)).map(subnetView), query(request), {
      collection: 'subnets',
      url: `${base(request)}/v2.0/subnets`,
      attributes: SUBNET_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/subnets/:id', async (request) => {
    const ctx = await caller(request);
    return {
      subnet: pickFields(subnetView(await model.getSubnet(ctx, request.params.id)), query(request)),
    };
  });
  app.post('/v2.0/subnets', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'subnet', [
      'name',
      'description',
      'network_id',
      'ip_version',
      'cidr',
      'gateway_ip',
      'enable_dhcp',
      'allocation_pools',
      'dns_nameservers',
      'host_routes',
      'project_id',
      'tenant_id',
      'ipv6_ra_mode',
      'ipv6_address_mode',
      'subnetpool_id',
      'prefixlen',
      'use_default_subnetpool',
      'service_types',
      'segment_id',
    ]);
    const version = b['ip_version'];
    if (version !== 4 && version !== '4') {
      throw invalid(
        version === undefined
          ? "Invalid input for operation: 'ip_version' must be specified."
          : `Invalid input for ip_version: only IPv4 subnets (4) are offered here, not ${String(version)}.`,
        { resource: 'parameter', id: 'ip_version', reason: 'unsupported' },
      );
    }
    for (const key of ['subnetpool_id', 'prefixlen', 'segment_id']) {
      if (b[key] !== undefined && b[key] !== null) {
        throw invalid(`${key} is not supported here; give a cidr.`, {
          resource: 'parameter',
          id: key,
          reason: 'unsupported',
        });
      }
    }
    const gateway = b['gateway_ip'];
    const subnet = await model.createSubnet(ctx, {
      networkId: required(str(b, 'network_id'), 'network_id'),
      cidr: required(str(b, 'cidr'), 'cidr'),
      name: str(b, 'name'),
      description: str(b, 'description'),
      gateway: gateway === null ? null : str(b, 'gateway_ip'),
      enableDhcp: bool(b, 'enable_dhcp'),
      allocationPools: list(b, 'allocation_pools')?.map((p) => {
        const o = obj(p, 'allocation_pools');
        return {
          start: required(str(o, 'start'), 'allocation_pools.start'),
          end: required(str(o, 'end'), 'allocation_pools.end'),
        };
      }),
      dnsNameservers: strings(b, 'dns_nameservers'),
      hostRoutes: routes(b),
      projectId: project(b),
    });
    reply.code(201);
    return { subnet: subnetView(subnet) };
  });
  app.put<IdParams>('/v2.0/subnets/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'subnet', [
      'name',
      'description',
      'enable_dhcp',
      'dns_nameservers',
      'host_routes',
    ]);
    const subnet = await model.updateSubnet(ctx, request.params.id, {
      name: str(b, 'name'),
      description: str(b, 'description'),
      enableDhcp: bool(b, 'enable_dhcp'),
      dnsNameservers: strings(b, 'dns_nameservers'),
      hostRoutes: routes(b),
    });
    return { subnet: subnetView(subnet) };
  });
  app.delete<IdParams>('/v2.0/subnets/:id', async (request, reply) => {
    const ctx = await caller(request);
    await model.deleteSubnet(ctx, request.params.id);
    return reply.code(204).send();
  });

  // Ports

  const PORT_KEYS = [
    'name',
    'description',
    'admin_state_up',
    'fixed_ips',
    'device_owner',
    'device_id',
    'security_groups',
    'port_security_enabled',
    'allowed_address_pairs',
    'binding:host_id',
    'binding:vnic_type',
    'binding:profile',
  ];
  const portChange = (ctx: RequestContext, b: Body): Omit<PortSpec, 'networkId'> => {
    if (b['binding:host_id'] !== undefined && !isAdmin(ctx)) throw adminOnly('binding:host_id');
    const vnic = b['binding:vnic_type'];
    if (vnic !== undefined && vnic !== 'normal') {
      throw invalid(`binding:vnic_type ${String(vnic)} is not offered here.`, {
        resource: 'parameter',
        id: 'binding:vnic_type',
        reason: 'unsupported',
      });
    }
    const hostId = b['binding:host_id'];
    return {
      name: str(b, 'name'),
      description: str(b, 'description'),
      adminStateUp: bool(b, 'admin_state_up'),
      fixedIps: list(b, 'fixed_ips')?.map((f) => {
        const o = obj(f, 'fixed_ips');
        return { subnetId: str(o, 'subnet_id'), ipAddress: str(o, 'ip_address') };
      }),
      deviceOwner: str(b, 'device_owner'),
      deviceId: str(b, 'device_id'),
      securityGroups: strings(b, 'security_groups'),
      portSecurityEnabled: bool(b, 'port_security_enabled'),
      allowedAddressPairs: list(b, 'allowed_address_pairs')?.map((p) => {
        const o = obj(p, 'allowed_address_pairs');
        return {
          ipAddress: required(str(o, 'ip_address'), 'allowed_address_pairs.ip_address'),
          macAddress: str(o, 'mac_address'),
        };
      }),
      ...(hostId === undefined
        ? {}
        : { bindingHost: hostId === '' ? null : str(b, 'binding:host_id') }),
    };
  };
  const showPort = (ctx: RequestContext, p: ProjectPort) => portView(p, { admin: isAdmin(ctx) });

  app.get('/v2.0/ports', async (request) => {
    const ctx = await caller(request);
    return listing(
      (await model.listPorts(ctx)).map((p) => showPort(ctx, p)),
      query(request),
      { collection: 'ports', url: `${base(request)}/v2.0/ports`, attributes: PORT_ATTRIBUTES },
    );
  });
  app.get<IdParams>('/v2.0/ports/:id', async (request) => {
    const ctx = await caller(request);
    return {
      port: pickFields(showPort(ctx, await model.getPort(ctx, request.params.id)), query(request)),
    };
  });
  app.post('/v2.0/ports', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'port', [
      ...PORT_KEYS,
      'network_id',
      'mac_address',
      'project_id',
      'tenant_id',
    ]);
    const change = portChange(ctx, b);
    // No groups named: the project's `default` group, made now if the project has none yet.
    if (
      change.securityGroups === undefined &&
      change.portSecurityEnabled !== false &&
      (project(b) ?? ctx.projectId) === ctx.projectId
    ) {
      change.securityGroups = (await groups.list(ctx, { names: ['default'] })).map((g) => g.id);
    }
    const port = await model.createPort(ctx, {
      ...change,
      networkId: required(str(b, 'network_id'), 'network_id'),
      macAddress: str(b, 'mac_address'),
      projectId: project(b),
    });
    reply.code(201);
    return { port: showPort(ctx, port) };
  });
  app.put<IdParams>('/v2.0/ports/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'port', PORT_KEYS);
    return {
      port: showPort(ctx, await model.updatePort(ctx, request.params.id, portChange(ctx, b))),
    };
  });
  app.delete<IdParams>('/v2.0/ports/:id', async (request, reply) => {
    const ctx = await caller(request);
    await model.deletePort(ctx, request.params.id);
    return reply.code(204).send();
  });

  // Routers

  const gatewayOf = (b: Body) => {
    const g = b['external_gateway_info'];
    if (g === undefined) return undefined;
    if (g === null) return null;
    const o = obj(g, 'external_gateway_info');
    if (o['external_fixed_ips'] !== undefined) {
      throw invalid('external_fixed_ips are not chosen here; the gateway is recorded only.', {
        resource: 'parameter',
        id: 'external_fixed_ips',
        reason: 'unsupported',
      });
    }
    if (o['network_id'] === undefined) return null;
    return {
      networkId: required(str(o, 'network_id'), 'external_gateway_info.network_id'),
      enableSnat: bool(o, 'enable_snat'),
    };
  };
  const showRouter = (ctx: RequestContext, r: Parameters<typeof routerView>[0]) =>
    routerView(r, { admin: isAdmin(ctx), zone });
  const ROUTER_KEYS = ['name', 'description', 'admin_state_up', 'external_gateway_info'];

  app.get('/v2.0/routers', async (request) => {
    const ctx = await caller(request);
    return listing(
      (await model.listRouters(ctx)).map((r) => showRouter(ctx, r)),
      query(request),
      {
        collection: 'routers',
        url: `${base(request)}/v2.0/routers`,
        attributes: ROUTER_ATTRIBUTES,
      },
    );
  });
  app.get<IdParams>('/v2.0/routers/:id', async (request) => {
    const ctx = await caller(request);
    return {
      router: pickFields(
        showRouter(ctx, await model.getRouter(ctx, request.params.id)),
        query(request),
      ),
    };
  });
  app.post('/v2.0/routers', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'router', [
      ...ROUTER_KEYS,
      'project_id',
      'tenant_id',
      'distributed',
      'ha',
      'availability_zone_hints',
    ]);
    for (const key of ['distributed', 'ha']) {
      if (b[key] !== undefined && !isAdmin(ctx)) throw adminOnly(key);
      if (b[key] === true) {
        throw invalid(`${key} routers are not offered here.`, {
          resource: 'parameter',
          id: key,
          reason: 'unsupported',
        });
      }
    }
    const router = await model.createRouter(ctx, {
      name: str(b, 'name'),
      description: str(b, 'description'),
      adminStateUp: bool(b, 'admin_state_up'),
      externalGateway: gatewayOf(b),
      projectId: project(b),
    });
    reply.code(201);
    return { router: showRouter(ctx, router) };
  });
  app.put<IdParams>('/v2.0/routers/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'router', ROUTER_KEYS);
    const router = await model.updateRouter(ctx, request.params.id, {
      name: str(b, 'name'),
      description: str(b, 'description'),
      adminStateUp: bool(b, 'admin_state_up'),
      externalGateway: gatewayOf(b),
    });
    return { router: showRouter(ctx, router) };
  });
  app.delete<IdParams>('/v2.0/routers/:id', async (request, reply) => {
    const ctx = await caller(request);
    await model.deleteRouter(ctx, request.params.id);
    return reply.code(204).send();
  });
  for (const action of ['add_router_interface', 'remove_router_interface'] as const) {
    app.put<IdParams>(`/v2.0/routers/:id/${action}`, async (request) => {
      const ctx = await caller(request);
      const b = obj(request.body ?? {}, 'The request body');
      for (const key of Object.keys(b)) {
        if (key !== 'subnet_id' && key !== 'port_id') {
          throw invalid(`Unrecognized attribute(s) '${key}'`, {
            resource: 'parameter',
            id: key,
            reason: 'unrecognized',
          });
        }
      }
      const what = { subnetId: str(b, 'subnet_id'), portId: str(b, 'port_id') };
      if (what.subnetId === undefined && what.portId === undefined) {
        throw invalid('Either subnet_id or port_id must be specified.', {
          resource: 'parameter',
          id: 'subnet_id',
        });
      }
      const done =
        action === 'add_router_interface'
          ? await model.addInterface(ctx, request.params.id, what)
          : await model.removeInterface(ctx, request.params.id, what);
      return {
        id: done.router.id,
        tenant_id: done.router.projectId,
        project_id: done.router.projectId,
        subnet_id: done.subnetId,
        subnet_ids: [done.subnetId],
        port_id: done.portId,
        network_id: (await model.getSubnet(ctx, done.subnetId).catch(() => undefined))?.networkId,
      };
    });
  }

  // Security groups and rules, over the groups EC2 and the Compute API show.

  /** The groups the caller may see, each with its rules as the API shows them. */
  const groupViews = async (ctx: RequestContext) => {
    const rows = await groups.list(ctx);
    const rules = await groups.rules(rows.map((g) => g.id));
    const defaults = new Set(rows.filter((g) => g.name === 'default').map((g) => g.id));
    const projectOf = new Map(rows.map((g) => [g.id, g.projectId]));
    const ruleJson = (r: SecurityGroupRuleRow) =>
      ruleView(r, projectOf.get(r.groupId) ?? '', defaults);
    return rows.map((g) => ({
      row: g,
      rules: [
        // The model keeps ingress rules; egress is open, shown as the rule Neutron makes.
        egressRuleView(
          {
            id: stableUuid(`egress:${g.id}`),
            groupId: g.id,
            projectId: g.projectId,
            createdAt: g.createdAt,
          },
          defaults,
        ),
        ...rules.filter((r) => r.groupId === g.id).map(ruleJson),
      ],
    }));
  };
  const findGroup = async (ctx: RequestContext, id: string) => {
    const found = (await groupViews(ctx)).find((g) => g.row.id === id);
    if (!found) throw notFound('security_group', id, `Security group ${id} does not exist`);
    return found;
  };

  app.get('/v2.0/security-groups', async (request) => {
    const ctx = await caller(request);
    const rows = (await groupViews(ctx)).map((g) => securityGroupView(g.row, g.rules));
    return listing(rows, query(request), {
      collection: 'security_groups',
      url: `${base(request)}/v2.0/security-groups`,
      attributes: SECURITY_GROUP_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/security-groups/:id', async (request) => {
    const ctx = await caller(request);
    const g = await findGroup(ctx, request.params.id);
    return { security_group: pickFields(securityGroupView(g.row, g.rules), query(request)) };
  });
  app.post('/v2.0/security-groups', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'security_group', [
      'name',
      'description',
      'project_id',
      'tenant_id',
      'stateful',
    ]);
    if (b['stateful'] === false) {
      throw invalid('Stateless security groups are not offered here.', {
        resource: 'parameter',
        id: 'stateful',
        reason: 'unsupported',
      });
    }
    if (project(b) !== undefined && project(b) !== ctx.projectId) {
      throw invalid('A security group is made in the project of the token here.', {
        resource: 'parameter',
        id: 'project_id',
        reason: 'unsupported',
      });
    }
    const row = await networkClient.createSecurityGroup(ctx, {
      name: required(str(b, 'name'), 'name'),
      description: str(b, 'description') ?? '',
    });
    const g = await findGroup(ctx, row.id);
    reply.code(201);
    return { security_group: securityGroupView(g.row, g.rules) };
  });
  app.put<IdParams>('/v2.0/security-groups/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'security_group', ['name', 'description']);
    const g = await findGroup(ctx, request.params.id);
    await networkClient.updateSecurityGroup(
      ctx,
      { idPrefix: g.row.id, shown: g.row.id },
      {
        name: str(b, 'name') ?? g.row.name,
        description: str(b, 'description') ?? g.row.description,
      },
    );
    const changed = await findGroup(ctx, request.params.id);
    return { security_group: securityGroupView(changed.row, changed.rules) };
  });
  app.delete<IdParams>('/v2.0/security-groups/:id', async (request, reply) => {
    const ctx = await caller(request);
    const g = await findGroup(ctx, request.params.id);
    await networkClient.deleteSecurityGroup(ctx, { idPrefix: g.row.id, shown: g.row.id });
    return reply.code(204).send();
  });

  const allRules = async (ctx: RequestContext) => (await groupViews(ctx)).flatMap((g) => g.rules);
  app.get('/v2.0/security-group-rules', async (request) => {
    const ctx = await caller(request);
    return listing(await allRules(ctx), query(request), {
      collection: 'security_group_rules',
      url: `${base(request)}/v2.0/security-group-rules`,
      attributes: RULE_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/security-group-rules/:id', async (request) => {
    const ctx = await caller(request);
    const found = (await allRules(ctx)).find((r) => r['id'] === request.params.id);
    if (!found) {
      throw notFound(
        'security_group_rule',
        request.params.id,
        `Security group rule ${request.params.id} does not exist`,
      );
    }
    return { security_group_rule: pickFields(found, query(request)) };
  });
  app.post('/v2.0/security-group-rules', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'security_group_rule', [
      'security_group_id',
      'direction',
      'ethertype',
      'protocol',
      'port_range_min',
      'port_range_max',
      'remote_ip_prefix',
      'remote_group_id',
      'remote_address_group_id',
      'description',
      'project_id',
      'tenant_id',
    ]);
    const g = await findGroup(ctx, required(str(b, 'security_group_id'), 'security_group_id'));
    const direction = str(b, 'direction');
    if (direction !== 'ingress' && direction !== 'egress') {
      throw invalid(
        `Invalid input for direction. Reason: '${String(direction)}' is not in ['ingress', 'egress'].`,
        { resource: 'parameter', id: 'direction' },
      );
    }
    const ethertype = str(b, 'ethertype') ?? 'IPv4';
    if (ethertype !== 'IPv4') {
      throw invalid(
        ethertype === 'IPv6'
          ? 'IPv6 rules are not offered here: the networks are IPv4 only.'
          : `Invalid input for ethertype. Reason: '${ethertype}' is not in ['IPv4', 'IPv6'].`,
        { resource: 'parameter', id: 'ethertype', reason: 'unsupported' },
      );
    }
    if (b['remote_address_group_id'] !== undefined && b['remote_address_group_id'] !== null) {
      throw invalid('Address groups are not offered here.', {
        resource: 'parameter',
        id: 'remote_address_group_id',
        reason: 'unsupported',
      });
    }
    const protocol = ruleProtocol(b['protocol']);
    const remoteIp = str(b, 'remote_ip_prefix');
    const remoteGroup = str(b, 'remote_group_id');
    if (remoteIp !== undefined && remoteGroup !== undefined) {
      throw invalid('Only remote_ip_prefix or remote_group_id may be provided.', {
        resource: 'parameter',
        id: 'remote_group_id',
        reason: 'combination',
      });
    }
    const min = int(b, 'port_range_min');
    const max = int(b, 'port_range_max');
    if (protocol === 'tcp' || protocol === 'udp') {
      // A minimum alone is that one port; neither is every port.
      const lo = min ?? 1;
      const hi = max ?? min ?? 65535;
      if (lo < 1 || hi > 65535 || lo > hi) {
        throw invalid(
          `For TCP/UDP protocols, port_range_min must be <= port_range_max and both from 1 to 65535 (got ${lo}-${hi}).`,
          { resource: 'parameter', id: 'port_range_min' },
        );
      }
    } else if (protocol === 'icmp') {
      for (const [key, v] of [
        ['port_range_min', min],
        ['port_range_max', max],
      ] as const) {
        if (v !== undefined && (v < 0 || v > 255)) {
          throw invalid(
            `Invalid value for ICMP ${key === 'port_range_min' ? 'type' : 'code'}: ${v}.`,
            {
              resource: 'parameter',
              id: key,
            },
          );
        }
      }
      if (min === undefined && max !== undefined) {
        throw invalid('An ICMP code needs an ICMP type (port_range_min).', {
          resource: 'parameter',
          id: 'port_range_max',
        });
      }
    } else if (min !== undefined || max !== undefined) {
      throw invalid('Port ranges apply to TCP, UDP and ICMP rules only.', {
        resource: 'parameter',
        id: 'port_range_min',
      });
    }
    if (direction === 'egress') {
      const allowAll =
        protocol === '-1' &&
        remoteGroup === undefined &&
        (remoteIp === undefined || remoteIp === '0.0.0.0/0');
      if (allowAll) {
        throw new StratusError(
          'already_exists',
          `Security group rule already exists. Rule id is ${stableUuid(`egress:${g.row.id}`)}.`,
          { resource: 'security_group_rule', id: g.row.id },
        );
      }
      throw invalid(
        'Egress here is open to all: egress rules narrower than allow-all are not enforced yet.',
        { resource: 'security_group_rule', reason: 'unsupported' },
      );
    }
    const description = str(b, 'description');
    const permission = {
      protocol,
      ...(protocol === 'tcp' || protocol === 'udp'
        ? { fromPort: min ?? 1, toPort: max ?? min ?? 65535 }
        : protocol === 'icmp'
          ? { fromPort: min ?? -1, toPort: max ?? -1 }
          : {}),
      ...(remoteGroup !== undefined
        ? { sourceGroups: [{ idPrefix: remoteGroup, shown: remoteGroup, description }] }
        : { ipRanges: [{ cidr: remoteIp ?? '0.0.0.0/0', description }] }),
    };
    if (remoteGroup !== undefined) {
      const visible = (await groups.list(ctx)).some((x) => x.id === remoteGroup);
      if (!visible) {
        throw notFound(
          'security_group',
          remoteGroup,
          `Security group ${remoteGroup} does not exist`,
        );
      }
    }
    const change = await networkClient.authorizeSecurityGroupIngress(
      ctx,
      { idPrefix: g.row.id, shown: g.row.id },
      [permission],
    );
    const rule = change.rules[0] as SecurityGroupRuleRow;
    const defaults = new Set(g.row.name === 'default' ? [g.row.id] : []);
    reply.code(201);
    return { security_group_rule: ruleView(rule, g.row.projectId, defaults) };
  });
  app.delete<IdParams>('/v2.0/security-group-rules/:id', async (request, reply) => {
    const ctx = await caller(request);
    const id = request.params.id;
    const found = (await allRules(ctx)).find((r) => r['id'] === id);
    if (!found)
      throw notFound('security_group_rule', id, `Security group rule ${id} does not exist`);
    if (found['direction'] === 'egress') {
      throw invalid('The open egress of a group cannot be removed here yet.', {
        resource: 'security_group_rule',
        id,
        reason: 'unsupported',
      });
    }
    const groupId = String(found['security_group_id']);
    await networkClient.revokeSecurityGroupIngress(
      ctx,
      { idPrefix: groupId, shown: groupId },
      { ruleRefs: [{ idPrefix: id, shown: id }] },
    );
    return reply.code(204).send();
  });

  // Floating IPs, over the floating addresses of the pool (the external network).

  const floatingViews = async (ctx: RequestContext) => {
    const rows = (await services.addresses.floatingIps(ctx)).filter((r) => r.allocationId);
    const ports = await model.listPorts(ctx);
    const portOf = (instanceId: string | null) =>
      instanceId ? (ports.find((p) => p.deviceId === instanceId)?.id ?? null) : null;
    return rows.map((r) =>
      floatingIpView(r, {
        networkId: model.floatingNetworkId,
        portId: portOf(r.instanceId),
        routerId: null,
      }),
    );
  };
  const findFloating = async (ctx: RequestContext, id: string) => {
    const found = (await floatingViews(ctx)).find((f) => f['id'] === id);
    if (!found) throw notFound('floating_ip', id, `Floating IP ${id} could not be found`);
    return found;
  };
  /** Points the floating address at the port's instance, or (null) at nothing. */
  const associate = async (
    ctx: RequestContext,
    floating: Body,
    portId: string | null,
    fixedAddress: string | undefined,
  ) => {
    const address = String(floating['floating_ip_address']);
    if (portId === null) {
      if (floating['port_id'] !== null)
        await networkClient.disassociateFloatingIp(ctx, { address });
      return;
    }
    const target = await model.floatingIpTarget(ctx, portId, fixedAddress);
    await networkClient.associateFloatingIp(
      ctx,
      { address },
      { idPrefix: target.instanceId, shown: target.instanceId },
      { allowReassociation: true, fixedAddress: target.fixedIp },
    );
  };

  app.get('/v2.0/floatingips', async (request) => {
    const ctx = await caller(request);
    return listing(await floatingViews(ctx), query(request), {
      collection: 'floatingips',
      url: `${base(request)}/v2.0/floatingips`,
      attributes: FLOATING_IP_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/floatingips/:id', async (request) => {
    const ctx = await caller(request);
    return { floatingip: pickFields(await findFloating(ctx, request.params.id), query(request)) };
  });
  app.post('/v2.0/floatingips', async (request, reply) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'floatingip', [
      'floating_network_id',
      'port_id',
      'fixed_ip_address',
      'floating_ip_address',
      'subnet_id',
      'description',
      'project_id',
      'tenant_id',
      'dns_domain',
      'dns_name',
      'qos_policy_id',
    ]);
    const networkId = required(str(b, 'floating_network_id'), 'floating_network_id');
    const network = await model.getNetwork(ctx, networkId);
    if (!network.external) {
      throw invalid(
        `Bad floatingip request: Network ${networkId} is not a valid external network.`,
        { resource: 'network', id: networkId },
      );
    }
    if (network.origin !== 'floating') {
      throw new StratusError(
        'unavailable',
        `No more IP addresses available on network ${networkId}: floating IPs come from the pool network ${model.floatingNetworkId} here.`,
        { resource: 'network', id: networkId, reason: 'no_address' },
      );
    }
    for (const key of ['floating_ip_address', 'subnet_id', 'qos_policy_id']) {
      if (b[key] !== undefined && b[key] !== null) {
        throw invalid(`${key} cannot be chosen here; the lowest free address is given.`, {
          resource: 'parameter',
          id: key,
          reason: 'unsupported',
        });
      }
    }
    const portId = str(b, 'port_id');
    // The port is checked before an address is taken, so a bad port leaves nothing behind.
    if (portId !== undefined) await model.getPort(ctx, portId);
    const row = await networkClient.allocateFloatingIp(ctx, 'standard');
    let view = await findFloating(ctx, row.allocationId as string);
    if (portId !== undefined) {
      try {
        await associate(ctx, view, portId, str(b, 'fixed_ip_address'));
      } catch (err) {
        await networkClient.releaseFloatingIp(ctx, { address: row.address });
        throw err;
      }
      view = await findFloating(ctx, row.allocationId as string);
    }
    reply.code(201);
    return { floatingip: view };
  });
  app.put<IdParams>('/v2.0/floatingips/:id', async (request) => {
    const ctx = await caller(request);
    const b = resource(request.body, 'floatingip', ['port_id', 'fixed_ip_address', 'description']);
    const view = await findFloating(ctx, request.params.id);
    if (b['port_id'] !== undefined) {
      const portId = b['port_id'] === null ? null : (str(b, 'port_id') ?? null);
      await associate(ctx, view, portId, str(b, 'fixed_ip_address'));
    }
    return { floatingip: await findFloating(ctx, request.params.id) };
  });
  app.delete<IdParams>('/v2.0/floatingips/:id', async (request, reply) => {
    const ctx = await caller(request);
    const view = await findFloating(ctx, request.params.id);
    await networkClient.releaseFloatingIp(ctx, { address: String(view['floating_ip_address']) });
    return reply.code(204).send();
  });

  // Quotas

  const quotaOf = async (projectId: string) => {
    const { limits, used } = await services.quota.ofProject(projectId);
    const own = await model.limits(projectId);
    const usage = await model.usage(projectId);
    const n = (v: number) => (Number.isFinite(v) ? v : -1);
    return {
      network: { limit: own.networks, used: usage.networks },
      subnet: { limit: own.subnets, used: usage.subnets },
      port: { limit: own.ports, used: usage.ports },
      router: { limit: own.routers, used: usage.routers },
      floatingip: { limit: n(limits.addresses), used: used.addresses },
      security_group: { limit: n(limits.securityGroups), used: used.securityGroups },
      security_group_rule: { limit: n(limits.securityGroupRules), used: used.securityGroupRules },
    };
  };
  const quotaFor = async (request: FastifyRequest<{ Params: { project: string } }>) => {
    const ctx = await caller(request);
    const projectId = request.params.project;
    if (!isAdmin(ctx) && projectId !== ctx.projectId) {
      throw new StratusError(
        'forbidden',
        `Only an admin may see the quota of project ${projectId}.`,
        {
          resource: 'project',
          id: projectId,
        },
      );
    }
    return quotaOf(projectId);
  };
  const limitsOnly = (q: Record<string, { limit: number }>) =>
    Object.fromEntries(Object.entries(q).map(([k, v]) => [k, v.limit]));
  app.get('/v2.0/quotas', async (request) => {
    const ctx = await caller(request);
    const projectId = ctx.projectId as string;
    return {
      quotas: [
        { ...limitsOnly(await quotaOf(projectId)), project_id: projectId, tenant_id: projectId },
      ],
    };
  });
  app.get<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request) => ({
    quota: limitsOnly(await quotaFor(request)),
  }));
  app.get<{ Params: { project: string } }>('/v2.0/quotas/:project/default', async (request) => ({
    quota: limitsOnly(await quotaFor(request)),
  }));
  app.get<{ Params: { project: string } }>('/v2.0/quotas/:project/details', async (request) => ({
    quota: Object.fromEntries(
      Object.entries(await quotaFor(request)).map(([k, v]) => [k, { ...v, reserved: 0 }]),
    ),
  }));
  app.put<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request) => {
    const ctx = await caller(request);
    const projectId = request.params.project;
    const b = resource(request.body, 'quota', [
      'network',
      'subnet',
      'port',
      'router',
      'floatingip',
      'security_group',
      'security_group_rule',
    ]);
    if (!isAdmin(ctx)) {
      throw new StratusError('forbidden', 'Only an admin may change quotas.', {
        resource: 'project',
        id: projectId,
      });
    }
    const n = (key: string) => int(b, key);
    const compute = Object.fromEntries(
      (
        [
          ['addresses', n('floatingip')],
          ['securityGroups', n('security_group')],
          ['securityGroupRules', n('security_group_rule')],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    const own = Object.fromEntries(
      (
        [
          ['networks', n('network')],
          ['subnets', n('subnet')],
          ['ports', n('port')],
          ['routers', n('router')],
        ] as const
      ).filter(([, v]) => v !== undefined),
    );
    // The Compute API's limits first: it checks the project exists and every value.
    if (Object.keys(compute).length > 0) {
      await services.quotaAdmin.setProject(ctx, projectId, compute, true);
    }
    if (Object.keys(own).length > 0) await model.setLimits(ctx, projectId, own);
    return { quota: limitsOnly(await quotaOf(projectId)) };
  });
  app.delete<{ Params: { project: string } }>('/v2.0/quotas/:project', async (request, reply) => {
    const ctx = await caller(request);
    await services.quotaAdmin.resetProject(ctx, request.params.project);
    return reply.code(204).send();
  });

  // Network IP availabilities (admin-only in Neutron's policy)

  const availabilities = async (request: FastifyRequest) => {
    const ctx = await caller(request);
    if (!isAdmin(ctx)) {
      throw new StratusError(
        'forbidden',
        'rule:get_network_ip_availability is disallowed by policy: it needs the admin role.',
        { resource: 'network' },
      );
    }
    return (await model.ipAvailabilities(ctx)).map(ipAvailabilityView);
  };
  app.get('/v2.0/network-ip-availabilities', async (request) => {
    const rows = await availabilities(request);
    const q = { ...query(request) };
    // ip_version is always 4 here: a filter on it keeps all or none.
    const version = q['ip_version'];
    delete q['ip_version'];
    const kept = version === undefined || [version].flat().includes('4') ? rows : [];
    return listing(kept, q, {
      collection: 'network_ip_availabilities',
      url: `${base(request)}/v2.0/network-ip-availabilities`,
      attributes: IP_AVAILABILITY_ATTRIBUTES,
    });
  });
  app.get<IdParams>('/v2.0/network-ip-availabilities/:id', async (request) => {
    const found = (await availabilities(request)).find(
      (r) => r['network_id'] === request.params.id,
    );
    if (!found) {
      throw notFound(
        'network',
        request.params.id,
        `Network ${request.params.id} could not be found.`,
      );
    }
    return { network_ip_availability: found };
  });

  app.setNotFoundHandler((request, reply) =>
    send(
      reply,
      networkFault(
        404,
        `The resource could not be found: ${request.method} ${request.url.split('?')[0]} is not part of the Networking API.`,
      ),
    ),
  );
  app.setErrorHandler((err: unknown, request, reply) => {
    const f = toNetworkFault(err);
    if (f.status >= 500) request.log.error({ err }, 'Networking request failed');
    else request.log.info({ status: f.status, body: f.body }, 'Networking request refused');
    return send(reply, f);
  });
  return app;
}

function adminOnly(key: string): StratusError {
  return new StratusError(
    'forbidden',
    `(rule:create_network:${key}) is disallowed by policy: only an admin may set ${key}.`,
    {
      resource: 'parameter',
      id: key,
    },
  );
}

function obj(value: unknown, what: string): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${what} must be a JSON object.`, { resource: 'request' });
  }
  return value as Body;
}

/** The body's one resource object (`{"network": {...}}`), with only these attributes. */
function resource(body: unknown, name: string, allowed: readonly string[]): Body {
  const outer = obj(body, 'The request body');
  const inner = outer[name];
  if (inner === undefined) {
    if (Array.isArray(outer[`${name}s`])) {
      throw invalid(`Creating many ${name}s in one request is not supported here.`, {
        resource: 'request',
        reason: 'unsupported',
      });
    }
    throw invalid(`Resource body required: the request body must have a '${name}' object.`, {
      resource: 'request',
    });
  }
  const b = obj(inner, name);
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw invalid(`Unrecognized attribute(s) '${unknown.join(', ')}'`, {
      resource: 'parameter',
      id: unknown[0],
      reason: 'unrecognized',
    });
  }
  return b;
}

function str(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw invalid(
      `Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a valid string.`,
      {
        resource: 'parameter',
        id: key,
      },
    );
  }
  return v;
}

function required(v: string | undefined, key: string): string {
  if (v === undefined || v === '') {
    throw new StratusError(
      'missing',
      `Failed to parse request. Required attribute '${key}' not specified.`,
      {
        resource: 'parameter',
        id: key,
      },
    );
  }
  return v;
}

function bool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalid(
    `Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a valid boolean value.`,
    {
      resource: 'parameter',
      id: key,
    },
  );
}

function int(b: Body, key: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d{1,9}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw invalid(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not an integer.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return n;
}

function list(b: Body, key: string): unknown[] | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    throw invalid(`Invalid input for ${key}. Reason: '${JSON.stringify(v)}' is not a list.`, {
      resource: 'parameter',
      id: key,
    });
  }
  return v;
}

function strings(b: Body, key: string): string[] | undefined {
  return list(b, key)?.map((v) => {
    if (typeof v !== 'string') {
      throw invalid(`Invalid input for ${key}: every item must be a string.`, {
        resource: 'parameter',
        id: key,
      });
    }
    return v;
  });
}

function routes(b: Body): { destination: string; nexthop: string }[] | undefined {
  return list(b, 'host_routes')?.map((r) => {
    const o = obj(r, 'host_routes');
    return {
      destination: required(str(o, 'destination'), 'host_routes.destination'),
      nexthop: required(str(o, 'nexthop'), 'host_routes.nexthop'),
    };
  });
}

/** The project an admin names in the body, if any. */
function project(b: Body): string | undefined {
  return str(b, 'project_id') ?? str(b, 'tenant_id');
}

/** A rule's protocol as the model names it ('-1' for any). */
function ruleProtocol(value: unknown): string {
  if (value === undefined || value === null || value === 'any') return '-1';
  const names: Record<string, string> = {
    tcp: 'tcp',
    udp: 'udp',
    icmp: 'icmp',
    '6': 'tcp',
    '17': 'udp',
    '1': 'icmp',
  };
  const key =
    typeof value === 'number'
      ? String(value)
      : typeof value === 'string'
        ? value.toLowerCase()
        : '';
  const p = names[key];
  if (!p) {
    throw invalid(
      `Security group rule protocol ${JSON.stringify(value)} is not supported here. Only tcp, udp, icmp (or 6, 17, 1) and any are.`,
      { resource: 'parameter', id: 'protocol', reason: 'unsupported' },
    );
  }
  return p;
}
