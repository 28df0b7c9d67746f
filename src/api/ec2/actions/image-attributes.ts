// Image attributes, sharing, copying and deprecation: Describe/Modify/ResetImageAttribute,
// CopyImage, Enable/DisableImageDeprecation.
//
// A launch permission is a share of the image with a project (an EC2 account id here is a
// project id, as DescribeImages shows OwnerId); EC2 has no accept step, so it is accepted at
// once and the project can see and launch the image. `Group=all` makes an image public, which
// only an admin may do (the Image API's rule), and removing it makes the image private again.
import type { RequestContext } from '../../../context.js';
import { invalid, StratusError } from '../../../errors.js';
import { imageEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import { invalidValue, missingParameter, type Params } from '../params.js';
import type { XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';
import { imageById, shownId } from './images.js';
import { checkTags } from './instances.js';

/** The attributes DescribeImageAttribute knows, as EC2 names them. */
const ATTRIBUTES = [
  'description',
  'kernel',
  'ramdisk',
  'launchPermission',
  'productCodes',
  'blockDeviceMapping',
  'sriovNetSupport',
  'bootMode',
  'tpmSupport',
  'uefiData',
  'lastLaunchedTime',
  'imdsSupport',
  'deregistrationProtection',
] as const;

/**
 * Attributes EC2 has and this cloud keeps nothing of (no SR-IOV, TPM, UEFI, IMDS settings or
 * launch times per image): EC2 answers InvalidRequest for an attribute the image lacks.
 */
const NOT_KEPT = new Set([
  'sriovNetSupport',
  'tpmSupport',
  'uefiData',
  'lastLaunchedTime',
  'imdsSupport',
]);

/** An EC2 account id here: a project id, 32 hex digits. */
const ACCOUNT_ID = /^[0-9a-f]{32}$/;

/** ModifyImageAttribute parameters for things this cloud does not have: refused by name. */
const UNSUPPORTED_MODIFY = [
  'ProductCode',
  'ImdsSupport',
  'OrganizationArn',
  'OrganizationalUnitArn',
];

/** CopyImage parameters for things this cloud does not have. */
const UNSUPPORTED_COPY = [
  'KmsKeyId',
  'DestinationOutpostArn',
  'DestinationAvailabilityZone',
  'DestinationAvailabilityZoneId',
  'SnapshotCopyCompletionDurationMinutes',
];

/** What one ModifyImageAttribute asks for launch permissions. */
interface PermissionChange {
  add: { projects: string[]; all: boolean };
  remove: { projects: string[]; all: boolean };
}

export function imageAttributeActions({ images, tags }: Ec2Deps): Ec2ActionTable {
  const image = (ctx: RequestContext, params: Params) =>
    imageById(images, ctx, params.requireString('ImageId', { max: 64 }));

  return {
    DescribeImageAttribute: async ({ params, context }) => {
      const shown = params.requireString('ImageId', { max: 64 });
      const attribute = params.string('Attribute', { max: 64 });
      if (attribute === undefined) throw missingParameter('Attribute');
      if (!(ATTRIBUTES as readonly string[]).includes(attribute)) {
        throw invalidValue('Attribute', attribute, 'Unknown attribute.');
      }
      const row = await imageById(images, context, shown);
      if (NOT_KEPT.has(attribute)) {
        throw new StratusError(
          'invalid',
          `The image '${shown}' has no ${attribute} attribute: this cloud does not keep it.`,
          { resource: 'image', id: shown, reason: 'attribute_not_kept' },
        );
      }
      if (attribute === 'blockDeviceMapping') {
        // The EC2 reference: this attribute answers AuthFailure; DescribeImages shows the
        // mappings (none here).
        throw new StratusError(
          'forbidden',
          'The blockDeviceMapping attribute is not available through DescribeImageAttribute; use DescribeImages.',
          { resource: 'image', id: shown, reason: 'attribute_not_kept' },
        );
      }
      const value = (v: string | undefined) => (v ? { value: v } : {});
      const body: XmlObject = { imageId: shownId(row) };
      switch (attribute) {
        case 'description':
          body.description = value(row.description);
          break;
        case 'kernel':
          body.kernel = value(row.kernelId ? imageEc2Id('kernel', row.kernelId) : undefined);
          break;
        case 'ramdisk':
          body.ramdisk = value(row.ramdiskId ? imageEc2Id('ramdisk', row.ramdiskId) : undefined);
          break;
        case 'launchPermission': {
          // Who may launch it is the owner's to know; others see only themselves.
          const members = (await images.membersOf(context, [row])).get(row.id) ?? [];
          body.launchPermission = [
            ...(row.isPublic === 1 ? [{ group: 'all' }] : []),
            ...members.filter((m) => m.status === 'accepted').map((m) => ({ userId: m.projectId })),
          ];
          break;
        }
        case 'productCodes':
          body.productCodes = [];
          break;
        case 'bootMode':
          body.bootMode = value('legacy-bios');
          break;
        case 'deregistrationProtection':
          body.deregistrationProtection = value('disabled');
          break;
      }
      return body;
    },

    ModifyImageAttribute: async ({ params, context }) => {
      for (const name of UNSUPPORTED_MODIFY) {
        if (params.has(name) || params.list(name).length > 0 || params.has(`${name}.Value`)) {
          throw unsupported(
            name,
            'images here have no product codes, organizations or IMDS settings',
          );
        }
      }
      const attribute = params.string('Attribute', { max: 64 });
      if (attribute !== undefined && !['description', 'launchPermission'].includes(attribute)) {
        if (['productCodes', 'imdsSupport'].includes(attribute)) {
          throw unsupported(`Attribute=${attribute}`, 'this cloud does not keep it');
        }
        throw invalidValue('Attribute', attribute, 'It must be description or launchPermission.');
      }
      const description =
        params.string('Description.Value', { max: 1024 }) ??
        (attribute === 'description' ? params.string('Value', { max: 1024 }) : undefined);
      const permissions = permissionChange(params, attribute);
      const asksPermissions =
        permissions.add.all ||
        permissions.remove.all ||
        permissions.add.projects.length > 0 ||
        permissions.remove.projects.length > 0;
      if (description === undefined && !asksPermissions) {
        throw missingParameter(
          'Description.Value or LaunchPermission (or Attribute with OperationType and UserId/UserGroup)',
        );
      }
      if (description !== undefined && asksPermissions) {
        throw new StratusError(
          'invalid',
          'A ModifyImageAttribute request changes either the description or the launch permissions, not both.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const row = await image(context, params);
      if (description !== undefined) {
        await images.modify(context, row.id, { description });
        return { return: true };
      }
      for (const p of [...permissions.add.projects, ...permissions.remove.projects]) {
        if (!ACCOUNT_ID.test(p)) {
          throw invalid(
            `The account id '${p.slice(0, 64)}' is not valid: an account here is a project id (32 hex digits, as DescribeImages shows OwnerId).`,
            { resource: 'image_member', id: p, reason: 'malformed' },
          );
        }
      }
      if (permissions.remove.all) await images.modify(context, row.id, { isPublic: false });
      for (const p of permissions.remove.projects) await images.unshare(context, row.id, p);
      for (const p of permissions.add.projects) await images.share(context, row.id, p, 'accepted');
      if (permissions.add.all) await images.modify(context, row.id, { isPublic: true });
      return { return: true };
    },

    ResetImageAttribute: async ({ params, context }) => {
      const attribute = params.string('Attribute', { max: 64 });
      if (attribute === undefined) throw missingParameter('Attribute');
      if (attribute !== 'launchPermission') {
        throw invalidValue('Attribute', attribute, 'Only launchPermission can be reset.');
      }
      const row = await image(context, params);
      // Back to the default: private to its owner, shared with nobody.
      await images.modify(context, row.id, { isPublic: false, endShares: true });
      return { return: true };
    },

    CopyImage: async ({ params, context, region }) => {
      for (const name of UNSUPPORTED_COPY) {
        if (params.has(name)) throw unsupported(name, 'images here are local files of one region');
      }
      if (params.bool('Encrypted') === true) {
        throw unsupported('Encrypted', 'image files are not encrypted here');
      }
      const sourceRegion = params.requireString('SourceRegion', { max: 64 });
      if (sourceRegion !== region) {
        throw invalidValue(
          'SourceRegion',
          sourceRegion,
          `Images can only be copied within this region (${region}).`,
        );
      }
      const name = params.requireString('Name', { max: 4096 });
      if (!/^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/.test(name)) {
        throw invalid(
          `The image name '${name.slice(0, 140)}' is not valid: it must be 3 to 128 letters, digits, spaces or ( ) [ ] . / - ' @ _ characters.`,
          { resource: 'image', id: name, reason: 'name' },
        );
      }
      const description = params.string('Description', { max: 1024 });
      const clientToken = params.string('ClientToken', { max: 64 });
      const copyTags = params.bool('CopyImageTags') ?? false;
      const newTags = params
        .tagSpecifications()
        .filter((s) => {
          if (s.resourceType !== 'image')
            throw invalidValue(
              'TagSpecification.ResourceType',
              s.resourceType,
              "It must be 'image'.",
            );
          return true;
        })
        .flatMap((s) => s.tags);
      checkTags(newTags);
      const source = await imageById(
        images,
        context,
        params.requireString('SourceImageId', { max: 64 }),
      );
      if (source.kind !== 'machine') {
        throw invalidValue(
          'SourceImageId',
          shownId(source),
          'Only machine images (ami-) can be copied.',
        );
      }
      // CopyImageTags copies the caller's own tags of the source; the new ones win on a key.
      const copied = copyTags
        ? ((await tags.of([source.id])).get(source.id) ?? [])
            .filter((t) => t.projectId === context.projectId)
            .filter((t) => !newTags.some((n) => n.key === t.key))
            .map((t) => ({ key: t.key, value: t.value }))
        : [];
      const row = await images.copy(context, {
        sourceId: source.id,
        name,
        description,
        clientToken,
        tags: [...copied, ...newTags],
      });
      return { imageId: shownId(row) };
    },

    EnableImageDeprecation: async ({ params, context }) => {
      const row = await image(context, params);
      const at = params.requireString('DeprecateAt', { max: 64 });
      const ms = Date.parse(at);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(at) || Number.isNaN(ms)) {
        throw invalidValue('DeprecateAt', at, 'It must be a time in ISO 8601 (UTC).');
      }
      // EC2 keeps deprecation times to the minute (seconds are rounded down) and refuses more
      // than ten years ahead.
      const rounded = Math.floor(ms / 60_000) * 60_000;
      if (rounded > Date.now() + 10 * 366 * 24 * 3600_000) {
        throw invalidValue('DeprecateAt', at, 'It must be at most 10 years from now.');
      }
      await images.modify(context, row.id, { deprecateAt: rounded });
      return { return: true };
    },

    DisableImageDeprecation: async ({ params, context }) => {
      const row = await image(context, params);
      await images.modify(context, row.id, { deprecateAt: null });
      return { return: true };
    },
  };
}

/**
 * The launch permissions a ModifyImageAttribute asks to change: `LaunchPermission.Add.N` /
 * `.Remove.N` (UserId or Group=all), or the older `Attribute=launchPermission` with
 * `OperationType` add|remove and `UserId.N` / `UserGroup.N`.
 */
function permissionChange(params: Params, attribute: string | undefined): PermissionChange {
  const out: PermissionChange = {
    add: { projects: [], all: false },
    remove: { projects: [], all: false },
  };
  for (const side of ['Add', 'Remove'] as const) {
    const into = side === 'Add' ? out.add : out.remove;
    for (const item of params.structs(`LaunchPermission.${side}`)) {
      for (const org of ['OrganizationArn', 'OrganizationalUnitArn']) {
        if (item.has(org)) {
          throw unsupported(`LaunchPermission.${side}.N.${org}`, 'this cloud has no organizations');
        }
      }
      const user = item.string('UserId', { max: 64 });
      const group = item.string('Group', { max: 16 });
      if (group !== undefined && group !== 'all') {
        throw invalidValue(`LaunchPermission.${side}.N.Group`, group, "It must be 'all'.");
      }
      if (user === undefined && group === undefined) {
        throw missingParameter(`LaunchPermission.${side}.N.UserId or Group`);
      }
      if (user !== undefined) into.projects.push(user);
      if (group === 'all') into.all = true;
    }
  }
  const users = params.list('UserId');
  const groups = params.list('UserGroup');
  const operation = params.enumOf('OperationType', ['add', 'remove'] as const);
  if (users.length > 0 || groups.length > 0 || operation !== undefined) {
    if (attribute !== undefined && attribute !== 'launchPermission') {
      throw new StratusError(
        'invalid',
        `OperationType, UserId and UserGroup go with Attribute=launchPermission, not ${attribute}.`,
        { resource: 'parameter', reason: 'combination' },
      );
    }
    if (operation === undefined) throw missingParameter('OperationType');
    const into = operation === 'add' ? out.add : out.remove;
    into.projects.push(...users);
    for (const g of groups) {
      if (g !== 'all') throw invalidValue('UserGroup', g, "It must be 'all'.");
      into.all = true;
    }
  }
  return out;
}

function unsupported(name: string, why: string): StratusError {
  return invalid(`The parameter ${name} is not supported: ${why}.`, {
    resource: 'parameter',
    id: name,
    reason: 'unsupported',
  });
}
