// Launch template actions: Create/Describe/Modify/Delete-LaunchTemplate(s), CreateLaunchTemplate-
// Version, Describe/Delete-LaunchTemplateVersions; and what RunInstances takes from a template.
// `LaunchTemplateData` holds what RunInstances takes here; every other member EC2 has is refused
// by name (UnsupportedOperation), never dropped. Ids in it are checked for their form only, as
// EC2 checks them when a template is made; a launch checks that they exist.
import type {
  LaunchData,
  LaunchTemplateVersion,
  TemplateRef,
  VersionRefusal,
} from '../../../compute/index.js';
import { SHUTDOWN_BEHAVIORS } from '../../../compute/index.js';
import type { RequestContext } from '../../../context.js';
import type { LaunchTemplateRow } from '../../../db/index.js';
import { invalid, StratusError } from '../../../errors.js';
import { ec2Id, parseEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { pageOffset, pageToken } from '../paging.js';
import { missingParameter, type Params } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';
import { metadataOptionsParams } from './metadata-options.js';

/** DescribeLaunchTemplates' and DescribeLaunchTemplateVersions' page sizes (EC2's: 1-200). */
const MAX_PAGE = 200;
/** DeleteLaunchTemplateVersions takes at most this many versions (EC2's limit). */
const MAX_DELETE = 200;

/** The members of LaunchTemplateData this cloud honours (the first part of each name). */
const DATA_MEMBERS = new Set([
  'ImageId',
  'KernelId',
  'RamDiskId',
  'InstanceType',
  'KeyName',
  'SecurityGroupId',
  'SecurityGroup',
  'UserData',
  'TagSpecification',
  'DisableApiTermination',
  'DisableApiStop',
  'InstanceInitiatedShutdownBehavior',
  'Placement',
  'Monitoring',
  'EbsOptimized',
  'MetadataOptions',
]);

/** The resource types a launch's tags may name: RunInstances' own (see instances.ts). */
export const LAUNCH_TAG_TYPES = ['instance', 'volume', 'network-interface'] as const;

function unsupported(name: string, why: string): StratusError {
  return invalid(`The parameter ${name} is not supported by this cloud: ${why}`, {
    resource: 'parameter',
    id: name,
    reason: 'unsupported',
  });
}

/** The tags of a launch's TagSpecification.N, refusing resource types a launch cannot tag. */
export function launchTagSpecifications(params: Params): LaunchData['tagSpecifications'] {
  const specs = params.tagSpecifications();
  for (const s of specs) {
    if (!(LAUNCH_TAG_TYPES as readonly string[]).includes(s.resourceType)) {
      throw invalid(
        `'${s.resourceType}' is not a valid taggable resource type for this operation.`,
        { resource: 'parameter', id: 'TagSpecification.ResourceType' },
      );
    }
  }
  return specs.length > 0 ? specs : undefined;
}

/** `LaunchTemplateData.*` as launch parameters; anything this cloud cannot honour is refused. */
export function parseLaunchTemplateData(all: Params): LaunchData {
  const p = all.sub('LaunchTemplateData');
  for (const key of p.names()) {
    const top = key.split('.')[0] as string;
    const known =
      DATA_MEMBERS.has(top) &&
      (top !== 'Placement' || ['Placement.AvailabilityZone', 'Placement.Tenancy'].includes(key)) &&
      (top !== 'Monitoring' || key === 'Monitoring.Enabled');
    if (!known) {
      throw unsupported(
        `LaunchTemplateData.${key}`,
        'a launch here takes an image, kernel and ramdisk, instance type, key pair, security groups, user data, tags, protection flags, shutdown behaviour, metadata options and availability zone.',
      );
    }
  }
  // Monitoring and EBS optimisation switched off are what every instance here has: taken (and
  // not kept, as there is nothing to keep); switched on, they are refused.
  if (p.bool('Monitoring.Enabled')) {
    throw unsupported('LaunchTemplateData.Monitoring.Enabled', 'there is no detailed monitoring.');
  }
  if (p.bool('EbsOptimized')) {
    throw unsupported('LaunchTemplateData.EbsOptimized', 'there is no EBS.');
  }
  const tenancy = p.string('Placement.Tenancy', { max: 64 });
  if (tenancy !== undefined && tenancy !== 'default') {
    throw unsupported('LaunchTemplateData.Placement.Tenancy', 'only default tenancy is offered.');
  }
  const ref = (name: string, prefix: string, resource: 'image' | 'security_group') => {
    const v = p.string(name, { max: 64 });
    return v === undefined ? undefined : parseEc2Id(v, [prefix], resource).uuidPrefix;
  };
  const groupRefs = p
    .list('SecurityGroupId')
    .map((g) => parseEc2Id(g, ['sg'], 'security_group').uuidPrefix);
  const groupNames = p.list('SecurityGroup');
  const data: LaunchData = {
    imageRef: ref('ImageId', 'ami', 'image'),
    kernelRef: ref('KernelId', 'aki', 'image'),
    ramdiskRef: ref('RamDiskId', 'ari', 'image'),
    instanceType: p.string('InstanceType', { max: 64 }),
    keyName: p.string('KeyName', { max: 255 }),
    securityGroupRefs: groupRefs.length > 0 ? groupRefs : undefined,
    securityGroupNames: groupNames.length > 0 ? groupNames : undefined,
    userData: p.string('UserData', { max: 100_000 }),
    availabilityZone: p.string('Placement.AvailabilityZone', { max: 255 }) || undefined,
    disableApiTermination: p.bool('DisableApiTermination'),
    disableApiStop: p.bool('DisableApiStop'),
    shutdownBehavior: p.enumOf('InstanceInitiatedShutdownBehavior', SHUTDOWN_BEHAVIORS),
    metadataOptions: nonEmpty(metadataOptionsParams(p, 'MetadataOptions.')),
    tagSpecifications: launchTagSpecifications(p),
  };
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as LaunchData;
}

/** An object with at least one field, or undefined. */
function nonEmpty<T extends object>(o: T): T | undefined {
  return Object.keys(o).length > 0 ? o : undefined;
}

/** A template as a request names it: `<prefix>LaunchTemplateId` or `<prefix>LaunchTemplateName`. */
export function templateRef(params: Params, prefix = ''): TemplateRef {
  const id = params.string(`${prefix}LaunchTemplateId`, { max: 64 });
  const name = params.string(`${prefix}LaunchTemplateName`, { max: 255 });
  if (id && name) {
    throw new StratusError(
      'invalid',
      `Give ${prefix}LaunchTemplateId or ${prefix}LaunchTemplateName, not both.`,
      { resource: 'parameter', reason: 'combination' },
    );
  }
  if (id) return { idPrefix: parseEc2Id(id, ['lt'], 'launch_template').uuidPrefix, shown: id };
  if (name) return { name };
  throw missingParameter(`${prefix}LaunchTemplateId or ${prefix}LaunchTemplateName`);
}

/** The template version a RunInstances names (`LaunchTemplate.*`), or undefined without one. */
export async function launchTemplateOf(
  deps: Ec2Deps,
  context: RequestContext,
  params: Params,
): Promise<LaunchTemplateVersion | undefined> {
  if (!params.has('LaunchTemplate')) return undefined;
  const ref = templateRef(params, 'LaunchTemplate.');
  const version = params.string('LaunchTemplate.Version', { max: 255 });
  return deps.launchTemplates.forLaunch(context, ref, version || undefined);
}

/** The tags EC2 puts on an instance launched from a template. */
export function launchTemplateTags(v: LaunchTemplateVersion): { key: string; value: string }[] {
  return [
    { key: 'aws:ec2launchtemplate:id', value: ec2Id('lt', v.template.id) },
    { key: 'aws:ec2launchtemplate:version', value: String(v.version) },
  ];
}

function createdBy(projectId: string, userId: string): string {
  return `arn:aws:iam::${projectId}:user/${userId}`;
}

function dataView(d: LaunchData): XmlObject {
  return {
    kernelId: d.kernelRef && ec2Id('aki', d.kernelRef),
    imageId: d.imageRef && ec2Id('ami', d.imageRef),
    instanceType: d.instanceType,
    keyName: d.keyName,
    placement: d.availabilityZone ? { availabilityZone: d.availabilityZone } : undefined,
    ramDiskId: d.ramdiskRef && ec2Id('ari', d.ramdiskRef),
    disableApiTermination: d.disableApiTermination,
    instanceInitiatedShutdownBehavior: d.shutdownBehavior,
    userData: d.userData,
    tagSpecificationSet: d.tagSpecifications?.map((s) => ({
      resourceType: s.resourceType,
      tagSet: s.tags.map((t) => ({ key: t.key, value: t.value })),
    })),
    securityGroupIdSet: d.securityGroupRefs?.map((r) => ec2Id('sg', r)),
    securityGroupSet: d.securityGroupNames,
    disableApiStop: d.disableApiStop,
    metadataOptions: d.metadataOptions && {
      httpTokens: d.metadataOptions.httpTokens,
      httpPutResponseHopLimit: d.metadataOptions.hopLimit,
      httpEndpoint: d.metadataOptions.httpEndpoint,
      instanceMetadataTags: d.metadataOptions.instanceTags,
    },
  };
}

function versionView(v: LaunchTemplateVersion): XmlObject {
  return {
    launchTemplateId: ec2Id('lt', v.template.id),
    launchTemplateName: v.template.name,
    versionNumber: v.version,
    versionDescription: v.description ?? undefined,
    createTime: ec2Time(v.createdAt),
    createdBy: createdBy(v.template.projectId, v.createdBy),
    defaultVersion: v.isDefault,
    launchTemplateData: dataView(v.data),
  };
}

/** EC2's words for why a version could not be deleted (its ResponseError codes). */
const REFUSAL: Record<VersionRefusal, { code: string; message: string }> = {
  not_found: {
    code: 'launchTemplateVersionDoesNotExist',
    message: 'The specified launch template version does not exist.',
  },
  default: {
    code: 'unexpectedError',
    message:
      'The default version of a launch template cannot be deleted; delete the launch template, or make another version the default first.',
  },
};

export function launchTemplateActions(deps: Ec2Deps): Ec2ActionTable {
  const { launchTemplates: service, tags } = deps;

  const templateViews = async (rows: readonly LaunchTemplateRow[]): Promise<XmlObject[]> => {
    const tagsOf = await tags.of(rows.map((r) => r.id));
    return rows.map((t) => templateView(t, tagsOf.get(t.id) ?? []));
  };
  const templateView = (
    t: LaunchTemplateRow,
    tagList: readonly { key: string; value: string }[],
  ): XmlObject => ({
    launchTemplateId: ec2Id('lt', t.id),
    launchTemplateName: t.name,
    createTime: ec2Time(Number(t.createdAt)),
    createdBy: createdBy(t.projectId, t.createdBy),
    defaultVersionNumber: t.defaultVersion,
    latestVersionNumber: t.latestVersion,
    tagSet: tagList.map((x) => ({ key: x.key, value: x.value })),
  });

  /** TagSpecification.N of CreateLaunchTemplate: only the template itself can be tagged. */
  const templateTags = (params: Params) =>
    params.tagSpecifications().flatMap((s) => {
      if (s.resourceType !== 'launch-template') {
        throw invalid(
          `'${s.resourceType}' is not a valid taggable resource type for this operation; tags for the instances go in LaunchTemplateData.TagSpecification.`,
          { resource: 'parameter', id: 'TagSpecification.ResourceType' },
        );
      }
      return s.tags;
    });

  const page = <T>(params: Params, items: readonly T[]) => {
    const maxResults = params.int('MaxResults', { min: 1, max: MAX_PAGE });
    const offset = pageOffset(params.string('NextToken', { max: 1024 }));
    const end = maxResults === undefined ? items.length : offset + maxResults;
    return {
      items: items.slice(offset, end),
      nextToken: end < items.length ? pageToken(end) : undefined,
    };
  };

  return {
    CreateLaunchTemplate: async ({ params, context }) => {
      const name = params.requireString('LaunchTemplateName', { max: 1024 });
      refuseOperator(params);
      const { template } = await service.create(context, {
        name,
        description: params.string('VersionDescription', { max: 1024 }),
        data: parseLaunchTemplateData(params),
        tags: templateTags(params),
        clientToken: params.string('ClientToken', { max: 1024 }),
      });
      return { launchTemplate: (await templateViews([template]))[0] };
    },

    CreateLaunchTemplateVersion: async ({ params, context }) => {
      const ref = templateRef(params);
      // ResolveAlias concerns Systems Manager parameters as image ids, which this cloud does
      // not take: an image id is always shown as it is.
      const v = await service.createVersion(context, ref, {
        sourceVersion: params.string('SourceVersion', { max: 255 }),
        description: params.string('VersionDescription', { max: 1024 }),
        data: parseLaunchTemplateData(params),
        clientToken: params.string('ClientToken', { max: 1024 }),
      });
      return { launchTemplateVersion: versionView(v) };
    },

    // IncludeManagedResources: no template here is managed by a provider's service, so there
    // is nothing hidden for it to show.
    DescribeLaunchTemplates: async ({ params, context }) => {
      const ids = params.list('LaunchTemplateId').map((shown) => ({
        idPrefix: parseEc2Id(shown, ['lt'], 'launch_template').uuidPrefix,
        shown,
      }));
      const filters = params.filters();
      const rows = await service.list(context, { ids, names: params.list('LaunchTemplateName') });
      const tagsOf = await tags.of(rows.map((r) => r.id));
      const matched = applyFilters(
        rows,
        filters,
        {
          'create-time': (t) => ec2Time(Number(t.createdAt)),
          'launch-template-name': (t) => t.name,
        },
        { tags: (t) => tagsOf.get(t.id) ?? [] },
      );
      const { items, nextToken } = page(params, matched);
      return {
        launchTemplates: items.map((t) => templateView(t, tagsOf.get(t.id) ?? [])),
        nextToken,
      };
    },

    // ResolveAlias: as for CreateLaunchTemplateVersion, image ids are never aliases here.
    DescribeLaunchTemplateVersions: async ({ params, context }) => {
      const versions = params.list('LaunchTemplateVersion');
      const min = params.string('MinVersion', { max: 64 });
      const max = params.string('MaxVersion', { max: 64 });
      let list: LaunchTemplateVersion[];
      if (params.has('LaunchTemplateId') || params.has('LaunchTemplateName')) {
        list = await service.versions(context, templateRef(params), {
          versions,
          ...(min !== undefined ? { min } : {}),
          ...(max !== undefined ? { max } : {}),
        });
      } else {
        // Without a template, only the aliases make sense: every template's latest or default.
        if (versions.length === 0) throw missingParameter('LaunchTemplateId or LaunchTemplateName');
        const other = versions.find((v) => v !== '$Latest' && v !== '$Default');
        if (other !== undefined || min !== undefined || max !== undefined) {
          throw new StratusError(
            'invalid',
            'Without a launch template, only the versions $Latest and $Default can be described.',
            { resource: 'parameter', reason: 'combination' },
          );
        }
        list = await service.aliasVersions(context, {
          latest: versions.includes('$Latest'),
          default: versions.includes('$Default'),
        });
      }
      // Filters on what a version can hold here; those on things it never holds (EBS, IAM,
      // licences, network cards, metadata options, host groups) match no version.
      const never = () => undefined;
      const matched = applyFilters(list, params.filters(), {
        'create-time': (v) => ec2Time(v.createdAt),
        'ebs-optimized': () => false,
        'image-id': (v) => v.data.imageRef && ec2Id('ami', v.data.imageRef),
        'instance-type': (v) => v.data.instanceType,
        'is-default-version': (v) => v.isDefault,
        'kernel-id': (v) => v.data.kernelRef && ec2Id('aki', v.data.kernelRef),
        'ram-disk-id': (v) => v.data.ramdiskRef && ec2Id('ari', v.data.ramdiskRef),
        'http-endpoint': never,
        'http-protocol-ipv4': never,
        'http-tokens': never,
        'host-resource-group-arn': never,
        'iam-instance-profile': never,
        'license-configuration-arn': never,
        'network-card-index': never,
      });
      const { items, nextToken } = page(params, matched);
      return { launchTemplateVersionSet: items.map(versionView), nextToken };
    },

    ModifyLaunchTemplate: async ({ params, context }) => {
      const ref = templateRef(params);
      // ClientToken: setting the default version twice leaves it as once, so a retry needs
      // no token to be safe; it is accepted and its form checked.
      params.string('ClientToken', { max: 128 });
      const version = params.string('SetDefaultVersion', { max: 255 });
      const template =
        version === undefined
          ? await service.find(context, ref)
          : await service.setDefault(context, ref, version);
      return { launchTemplate: (await templateViews([template]))[0] };
    },

    DeleteLaunchTemplate: async ({ params, context }) => {
      const template = await service.delete(context, templateRef(params));
      return { launchTemplate: templateView(template, []) };
    },

    DeleteLaunchTemplateVersions: async ({ params, context }) => {
      const ref = templateRef(params);
      const versions = params.list('LaunchTemplateVersion');
      if (versions.length === 0) throw missingParameter('LaunchTemplateVersion');
      if (versions.length > MAX_DELETE) {
        throw invalid(`At most ${MAX_DELETE} versions can be deleted in one request.`, {
          resource: 'parameter',
          id: 'LaunchTemplateVersion',
        });
      }
      const { template, deleted, refused } = await service.deleteVersions(context, ref, versions);
      const id = ec2Id('lt', template.id);
      return {
        successfullyDeletedLaunchTemplateVersionSet: deleted.map((n) => ({
          launchTemplateId: id,
          launchTemplateName: template.name,
          versionNumber: n,
        })),
        unsuccessfullyDeletedLaunchTemplateVersionSet: refused.map((r) => ({
          launchTemplateId: id,
          launchTemplateName: template.name,
          versionNumber: /^\d{1,15}$/.test(r.version) ? Number(r.version) : undefined,
          responseError: REFUSAL[r.why],
        })),
      };
    },
  };
}

/** `Operator` is reserved for AWS's own services: nothing here may act as one. */
function refuseOperator(params: Params): void {
  if (params.has('Operator')) {
    throw unsupported('Operator', 'it is reserved for the provider’s own services.');
  }
}
