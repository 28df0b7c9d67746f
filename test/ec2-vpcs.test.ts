// EC2 VPCs through Debian's AWS CLI against a whole cloud on the fake driver, and the same
// resources through the Networking API v2.0: the default VPC (made once, even by racing first
// calls), a VPC's life (subnets, attributes, an internet gateway, routes, tags, filters and
// paging), every error EC2 gives for bad input with nothing left behind, and both views of one
// resource: a VPC made by EC2 is a network with a router, a network made by the Networking API
// is a VPC.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateVpcCommand,
  DescribeAccountAttributesCommand,
  DescribeVpcsCommand,
} from '@aws-sdk/client-ec2';
import { awsEc2, type AwsEc2Cli } from './support/awscli.js';
import { needs } from './support/capabilities.js';
import { startTestCloud, type TestCloud } from './support/ec2.js';
import { login, PASSWORD } from './support/openstack.js';
import { IdentityService } from '../src/identity/index.js';

type Json = Record<string, unknown>;
type Item = Record<string, unknown> & { Tags?: { Key: string; Value: string }[] };

describe('EC2 VPCs over the project network model', needs('awscli'), () => {
  let t: TestCloud;
  let home: string;
  let cli: AwsEc2Cli;
  let token: string;

  before(async () => {
    t = await startTestCloud();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-vpcs-'));
    cli = awsEc2({ endpoint: t.endpoint, region: t.region, credentials: t.adminCredentials, home });
    await new IdentityService(t.cloud.database.db).setPassword('admin', PASSWORD);
    token = await login(t.cloud.urls?.identity as string, 'admin', 'admin');
  });
  after(async () => {
    await t.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const json = (...args: string[]) => cli.json(...args);
  const list = async (key: string, ...args: string[]) => (await json(...args))[key] as Item[];

  /** Runs a command that must fail with `code`. */
  async function refused(code: string, ...args: string[]): Promise<void> {
    const r = await cli.run(...args);
    assert.notEqual(r.code, 0, `aws ec2 ${args.join(' ')} should fail with ${code}`);
    assert.match(r.stderr, new RegExp(`\\(${code.replace(/\./g, '\\.')}\\)`), r.stderr);
  }

  /** The Networking API, as the admin. */
  async function neutron(method: string, url: string, body?: unknown): Promise<Json> {
    const r = await fetch(`${t.cloud.urls?.network as string}/v2.0/${url}`, {
      method,
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Json;
  }

  /** The Networking API's resource behind an EC2 id (its UUID starts with the id's digits). */
  async function behind(collection: string, ec2IdShown: string): Promise<Json | undefined> {
    const hex = ec2IdShown.slice(ec2IdShown.indexOf('-') + 1);
    const all = (await neutron('GET', collection))[collection] as Json[];
    return all.find((x) => String(x.id).replace(/-/g, '').startsWith(hex));
  }

  async function networkCount(): Promise<number> {
    return ((await neutron('GET', 'networks')).networks as Json[]).length;
  }

  it('says the platform is VPC and makes the default VPC on first use', async () => {
    const attrs = (await list('AccountAttributes', 'describe-account-attributes')) as {
      AttributeName: string;
      AttributeValues: { AttributeValue: string }[];
    }[];
    const value = (name: string) =>
      attrs.find((a) => a.AttributeName === name)?.AttributeValues.map((v) => v.AttributeValue);
    assert.deepEqual(value('supported-platforms'), ['VPC']);
    const [defaultVpc] = value('default-vpc') ?? [];
    assert.match(defaultVpc ?? '', /^vpc-[0-9a-f]{17}$/);
    assert.match(value('max-instances')?.[0] ?? '', /^\d+$/);

    const vpcs = await list('Vpcs', 'describe-vpcs', '--filters', 'Name=is-default,Values=true');
    assert.equal(vpcs.length, 1);
    assert.equal(vpcs[0]?.VpcId, defaultVpc);
    assert.equal(vpcs[0]?.CidrBlock, '172.31.0.0/16');
    assert.equal(vpcs[0]?.State, 'available');

    const subnets = await list(
      'Subnets',
      'describe-subnets',
      '--filters',
      `Name=vpc-id,Values=${defaultVpc}`,
      'Name=default-for-az,Values=true',
    );
    assert.ok(subnets.length >= 1, 'a default subnet per zone');
    assert.equal(subnets[0]?.CidrBlock, '172.31.0.0/20');
    assert.equal(subnets[0]?.MapPublicIpOnLaunch, true);
    // A /20 less EC2's five reserved addresses.
    assert.equal(subnets[0]?.AvailableIpAddressCount, 4096 - 5);

    const gateways = await list(
      'InternetGateways',
      'describe-internet-gateways',
      '--filters',
      `Name=attachment.vpc-id,Values=${defaultVpc}`,
    );
    assert.equal(gateways.length, 1);
    const tables = await list(
      'RouteTables',
      'describe-route-tables',
      '--filters',
      `Name=vpc-id,Values=${defaultVpc}`,
    );
    assert.equal(tables.length, 1);
    const routes = tables[0]?.Routes as Item[];
    assert.deepEqual(
      routes.map((r) => [r.DestinationCidrBlock, r.GatewayId, r.State]),
      [
        ['172.31.0.0/16', 'local', 'active'],
        ['0.0.0.0/0', gateways[0]?.InternetGatewayId, 'active'],
      ],
    );

    // Asked again, the same one: made once.
    const again = await list(
      'AccountAttributes',
      'describe-account-attributes',
      '--attribute-names',
      'default-vpc',
    );
    assert.deepEqual(again, [
      { AttributeName: 'default-vpc', AttributeValues: [{ AttributeValue: defaultVpc }] },
    ]);
    // The Networking API shows it as a network with a router on each default subnet.
    const network = await behind('networks', defaultVpc as string);
    assert.ok(network, 'the default VPC is a network');
    const router = await behind('routers', tables[0]?.RouteTableId as string);
    assert.ok(router, 'its route table is a router');
    assert.equal(
      (router.external_gateway_info as Json | null)?.network_id !== undefined,
      true,
      'the attached internet gateway is the router external gateway',
    );
  });

  it('makes one default VPC when a new project first asks twice at once', async () => {
    const p = await t.newProject();
    const answers = await Promise.all(
      [0, 1, 2].map(() =>
        p.client.send(new DescribeAccountAttributesCommand({ AttributeNames: ['default-vpc'] })),
      ),
    );
    const ids = answers.map((a) => a.AccountAttributes?.[0]?.AttributeValues?.[0]?.AttributeValue);
    assert.match(ids[0] ?? '', /^vpc-/);
    assert.deepEqual(new Set(ids).size, 1, `one default VPC: ${ids.join(' ')}`);
    const vpcs = (await p.client.send(new DescribeVpcsCommand({}))).Vpcs ?? [];
    assert.equal(vpcs.length, 1);
    // Another project's default VPC is not in its listing.
    const adminDefault = (
      await t.admin.send(new DescribeAccountAttributesCommand({ AttributeNames: ['default-vpc'] }))
    ).AccountAttributes?.[0]?.AttributeValues?.[0]?.AttributeValue;
    assert.notEqual(adminDefault, ids[0]);
    assert.ok(!vpcs.some((v) => v.VpcId === adminDefault));
    const created = await p.client.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
    assert.equal(created.Vpc?.IsDefault, false);
    assert.equal((await p.client.send(new DescribeVpcsCommand({}))).Vpcs?.length, 2);
  });

  it('runs a VPC through its life: subnet, attributes, gateway, route, tags, filters, paging', async () => {
    const vpc = (
      await json(
        'create-vpc',
        '--cidr-block',
        '10.20.0.0/16',
        '--tag-specifications',
        'ResourceType=vpc,Tags=[{Key=Name,Value=life}]',
      )
    ).Vpc as Item;
    const vpcId = vpc.VpcId as string;
    assert.match(vpcId, /^vpc-[0-9a-f]{17}$/);
    assert.equal(vpc.CidrBlock, '10.20.0.0/16');
    assert.deepEqual(vpc.Tags, [{ Key: 'Name', Value: 'life' }]);

    // DNS attributes.
    const dns = (a: string) => json('describe-vpc-attribute', '--vpc-id', vpcId, '--attribute', a);
    assert.deepEqual((await dns('enableDnsSupport')).EnableDnsSupport, { Value: true });
    assert.deepEqual((await dns('enableDnsHostnames')).EnableDnsHostnames, { Value: false });
    await json(
      'modify-vpc-attribute',
      '--vpc-id',
      vpcId,
      '--enable-dns-hostnames',
      '{"Value":true}',
    );
    assert.deepEqual((await dns('enableDnsHostnames')).EnableDnsHostnames, { Value: true });

    const subnet = (await json('create-subnet', '--vpc-id', vpcId, '--cidr-block', '10.20.1.0/24'))
      .Subnet as Item;
    const subnetId = subnet.SubnetId as string;
    assert.match(subnetId, /^subnet-[0-9a-f]{17}$/);
    assert.equal(subnet.VpcId, vpcId);
    assert.equal(subnet.AvailableIpAddressCount, 251);
    assert.equal(subnet.MapPublicIpOnLaunch, false);
    await json('modify-subnet-attribute', '--subnet-id', subnetId, '--map-public-ip-on-launch');
    const [shownSubnet] = await list('Subnets', 'describe-subnets', '--subnet-ids', subnetId);
    assert.equal(shownSubnet?.MapPublicIpOnLaunch, true);

    const igw = (await json('create-internet-gateway')).InternetGateway as Item;
    const igwId = igw.InternetGatewayId as string;
    assert.match(igwId, /^igw-[0-9a-f]{17}$/);
    assert.deepEqual(igw.Attachments, []);
    await json('attach-internet-gateway', '--internet-gateway-id', igwId, '--vpc-id', vpcId);
    const [table] = await list(
      'RouteTables',
      'describe-route-tables',
      '--filters',
      `Name=vpc-id,Values=${vpcId}`,
      'Name=association.main,Values=true',
    );
    const rtbId = table?.RouteTableId as string;
    assert.match(rtbId, /^rtb-[0-9a-f]{17}$/);
    await json(
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '0.0.0.0/0',
      '--gateway-id',
      igwId,
    );
    const [withRoute] = await list(
      'RouteTables',
      'describe-route-tables',
      '--route-table-ids',
      rtbId,
    );
    assert.deepEqual(
      (withRoute?.Routes as Item[]).map((r) => [r.DestinationCidrBlock, r.GatewayId]),
      [
        ['10.20.0.0/16', 'local'],
        ['0.0.0.0/0', igwId],
      ],
    );

    // Tags on each kind, and filters by them.
    await json(
      'create-tags',
      '--resources',
      vpcId,
      subnetId,
      igwId,
      rtbId,
      '--tags',
      'Key=team,Value=blue',
    );
    for (const [cmd, key] of [
      ['describe-vpcs', 'Vpcs'],
      ['describe-subnets', 'Subnets'],
      ['describe-internet-gateways', 'InternetGateways'],
      ['describe-route-tables', 'RouteTables'],
    ] as const) {
      const found = await list(key, cmd, '--filters', 'Name=tag:team,Values=blue');
      assert.equal(found.length, 1, `${cmd} by tag`);
    }
    const tagged = await list('Tags', 'describe-tags', '--filters', 'Name=key,Values=team');
    assert.deepEqual(tagged.map((x) => x.ResourceType).sort(), [
      'internet-gateway',
      'route-table',
      'subnet',
      'vpc',
    ]);

    // Paging: five at a time, every VPC exactly once.
    for (let i = 0; i < 6; i++) await json('create-vpc', '--cidr-block', `10.${100 + i}.0.0/24`);
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const r = await t.admin.send(new DescribeVpcsCommand({ MaxResults: 5, NextToken: next }));
      seen.push(...(r.Vpcs ?? []).map((v) => v.VpcId as string));
      next = r.NextToken;
      pages++;
    } while (next);
    const all = (await list('Vpcs', 'describe-vpcs')).map((v) => v.VpcId as string);
    assert.ok(pages >= 2, `${all.length} VPCs in ${pages} pages`);
    assert.deepEqual([...seen].sort(), [...all].sort());
    // The CLI follows the pages itself.
    assert.equal((await list('Vpcs', 'describe-vpcs', '--page-size', '5')).length, all.length);

    // The Networking API's view of the same things.
    const network = await behind('networks', vpcId);
    assert.ok(network, 'the VPC is a network');
    assert.equal(network.name, 'life');
    assert.equal(network['router:external'], false);
    const neutronSubnet = await behind('subnets', subnetId);
    assert.equal(neutronSubnet?.network_id, network.id);
    assert.equal(neutronSubnet?.cidr, '10.20.1.0/24');
    assert.equal(neutronSubnet?.gateway_ip, '10.20.1.1');
    const router = await behind('routers', rtbId);
    assert.ok(router, 'the route table is a router');
    assert.ok(router.external_gateway_info, 'with the gateway the internet gateway is');
    const ports = (await neutron('GET', `ports?device_id=${String(router.id)}`)).ports as Json[];
    assert.ok(
      ports.some((p) =>
        (p.fixed_ips as Json[]).some(
          (f) => f.subnet_id === neutronSubnet?.id && f.ip_address === '10.20.1.1',
        ),
      ),
      'the router is joined to the subnet on its gateway address',
    );

    // Taking it apart, in the order EC2 asks for.
    await refused('DependencyViolation', 'delete-vpc', '--vpc-id', vpcId);
    await json('delete-route', '--route-table-id', rtbId, '--destination-cidr-block', '0.0.0.0/0');
    await refused('DependencyViolation', 'delete-internet-gateway', '--internet-gateway-id', igwId);
    await json('detach-internet-gateway', '--internet-gateway-id', igwId, '--vpc-id', vpcId);
    await json('delete-internet-gateway', '--internet-gateway-id', igwId);
    await json('delete-subnet', '--subnet-id', subnetId);
    await json('delete-vpc', '--vpc-id', vpcId);
    assert.equal(await behind('networks', vpcId), undefined);
    assert.equal(await behind('routers', rtbId), undefined);
    await refused('InvalidVpcID.NotFound', 'describe-vpcs', '--vpc-ids', vpcId);
  });

  it('refuses bad input with the codes EC2 gives, leaving nothing behind', async () => {
    const vpcId = ((await json('create-vpc', '--cidr-block', '10.30.0.0/16')).Vpc as Item)
      .VpcId as string;
    const subnetId = (
      (await json('create-subnet', '--vpc-id', vpcId, '--cidr-block', '10.30.0.0/24'))
        .Subnet as Item
    ).SubnetId as string;
    const networks = await networkCount();
    const vpcCount = (await list('Vpcs', 'describe-vpcs')).length;

    await refused('InvalidVpc.Range', 'create-vpc', '--cidr-block', '10.0.0.0/8');
    await refused('InvalidVpc.Range', 'create-vpc', '--cidr-block', '10.0.0.0/29');
    await refused('InvalidParameterValue', 'create-vpc', '--cidr-block', '10.0.0.1/16');
    await refused('InvalidParameterValue', 'create-vpc', '--cidr-block', 'ten/16');
    await refused(
      'InvalidParameterValue',
      'create-vpc',
      '--cidr-block',
      '10.40.0.0/16',
      '--tag-specifications',
      'ResourceType=subnet,Tags=[{Key=a,Value=b}]',
    );
    await refused(
      'UnsupportedOperation',
      'create-vpc',
      '--cidr-block',
      '10.40.0.0/16',
      '--instance-tenancy',
      'dedicated',
    );
    await refused(
      'InvalidSubnet.Range',
      'create-subnet',
      '--vpc-id',
      vpcId,
      '--cidr-block',
      '10.31.0.0/24',
    );
    await refused(
      'InvalidSubnet.Range',
      'create-subnet',
      '--vpc-id',
      vpcId,
      '--cidr-block',
      '10.30.0.0/29',
    );
    await refused(
      'InvalidSubnet.Conflict',
      'create-subnet',
      '--vpc-id',
      vpcId,
      '--cidr-block',
      '10.30.0.128/25',
    );
    await refused(
      'InvalidParameterValue',
      'create-subnet',
      '--vpc-id',
      vpcId,
      '--cidr-block',
      '10.30.9.0/24',
      '--availability-zone',
      'no-such-zone',
    );
    await refused(
      'InvalidVpcID.NotFound',
      'create-subnet',
      '--vpc-id',
      'vpc-0123456789abcdef0',
      '--cidr-block',
      '10.30.9.0/24',
    );
    await refused('InvalidVpcID.Malformed', 'delete-vpc', '--vpc-id', 'vpc-xyz');
    await refused('InvalidVpcID.NotFound', 'delete-vpc', '--vpc-id', 'vpc-0123456789abcdef0');
    await refused(
      'InvalidSubnetID.NotFound',
      'delete-subnet',
      '--subnet-id',
      'subnet-0123456789abcdef0',
    );
    await refused('InvalidSubnetID.Malformed', 'describe-subnets', '--subnet-ids', 'subnet-1');
    await refused(
      'InvalidParameterValue',
      'describe-vpcs',
      '--filters',
      'Name=no-such-filter,Values=x',
    );
    await refused(
      'InvalidParameterValue',
      'describe-vpc-attribute',
      '--vpc-id',
      vpcId,
      '--attribute',
      'enableNetworkAddressUsageMetrics',
    );
    await refused('DependencyViolation', 'delete-vpc', '--vpc-id', vpcId);

    // Gateways.
    const igwId = ((await json('create-internet-gateway')).InternetGateway as Item)
      .InternetGatewayId as string;
    await refused(
      'InvalidInternetGatewayID.NotFound',
      'attach-internet-gateway',
      '--internet-gateway-id',
      'igw-0123456789abcdef0',
      '--vpc-id',
      vpcId,
    );
    await refused(
      'Gateway.NotAttached',
      'detach-internet-gateway',
      '--internet-gateway-id',
      igwId,
      '--vpc-id',
      vpcId,
    );
    const [table] = await list(
      'RouteTables',
      'describe-route-tables',
      '--filters',
      `Name=vpc-id,Values=${vpcId}`,
    );
    const rtbId = table?.RouteTableId as string;
    await refused(
      'InvalidParameterValue',
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '0.0.0.0/0',
      '--gateway-id',
      igwId,
    );
    await json('attach-internet-gateway', '--internet-gateway-id', igwId, '--vpc-id', vpcId);
    await refused(
      'Resource.AlreadyAssociated',
      'attach-internet-gateway',
      '--internet-gateway-id',
      igwId,
      '--vpc-id',
      vpcId,
    );
    const other = ((await json('create-internet-gateway')).InternetGateway as Item)
      .InternetGatewayId as string;
    await refused(
      'Resource.AlreadyAssociated',
      'attach-internet-gateway',
      '--internet-gateway-id',
      other,
      '--vpc-id',
      vpcId,
    );
    await json('delete-internet-gateway', '--internet-gateway-id', other);
    await json(
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '0.0.0.0/0',
      '--gateway-id',
      igwId,
    );
    await refused(
      'RouteAlreadyExists',
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '0.0.0.0/0',
      '--gateway-id',
      igwId,
    );
    await refused(
      'RouteAlreadyExists',
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '10.30.0.0/16',
      '--gateway-id',
      igwId,
    );
    await refused(
      'InvalidRoute.NotFound',
      'delete-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '192.168.0.0/16',
    );
    await refused(
      'InvalidRouteTableID.NotFound',
      'delete-route',
      '--route-table-id',
      'rtb-0123456789abcdef0',
      '--destination-cidr-block',
      '0.0.0.0/0',
    );
    await refused(
      'UnsupportedOperation',
      'create-route',
      '--route-table-id',
      rtbId,
      '--destination-cidr-block',
      '1.0.0.0/8',
      '--nat-gateway-id',
      'nat-1',
    );
    await refused('DependencyViolation', 'delete-vpc', '--vpc-id', vpcId);

    // A subnet with an interface on it (a port made through the Networking API).
    const network = await behind('networks', vpcId);
    const port = (await neutron('POST', 'ports', { port: { network_id: network?.id } }))
      .port as Json;
    await refused('DependencyViolation', 'delete-subnet', '--subnet-id', subnetId);
    await neutron('DELETE', `ports/${String(port.id)}`);

    // Nothing the refusals touched was made or changed.
    assert.equal(await networkCount(), networks);
    assert.equal((await list('Vpcs', 'describe-vpcs')).length, vpcCount);
    const [still] = await list('Subnets', 'describe-subnets', '--subnet-ids', subnetId);
    assert.equal(still?.CidrBlock, '10.30.0.0/24');

    await json('delete-route', '--route-table-id', rtbId, '--destination-cidr-block', '0.0.0.0/0');
    await json('detach-internet-gateway', '--internet-gateway-id', igwId, '--vpc-id', vpcId);
    await json('delete-internet-gateway', '--internet-gateway-id', igwId);
    await json('delete-subnet', '--subnet-id', subnetId);
    await json('delete-vpc', '--vpc-id', vpcId);
    assert.equal(await networkCount(), networks - 1);
  });

  it('shows a network made through the Networking API as a VPC, and its subnets', async () => {
    const network = (await neutron('POST', 'networks', { network: { name: 'from-neutron' } }))
      .network as Json;
    const subnet = (
      await neutron('POST', 'subnets', {
        subnet: { network_id: network.id, cidr: '192.168.10.0/24', ip_version: 4 },
      })
    ).subnet as Json;
    const hex = String(network.id).replace(/-/g, '').slice(0, 17);
    const vpcs = await list('Vpcs', 'describe-vpcs', '--vpc-ids', `vpc-${hex}`);
    assert.equal(vpcs.length, 1);
    assert.equal(vpcs[0]?.CidrBlock, '192.168.10.0/24');
    assert.equal(vpcs[0]?.IsDefault, false);
    const subnets = await list(
      'Subnets',
      'describe-subnets',
      '--filters',
      `Name=vpc-id,Values=vpc-${hex}`,
    );
    assert.deepEqual(
      subnets.map((s) => [s.SubnetId, s.CidrBlock]),
      [[`subnet-${String(subnet.id).replace(/-/g, '').slice(0, 17)}`, '192.168.10.0/24']],
    );
    await json('create-tags', '--resources', `vpc-${hex}`, '--tags', 'Key=Name,Value=seen');
    assert.equal(
      (await list('Vpcs', 'describe-vpcs', '--filters', 'Name=tag:Name,Values=seen')).length,
      1,
    );
    await refused('DependencyViolation', 'delete-vpc', '--vpc-id', `vpc-${hex}`);
    await json('delete-subnet', '--subnet-id', subnets[0]?.SubnetId as string);
    await json('delete-vpc', '--vpc-id', `vpc-${hex}`);
    assert.equal(await behind('networks', `vpc-${hex}`), undefined);
  });
});
