// Image actions: DescribeImages, RegisterImage, DeregisterImage (image-attributes.ts has the
// attributes, sharing, copying and deprecation).
//
// Owners: a project's images show its project id as owner; the cloud's own images (imported
// by an operator) show the owner 'system' (also their owner alias). RegisterImage has no S3
// manifest to read: its ImageLocation names an image the caller can already see, either by id
// (ami-/aki-/ari-...) or by the `imageLocation` DescribeImages shows (`<owner-id>/<name>`), and
// the new image is a private image of the caller's project over the same stored file, with
// its own name, description, architecture and kernel/ramdisk.
import type { RequestContext } from '../../../context.js';
import type { ImageRow, ImageStatus } from '../../../db/index.js';
import {
  isVolumeBacked,
  rootDeviceNameOf,
  volumeMappingsOf,
  type ImageService,
} from '../../../image/index.js';
import { invalid, notFound, StratusError } from '../../../errors.js';
import type { Ec2ActionTable } from '../action.js';
import { applyFilters } from '../filters.js';
import { ec2Id, imageEc2Id, parseEc2Id, parseImageEc2Id } from '../../../ids/index.js';
import { invalidValue, missingParameter } from '../params.js';
import { ec2Time, type XmlObject } from '../xml.js';
import { checkTags } from './instances.js';
import { imageBlockDeviceMappingView, registerVolumeBacked } from './block-devices.js';
import type { Ec2Deps } from './deps.js';
import { pageOffset, pageToken } from '../paging.js';

/** The owner id and alias of the cloud's own images. */
export const SYSTEM_OWNER = 'system';

/** Owner aliases EC2 clients send; ours is 'system', the others name owners this cloud lacks. */
const OWNER_ALIASES = new Set([SYSTEM_OWNER, 'amazon', 'aws-marketplace', 'aws-backup-vault']);

const ROOT_DEVICE = '/dev/vda';

/** EC2's image state for each internal status. */
const STATE: Record<ImageStatus, string> = {
  queued: 'pending',
  saving: 'pending',
  uploading: 'pending',
  importing: 'pending',
  active: 'available',
  // The Image API's deactivated image is EC2's disabled AMI: kept, not launched.
  deactivated: 'disabled',
  killed: 'failed',
  deleted: 'deregistered',
};

/** EC2's rule for AMI names (RegisterImage, CreateImage). */
const EC2_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

/** RegisterImage parameters for features this cloud does not have: refused, not ignored. */
const UNSUPPORTED = ['BillingProduct', 'UefiData', 'TpmSupport', 'ImdsSupport'];

const MAX_PAGE = 1000;

function ownerId(row: ImageRow): string {
  return row.ownerProjectId ?? SYSTEM_OWNER;
}

export function shownId(row: ImageRow): string {
  return imageEc2Id(row.kind, row.id);
}

/** One image the caller can see, by its EC2 id; kind and prefix must both match. */
export async function imageById(
  images: ImageService,
  ctx: RequestContext,
  shown: string,
): Promise<ImageRow> {
  const { kind, uuidPrefix } = parseImageEc2Id(shown);
  try {
    return await images.find(ctx, uuidPrefix, kind);
  } catch (err) {
    if (err instanceof StratusError && err.kind === 'not_found') throw imageNotFound(shown);
    throw err;
  }
}

/** Whether an image counts as deprecated at `at`. */
function deprecated(row: ImageRow, at: number): boolean {
  return row.deprecateAt !== null && row.deprecateAt <= at;
}

export function imageActions(deps: Ec2Deps): Ec2ActionTable {
  const { images, tags } = deps;
  /** The caller's project's tags on these images (tags are kept per project). */
  const tagsOf = async (ctx: RequestContext, rows: readonly ImageRow[]) => {
    const map = await tags.of(rows.map((r) => r.id));
    return (row: ImageRow) =>
      (map.get(row.id) ?? [])
        .filter((t) => t.projectId === ctx.projectId)
        .map((t) => ({ key: t.key, value: t.value }));
  };

  /** RegisterImage's ImageLocation: an image id, or `<owner-id>/<name>`. */
  const imageAt = async (ctx: RequestContext, location: string): Promise<ImageRow> => {
    if (/^a[mkr]i-/.test(location)) return imageById(images, ctx, location);
    const slash = location.indexOf('/');
    if (slash <= 0 || slash === location.length - 1) {
      throw invalidValue(
        'ImageLocation',
        location,
        'It must be an image id (ami-..., aki-..., ari-...) or <owner-id>/<image-name> as DescribeImages shows it.',
      );
    }
    const owner = location.slice(0, slash);
    const name = location.slice(slash + 1);
    const wanted = owner === 'self' ? ctx.projectId : owner === SYSTEM_OWNER ? null : owner;
    const found = (await images.list(ctx)).filter(
      (r) => r.name === name && r.ownerProjectId === wanted,
    );
    if (!found[0]) throw notFound('image', location, `No image you can use is at '${location}'.`);
    return found[0];
  };

  return {
    DescribeImages: async ({ params, context }) => {
      const shownIds = params.list('ImageId');
      const wanted = shownIds.map((id) => ({ id, ...parseImageEc2Id(id) }));
      const owners = params.list('Owner');
      const executableBy = params.list('ExecutableBy');
      for (const [name, values, help] of [
        ['Owner', owners, 'It must be self, system or a project id.'],
        ['ExecutableBy', executableBy, 'It must be self, all or a project id.'],
      ] as const) {
        for (const v of values)
          if (v.length === 0 || v.length > 64) throw invalidValue(name, v, help);
      }
      const includeDeprecated = params.bool('IncludeDeprecated') ?? false;
      const includeDisabled = params.bool('IncludeDisabled') ?? false;
      const maxResults = params.int('MaxResults', { min: 1, max: MAX_PAGE });
      if (maxResults !== undefined && shownIds.length > 0) {
        throw new StratusError(
          'invalid',
          'The parameter imageIds cannot be used with the parameter maxResults.',
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const offset = pageOffset(params.string('NextToken', { max: 1024 }));
      const filters = params.filters();

      let rows = await images.list(context, {
        idPrefixes: wanted.length > 0 ? wanted.map((w) => w.uuidPrefix) : undefined,
      });
      if (wanted.length > 0) {
        rows = rows.filter((r) =>
          wanted.some((w) => w.kind === r.kind && r.id.startsWith(w.uuidPrefix)),
        );
        const missing = wanted.filter(
          (w) => !rows.some((r) => r.kind === w.kind && r.id.startsWith(w.uuidPrefix)),
        );
        if (missing.length > 0) throw imageNotFound(...missing.map((m) => m.id));
      }
      if (owners.length > 0) {
        rows = rows.filter((r) =>
          owners.some((o) =>
            o === 'self'
              ? r.ownerProjectId !== null && r.ownerProjectId === context.projectId
              : o === SYSTEM_OWNER
                ? r.ownerProjectId === null
                : !OWNER_ALIASES.has(o) && r.ownerProjectId === o,
          ),
        );
      }
      if (executableBy.length > 0) {
        // Who may launch an image: everyone when it is public, its owner, and the projects it
        // is shared with (accepted). The caller learns another project's shares only of its
        // own images.
        const members = await images.membersOf(context, rows);
        rows = rows.filter((r) =>
          executableBy.some((e) => {
            if (r.isPublic === 1) return true;
            if (e === 'all') return false;
            const project = e === 'self' ? context.projectId : e;
            if (r.ownerProjectId !== null && r.ownerProjectId === project) return true;
            return (members.get(r.id) ?? []).some(
              (m) => m.projectId === project && m.status === 'accepted',
            );
          }),
        );
      }
      // Disabled (deactivated) images are left out unless asked for or named by id.
      if (!includeDisabled && wanted.length === 0) {
        rows = rows.filter((r) => r.status !== 'deactivated');
      }
      // Deprecated images are left out unless asked for, named by id, or the caller's own.
      if (!includeDeprecated && wanted.length === 0) {
        const at = Date.now();
        rows = rows.filter(
          (r) =>
            !deprecated(r, at) ||
            (r.ownerProjectId !== null && r.ownerProjectId === context.projectId),
        );
      }
      const tagList = await tagsOf(context, rows);
      const matched = applyFilters(
        rows,
        filters,
        {
          'image-id': shownId,
          name: (r) => r.name,
          description: (r) => r.description,
          state: (r) => STATE[r.status],
          'image-type': (r) => r.kind,
          'is-public': (r) => r.isPublic === 1,
          'owner-id': ownerId,
          'owner-alias': (r) => (r.ownerProjectId === null ? SYSTEM_OWNER : null),
          architecture: (r) => r.architecture,
          'kernel-id': (r) => (r.kernelId ? imageEc2Id('kernel', r.kernelId) : null),
          'ramdisk-id': (r) => (r.ramdiskId ? imageEc2Id('ramdisk', r.ramdiskId) : null),
          'manifest-location': (r) => `${ownerId(r)}/${r.name}`,
          'creation-date': (r) => ec2Time(r.createdAt),
          'root-device-type': (r) => (isVolumeBacked(r) ? 'ebs' : 'instance-store'),
          'root-device-name': (r) => rootDeviceNameOf(r) ?? ROOT_DEVICE,
          'block-device-mapping.snapshot-id': (r) =>
            (volumeMappingsOf(r) ?? []).map((m) => ec2Id('snap', m.snapshotId)),
          'virtualization-type': () => 'hvm',
          hypervisor: () => 'xen',
          'platform-details': () => 'Linux/UNIX',
          'product-code': () => null,
          platform: () => null,
        },
        { tags: tagList },
      );
      const page =
        maxResults === undefined
          ? matched.slice(offset)
          : matched.slice(offset, offset + maxResults);
      const next = offset + page.length;
      return {
        imagesSet: page.map((r) => view(r, tagList(r))),
        nextToken: maxResults !== undefined && next < matched.length ? pageToken(next) : undefined,
      };
    },

    RegisterImage: async ({ params, context }) => {
      const name = params.string('Name', { max: 4096 });
      if (name === undefined || name === '') throw missingParameter('Name');
      if (!EC2_NAME.test(name)) {
        throw invalid(
          `The image name '${name.slice(0, 140)}' is not valid: it must be 3 to 128 letters, digits, spaces or ( ) [ ] . / - ' @ _ characters.`,
          { resource: 'image', id: name, reason: 'name' },
        );
      }
      for (const p of UNSUPPORTED) {
        if (params.has(p)) {
          throw invalid(
            `The parameter ${p} is not supported: a Stratus image is one local disk file.`,
            { resource: 'parameter', id: p },
          );
        }
      }
      const virtualization = params.enumOf('VirtualizationType', ['hvm', 'paravirtual'] as const);
      if (virtualization === 'paravirtual') {
        throw invalidValue('VirtualizationType', virtualization, 'Stratus boots images as hvm.');
      }
      if (
        params.enumOf('BootMode', ['legacy-bios', 'uefi', 'uefi-preferred'] as const) === 'uefi'
      ) {
        throw invalidValue('BootMode', 'uefi', 'Stratus boots images with a BIOS.');
      }
      // Checked, then ignored: the image is the one disk, /dev/vda to the guest whatever its name.
      params.string('RootDeviceName', {
        max: 32,
        pattern: /^\/dev\/[a-z0-9]+$/,
        patternHelp: 'It must be a device name such as /dev/vda.',
      });
      // Refused before the action runs unless empty or false (parameters/images.ts); checked here.
      params.enumOf('SriovNetSupport', ['simple'] as const);
      params.bool('EnaSupport');
      const description = params.string('Description', { max: 255 });
      const architecture = params.enumOf('Architecture', [
        'i386',
        'x86_64',
        'arm64',
        'x86_64_mac',
        'arm64_mac',
      ] as const);
      if (architecture?.endsWith('_mac')) {
        throw invalidValue('Architecture', architecture, 'Stratus has no Mac hosts.');
      }
      const link = async (param: 'KernelId' | 'RamdiskId', prefix: 'aki' | 'ari') => {
        const shown = params.string(param, { max: 64 });
        if (shown === undefined) return undefined;
        parseEc2Id(shown, [prefix], 'image');
        return (await imageById(images, context, shown)).id;
      };
      const kernelId = await link('KernelId', 'aki');
      const ramdiskId = await link('RamdiskId', 'ari');
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
      const location = params.string('ImageLocation', { max: 1024 });
      if (params.structs('BlockDeviceMapping').length > 0) {
        if (location !== undefined) {
          throw new StratusError(
            'invalid',
            'ImageLocation and BlockDeviceMapping cannot be given together: an image is either one disk file or volumes from snapshots.',
            { resource: 'parameter', reason: 'combination' },
          );
        }
        const row = await registerVolumeBacked(deps, context, params, {
          name,
          description,
          architecture,
          kernelId,
          ramdiskId,
        });
        if (newTags.length > 0 && row.ownerProjectId !== null) {
          await deps.tags.put(
            [{ type: 'image', id: row.id, projectId: row.ownerProjectId, shown: shownId(row) }],
            newTags,
          );
        }
        return { imageId: shownId(row) };
      }
      if (location === undefined || location === '') throw missingParameter('ImageLocation');
      const source = await imageAt(context, location);
      if (source.kind !== 'machine' && (kernelId || ramdiskId)) {
        throw new StratusError(
          'invalid',
          `A ${source.kind} image cannot have a kernel or a ramdisk; only machine images can.`,
          { resource: 'parameter', reason: 'combination' },
        );
      }
      const row = await images.register(context, {
        sourceId: source.id,
        name,
        description,
        architecture,
        kernelId,
        ramdiskId,
        tags: newTags,
      });
      return { imageId: shownId(row) };
    },

    DeregisterImage: async ({ params, context }) => {
      const shown = params.requireString('ImageId', { max: 64 });
      // Checked, then ignored: the snapshots of a volume-backed image stay, as in EC2.
      params.bool('DeleteAssociatedSnapshots');
      const row = await imageById(images, context, shown);
      await images.delete(context, row.id);
      return { return: true };
    },
  };
}

function view(r: ImageRow, tags: { key: string; value: string }[]): XmlObject {
  const owner = ownerId(r);
  return {
    imageId: shownId(r),
    imageLocation: `${owner}/${r.name}`,
    imageState: STATE[r.status],
    imageOwnerId: owner,
    creationDate: ec2Time(r.createdAt),
    isPublic: r.isPublic === 1,
    productCodes: [],
    architecture: r.architecture,
    imageType: r.kind,
    kernelId: r.kernelId ? imageEc2Id('kernel', r.kernelId) : undefined,
    ramdiskId: r.ramdiskId ? imageEc2Id('ramdisk', r.ramdiskId) : undefined,
    imageOwnerAlias: r.ownerProjectId === null ? SYSTEM_OWNER : undefined,
    name: r.name,
    description: r.description || undefined,
    rootDeviceType: isVolumeBacked(r) ? 'ebs' : 'instance-store',
    rootDeviceName: rootDeviceNameOf(r) ?? ROOT_DEVICE,
    blockDeviceMapping: imageBlockDeviceMappingView(r),
    virtualizationType: 'hvm',
    tagSet: tags,
    hypervisor: 'xen',
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    deprecationTime: r.deprecateAt !== null ? ec2Time(r.deprecateAt) : undefined,
    stateReason:
      r.status === 'killed'
        ? { code: 'Server.InternalError', message: 'The image file could not be stored.' }
        : undefined,
  };
}

/** EC2's not-found error for image ids, naming all of them. */
export function imageNotFound(...ids: string[]): StratusError {
  const message =
    ids.length === 1
      ? `The image id '[${ids[0]}]' does not exist`
      : `The image ids '[${ids.join(', ')}]' do not exist`;
  return notFound('image', ids.join(','), message);
}
