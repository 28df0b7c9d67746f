// VPC actions: DescribeAccountAttributes (the platform is VPC; the default VPC, made on first
// use), CreateVpc, DeleteVpc, DescribeVpcs, ModifyVpcAttribute, DescribeVpcAttribute. A VPC is
// a project network with a router (network/vpcs.ts); its id is `vpc-` and the network's UUID.
import { mayChange, type RequestContext } from '../../../context.js';
import { StratusError } from '../../../errors.js';
import { vpcNotFound, type Vpc } from '../../../network/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { invalidValue, missingParameter } from '../params.js';
import type { Ec2Deps } from './deps.js';
import {
  creationTags,
  findVpc,
  named,
  page,
  putCreationTags,
  tagsOf,
  vpcEc2Id,
  vpcPrefix,
} from './vpc-common.js';

const ATTRIBUTES = [
  'supported-platforms',
  'default-vpc',
  'max-instances',
  'max-elastic-ips',
  'vpc-max-elastic-ips',
  'vpc-max-security-groups-per-interface',
] as const;

/** How many groups one interface may have, as EC2's default limit. */
const GROUPS_PER_INTERFACE = 5;

/** The project's default VPC, made on first use, over the zones the hosts report. */
export async function defaultVpc(deps: Ec2Deps, ctx: RequestContext): Promise<Vpc> {
  const zones = (await deps.hosts.zones()).map((z) => z.name);
  return deps.vpcs.defaultVpc(ctx, zones);
}

/** A limit as EC2 shows it; an unlimited one as a large number, as EC2 never says 'none'. */
function limit(n: number): string {
  return Number.isFinite(n) ? String(n) : '1000000';
}

export function vpcActions(deps: Ec2Deps): Ec2ActionTable {
  const { vpcs } = deps;

  const view = (v: Vpc, tagList: { key: string; value: string }[]) => ({
    vpcId: vpcEc2Id(v.id),
    ownerId: v.projectId,
    state: 'available',
    cidrBlock: v.cidr,
    cidrBlockAssociationSet: v.cidr
      ? [
          {
            associationId: `vpc-cidr-assoc-${vpcEc2Id(v.id).slice(4)}`,
            cidrBlock: v.cidr,
            cidrBlockState: { state: 'associated' },
          },
        ]
      : [],
    dhcpOptionsId: 'default',
    instanceTenancy: 'default',
    isDefault: v.isDefault,
    tagSet: tagList,
  });

  /**
   * The caller's VPCs, the default one made first if it is not yet; a caller who may only look
   * (a reader) makes nothing and sees what is there.
   */
  const listed = async (ctx: RequestContext) => {
    if (ctx.projectId && mayChange(ctx)) await defaultVpc(deps, ctx);
    return vpcs.listVpcs(ctx);
  };

  return {
    DescribeAccountAttributes: async ({ params, context }) => {
      const asked = params.list('AttributeName');
      for (const a of asked) {
        if (!(ATTRIBUTES as readonly string[]).includes(a)) {
          throw invalidValue('AttributeName', a, `It must be one of: ${ATTRIBUTES.join(', ')}.`);
        }
      }
      const wanted = asked.length > 0 ? asked : [...ATTRIBUTES];
      const { limits } = await deps.quota.ofProject(context.projectId ?? '');
      const value = async (name: string): Promise<string[]> => {
        switch (name) {
          case 'supported-platforms':
            return ['VPC'];
          case 'default-vpc': {
            if (!context.projectId) return ['none'];
            if (mayChange(context)) return [vpcEc2Id((await defaultVpc(deps, context)).id)];
            const found = (await vpcs.listVpcs(context)).find((v) => v.isDefault);
            return [found ? vpcEc2Id(found.id) : 'none'];
          }
          case 'max-instances':
            return [limit(limits.instances)];
          case 'max-elastic-ips':
          case 'vpc-max-elastic-ips':
            return [limit(limits.addresses)];
          default:
            return [String(GROUPS_PER_INTERFACE)];
        }
      };
      const out = [];
      for (const name of wanted) {
        out.push({
          attributeName: name,
          attributeValueSet: (await value(name)).map((attributeValue) => ({ attributeValue })),
        });
      }
      return { accountAttributeSet: out };
    },

    CreateVpc: async ({ params, context }) => {
      const cidr = params.string('CidrBlock', { max: 64 });
      if (cidr === undefined || cidr === '') throw missingParameter('CidrBlock');
      const tagList = creationTags(params, 'vpc');
      const name = tagList.find((t) => t.key === 'Name')?.value;
      const vpc = await vpcs.createVpc(context, { cidr, ...(name ? { name } : {}) });
      try {
        await putCreationTags(deps, 'vpc', vpc.id, vpc.projectId, vpcEc2Id(vpc.id), tagList);
      } catch (err) {
        await vpcs.deleteVpc(context, vpc.id).catch(() => undefined);
        throw err;
      }
      return { vpc: view(vpc, (await tagsOf(deps, [vpc.id]))(vpc.id)) };
    },

    DeleteVpc: async ({ params, context }) => {
      const shown = params.requireString('VpcId', { max: 64 });
      const vpc = await findVpc(deps, context, shown);
      await vpcs.deleteVpc(context, vpc.id, shown);
      return { return: true };
    },

    DescribeVpcs: async ({ params, context }) => {
      const all = await listed(context);
      const { items, withIds } = named(params, 'VpcId', all, vpcPrefix, vpcNotFound);
      const tagList = await tagsOf(
        deps,
        items.map((v) => v.id),
      );
      const matched = applyFilters(
        items,
        params.filters(),
        {
          'vpc-id': (v) => vpcEc2Id(v.id),
          'cidr-block': (v) => v.cidr,
          cidr: (v) => v.cidr,
          'cidr-block-association.cidr-block': (v) => v.cidr,
          'cidr-block-association.state': () => 'associated',
          'dhcp-options-id': () => 'default',
          'instance-tenancy': () => 'default',
          'is-default': (v) => v.isDefault,
          'owner-id': (v) => v.projectId,
          state: () => 'available',
        },
        { tags: (v) => tagList(v.id) },
      );
      const shown = page(params, matched, withIds, 'vpcIds');
      return {
        vpcSet: shown.items.map((v) => view(v, tagList(v.id))),
        nextToken: shown.nextToken,
      };
    },

    ModifyVpcAttribute: async ({ params, context }) => {
      const shown = params.requireString('VpcId', { max: 64 });
      const support = params.bool('EnableDnsSupport.Value');
      const hostnames = params.bool('EnableDnsHostnames.Value');
      if ((support === undefined) === (hostnames === undefined)) {
        throw new StratusError(
          'invalid',
          'Exactly one of EnableDnsSupport and EnableDnsHostnames must be given.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const vpc = await findVpc(deps, context, shown);
      if (hostnames === true && !(support ?? vpc.enableDnsSupport)) {
        throw invalidValue(
          'EnableDnsHostnames',
          'true',
          'DNS hostnames need DNS support to be enabled in the VPC.',
        );
      }
      await vpcs.modifyVpc(
        context,
        vpc.id,
        {
          ...(support !== undefined ? { enableDnsSupport: support } : {}),
          ...(hostnames !== undefined ? { enableDnsHostnames: hostnames } : {}),
        },
        shown,
      );
      return { return: true };
    },

    DescribeVpcAttribute: async ({ params, context }) => {
      const shown = params.requireString('VpcId', { max: 64 });
      const attribute = params.string('Attribute', { max: 64 });
      if (attribute === undefined) throw missingParameter('Attribute');
      if (attribute !== 'enableDnsSupport' && attribute !== 'enableDnsHostnames') {
        throw invalidValue(
          'Attribute',
          attribute,
          'It must be enableDnsSupport or enableDnsHostnames.',
        );
      }
      const vpc = await findVpc(deps, context, shown);
      return {
        vpcId: vpcEc2Id(vpc.id),
        [attribute]: { value: vpc[attribute] },
      };
    },
  };
}
