// Servers: create, show, update and delete, in the shapes of the microversion asked for (the
// listings are server-list.ts). A server is an instance: its id the instance's UUID, its name
// the instance's `Name` tag; what only the Compute API knows of it (description, hostname,
// admin password, tags) is kept beside the instance.
import { randomBytes } from 'node:crypto';
import { isAdmin, type RequestContext } from '../../context.js';
import type { InstanceRow } from '../../db/index.js';
import { invalid, notFound, StratusError } from '../../errors.js';
import {
  checkUnlocked,
  isVolumeDevice,
  normalizeDevice,
  type InstanceOperations,
} from '../../compute/index.js';
import { prepareLaunchPorts, releaseInstancePorts, type LaunchNic } from '../../network/index.js';
import { volumeMappingsOf } from '../../image/index.js';
import { makeLaunchVolumes, type LaunchVolume } from '../launch-volumes.js';
import { bothSteps, portsStep } from '../launch-steps.js';
import type { ApiServices } from '../services.js';
import { MAX_TAGS_PER_RESOURCE } from '../../tags/index.js';
import { findFlavor } from './flavors.js';
import { atLeast } from './microversion.js';
import {
  bad,
  parseCreateServer,
  parseUpdateServer,
  type CreateServer,
  type ServerBlockDevice,
} from './requests.js';
import type { RouteDeps } from './routes.js';
import { NAME_TAG, serverExtrasReader } from './server-extras.js';
import { serverListRoutes } from './server-list.js';
import { reservationText, resourceLinks, serverView, type ServerExtras } from './views.js';

/** A security group's id (a UUID), as opposed to its name. */
const GROUP_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export { nameFilter } from './server-list.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The caller's server with this id; a deleted one is gone (404), as the Compute API shows. */
export async function findServer(
  ops: InstanceOperations,
  ctx: RequestContext,
  id: string,
): Promise<InstanceRow> {
  const row = UUID.test(id)
    ? (await ops.list(ctx, { idPrefixes: [id.toLowerCase()] })).find(
        (r) => r.id === id.toLowerCase() && r.vmState !== 'deleted',
      )
    : undefined;
  if (!row) throw notFound('instance', id, `Instance ${id} could not be found.`);
  return row;
}

export function serverRoutes(deps: RouteDeps): void {
  const { app, services, caller, base } = deps;
  const { instances: ops, tags } = services;
  const flavorByRef = (ref: string) => findFlavor(ops, ref);
  const extrasOf = serverExtrasReader(services);
  serverListRoutes(deps, extrasOf);

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const row = await findServer(ops, ctx, request.params.id);
    const x = (
      await extrasOf([row], {
        serverGroups: atLeast(v, 71),
        hostStatus: isAdmin(ctx) && atLeast(v, 16),
      })
    ).get(row.id) as ServerExtras;
    return {
      server: serverView(base(request), row, x, { admin: isAdmin(ctx), v, serverGroups: true }),
    };
  });

  app.post('/v2.1/servers', async (request, reply) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const req = parseCreateServer(request.body, v);
    if (req.host !== undefined || req.hypervisorHostname !== undefined) {
      // 2.74: choosing the host is an admin's (403 for others, as the policy answers).
      if (!isAdmin(ctx)) {
        throw new StratusError(
          'forbidden',
          'Policy does not allow choosing the host of a server.',
          {
            resource: 'host',
          },
        );
      }
      throw invalid(
        'Choosing the host of a new server (host, hypervisor_hostname) is not supported by this cloud; use availability_zone.',
        { resource: 'host' },
      );
    }
    const flavorRef = lastSegment(req.flavorRef);
    const flavor = await flavorByRef(flavorRef);
    if (!flavor)
      throw invalid(`Flavor ${flavorRef} could not be found.`, {
        resource: 'flavor',
        id: flavorRef,
      });
    const givenImage = lastSegment(req.imageRef);
    const bootDevice = req.blockDevices.find((d) => d.boot);
    if (!bootDevice && !UUID.test(givenImage))
      throw invalid(`Invalid imageRef provided: ${givenImage}.`, {
        resource: 'image',
        id: givenImage,
      });
    // The password is answered here and handed to the guest through the metadata service
    // (meta_data.json's admin_pass), as the Compute API does.
    const adminPass = req.adminPass ?? newPassword();
    let reservation;
    try {
      const { mappings, imageId } = await launchVolumesOf(
        services,
        ctx,
        req.blockDevices,
        givenImage,
        req.maxCount,
      );
      // The project network ports of the servers, made (or checked) before anything runs.
      const nics = await launchNicsOf(services, ctx, req.networks);
      const ports = nics
        ? await prepareLaunchPorts(services.projectNetworks, ctx, {
            nics,
            count: req.maxCount,
            securityGroups: await groupIdsOf(services, ctx, req.securityGroups),
          })
        : undefined;
      const launched = ops.run(ctx, {
        prepare: bothSteps(portsStep(ports), makeLaunchVolumes(services.volumes, ctx, mappings)),
        imageRef: imageId.toLowerCase(),
        rootOnVolume: mappings.some((m) => m.imageId !== undefined),
        flavorName: flavor.name,
        minCount: req.minCount,
        maxCount: req.maxCount,
        keyName: req.keyName,
        // A group by name or, as openstackclient sends it after a Networking API lookup, by id.
        securityGroupNames: req.securityGroups.filter((g) => !GROUP_ID.test(g)),
        securityGroupRefs: req.securityGroups.filter((g) => GROUP_ID.test(g)),
        userData: req.userData,
        availabilityZone: req.availabilityZone,
        metadata: req.metadata,
        accessIpv4: req.accessIpv4,
        accessIpv6: req.accessIpv6,
        groupId: req.group,
        // As the Compute API does, servers no host can take are created in ERROR with the
        // reason as their fault ("No valid host was found"), not refused.
        keepOnNoHost: true,
        // Servers created together are named by the Compute API's default template,
        // `%(name)s-%(count)d`: `name-1` ... `name-N`.
        tags: (i, count) => [
          { key: NAME_TAG, value: count > 1 ? `${req.name}-${i + 1}` : req.name },
        ],
        serverDetails: {
          description: req.description ?? undefined,
          hostname: req.hostname,
          adminPass,
          tags: req.tags,
        },
      });
      reservation = await launched.catch(async (err: unknown) => {
        await ports?.undo();
        throw err;
      });
      await ports?.bind(reservation.instances);
    } catch (err) {
      // What the body names and does not exist (image, key pair, security group, zone) makes
      // the request a bad one: 400, as the Compute API answers, not 404.
      if (err instanceof StratusError && err.kind === 'not_found') {
        throw invalid(err.message, { resource: err.resource, id: err.id, cause: err });
      }
      throw err;
    }
    const first = reservation.instances[0] as InstanceRow;
    const b = base(request);
    reply.code(202).header('location', `${b}/v2.1/servers/${first.id}`);
    if (req.returnReservationId) {
      return { reservation_id: reservationText(reservation.reservationId) };
    }
    return {
      server: {
        id: first.id,
        links: resourceLinks(b, `servers/${first.id}`),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: (req.securityGroups.length > 0 ? req.securityGroups : ['default']).map(
          (name) => ({ name }),
        ),
        adminPass,
      },
    };
  });

  app.put<{ Params: { id: string } }>('/v2.1/servers/:id', async (request) => {
    const ctx = await caller(request);
    const v = request.microversion;
    const { name, accessIpv4, accessIpv6, description, hostname } = parseUpdateServer(
      request.body,
      v,
    );
    let row = await findServer(ops, ctx, request.params.id);
    if (accessIpv4 !== undefined || accessIpv6 !== undefined) {
      await ops.setAccessAddresses(ctx, row, { accessIpv4, accessIpv6 });
    }
    if (description !== undefined || hostname !== undefined) {
      await ops.setServerDetails(ctx, row, { description, hostname });
    }
    if (name !== undefined) {
      // The name is the instance's Name tag; an instance without one may already hold the
      // most tags a resource may have, which makes the request a bad one here (400).
      try {
        await tags.put(
          [{ type: 'instance', id: row.id, projectId: row.projectId, shown: row.id }],
          [{ key: NAME_TAG, value: name }],
        );
      } catch (err) {
        if (err instanceof StratusError && err.kind === 'over_quota') {
          throw invalid(
            `The server already has ${MAX_TAGS_PER_RESOURCE} tags; remove one to give it a name.`,
            { resource: 'instance', id: row.id, cause: err },
          );
        }
        throw err;
      }
    }
    row = await findServer(ops, ctx, row.id);
    const x = (
      await extrasOf([row], {
        serverGroups: atLeast(v, 71),
        hostStatus: isAdmin(ctx) && atLeast(v, 75),
      })
    ).get(row.id) as ServerExtras;
    // Before 2.75 an update answers the core fields only; from 2.75 what show answers.
    return {
      server: serverView(base(request), row, x, {
        admin: isAdmin(ctx),
        v,
        core: !atLeast(v, 75),
        serverGroups: true,
      }),
    };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/servers/:id', async (request, reply) => {
    const ctx = await caller(request);
    const row = await findServer(ops, ctx, request.params.id);
    checkUnlocked(ctx, row);
    await ops.terminate(ctx, [row]);
    // The ports made for it go with it; ports it was given stay, unbound.
    await releaseInstancePorts(services.projectNetworks, ctx, [row.id]);
    reply.code(204).send();
  });
}

/**
 * The project network interfaces a server create asks for, or undefined when it keeps the
 * flat network alone ("auto", "none", or only the flat network named). A network the
 * caller cannot see is not found (a 400 here, as the Compute API answers NetworkNotFound at
 * create); the external floating pool cannot be attached.
 */
async function launchNicsOf(
  services: ApiServices,
  ctx: RequestContext,
  networks: CreateServer['networks'],
): Promise<LaunchNic[] | undefined> {
  if (networks === 'auto' || networks === 'none') return undefined;
  const visible = await services.projectNetworks.listNetworks(ctx);
  const nics: LaunchNic[] = [];
  for (const n of networks) {
    if (n.port !== undefined) {
      nics.push({ portId: n.port.toLowerCase() });
      continue;
    }
    const id = (n.uuid as string).toLowerCase();
    const network = visible.find((x) => x.id === id);
    if (!network) {
      throw notFound(
        'network',
        id,
        `Network ${id} could not be found: no such network is visible.`,
      );
    }
    if (network.origin === 'floating') {
      throw new StratusError(
        'forbidden',
        `It is not allowed to create an interface on external network ${id}.`,
        { resource: 'network', id },
      );
    }
    if (network.origin === 'provider') {
      // The flat network: every server has its address there already, as before.
      if (n.fixedIp !== undefined) {
        throw invalid(
          `A fixed IP cannot be chosen on the flat network ${id}: its addresses are handed out in order.`,
          { resource: 'network', id, reason: 'unsupported' },
        );
      }
      continue;
    }
    if (network.subnetIds.length === 0) {
      throw invalid(`Network ${id} requires a subnet in order to boot instances on.`, {
        resource: 'network',
        id,
      });
    }
    nics.push({ networkId: id, fixedIp: n.fixedIp });
  }
  return nics.length > 0 ? nics : undefined;
}

/** The ids of the security groups a server create names (by name or id); none: undefined. */
async function groupIdsOf(
  services: ApiServices,
  ctx: RequestContext,
  refs: readonly string[],
): Promise<string[] | undefined> {
  if (refs.length === 0) return undefined;
  const names = refs.filter((g) => !GROUP_ID.test(g));
  const byName = names.length > 0 ? await services.securityGroups.list(ctx, { names }) : [];
  for (const name of names) {
    if (!byName.some((g) => g.name === name)) {
      throw notFound('security_group', name, `Security group ${name} not found.`);
    }
  }
  return [...byName.map((g) => g.id), ...refs.filter((g) => GROUP_ID.test(g))];
}

/** Letters and digits a made-up password is drawn from (no look-alikes such as 0/O, 1/l). */
const PASSWORD_CHARS = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A new server's password when the request gives none: 12 random characters, as Nova's. */
function newPassword(length = 12): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    // Bytes past the last whole multiple of the alphabet would favour its first characters.
    if (b >= 256 - (256 % PASSWORD_CHARS.length)) continue;
    out += PASSWORD_CHARS[b % PASSWORD_CHARS.length];
    if (out.length === length) return out;
  }
  return out + newPassword(length - out.length);
}

/** A reference may be a bare id or a link to the resource: take the last path segment. */
function lastSegment(ref: string): string {
  return ref.includes('/') ? (ref.replace(/\/+$/, '').split('/').pop() ?? ref) : ref;
}

/** The device a server's root volume is given. */
const ROOT_DEVICE = '/dev/vda';
const GIB = 1024 ** 3;

/**
 * The volumes of a server create, checked whole before anything is made, and the image the
 * server takes its kernel and ramdisk from. A root volume (boot_index 0) comes from an image
 * (at least its size), from a snapshot of a bootable volume or is an existing available
 * bootable volume (one server only); a volume-backed `imageRef` brings its own volumes. Data
 * volumes: each snapshot one the caller may see (unknown: not_found, a 400 to the caller) no
 * larger than the size asked for, each device name a data disk's and given once; those
 * without a name take the first free /dev/vdX.
 */
async function launchVolumesOf(
  services: ApiServices,
  ctx: RequestContext,
  devices: readonly ServerBlockDevice[],
  imageRef: string,
  maxCount: number,
): Promise<{ mappings: LaunchVolume[]; imageId: string }> {
  const taken = new Set<string>();
  const data = devices.filter((d) => !d.boot);
  for (const d of data) {
    if (d.deviceName === undefined) continue;
    const device = normalizeDevice(d.deviceName);
    if (!isVolumeDevice(device)) {
      throw bad(`The device name ${d.deviceName} is not one a data volume can be given.`);
    }
    if (taken.has(device)) throw bad(`The device name ${device} is given more than once.`);
    taken.add(device);
  }
  const out: LaunchVolume[] = [];
  const root = await rootVolumeOf(
    services,
    ctx,
    devices.find((d) => d.boot),
    imageRef,
    maxCount,
  );
  for (const m of root.mappings) {
    if (m.imageId === undefined) taken.add(m.device);
  }
  for (const d of data) {
    let device = d.deviceName === undefined ? undefined : normalizeDevice(d.deviceName);
    if (device === undefined) {
      for (let c = 'b'.charCodeAt(0); c <= 'z'.charCodeAt(0) && device === undefined; c++) {
        const name = `/dev/vd${String.fromCharCode(c)}`;
        if (!taken.has(name)) device = name;
      }
      if (device === undefined) throw bad('Too many block devices.');
      taken.add(device);
    }
    const [snapshot] =
      d.snapshotId === undefined
        ? []
        : await services.snapshots.resolve(ctx, [{ ref: d.snapshotId, shown: d.snapshotId }]);
    if (snapshot && d.sizeGb !== undefined && d.sizeGb < snapshot.volumeSizeGb) {
      throw bad(
        `The volume size ${d.sizeGb} GiB is smaller than the snapshot ${d.snapshotId}'s ${snapshot.volumeSizeGb} GiB.`,
      );
    }
    out.push({
      device,
      sizeGb: d.sizeGb,
      snapshot,
      volumeType: d.volumeType,
      deleteOnTermination: d.deleteOnTermination,
    });
  }
  return { mappings: [...root.mappings, ...out], imageId: root.imageId };
}

/** The root volume of a server create (and a volume-backed image's other volumes). */
async function rootVolumeOf(
  services: ApiServices,
  ctx: RequestContext,
  boot: ServerBlockDevice | undefined,
  imageRef: string,
  maxCount: number,
): Promise<{ mappings: LaunchVolume[]; imageId: string }> {
  const base = {
    device: ROOT_DEVICE,
    volumeType: boot?.volumeType,
    deleteOnTermination: boot?.deleteOnTermination ?? false,
  };
  if (!boot) {
    // A volume-backed image: its volumes, made from its snapshots.
    const image = await services.images.find(ctx, imageRef, 'machine').catch(() => undefined);
    const own = image ? volumeMappingsOf(image) : undefined;
    if (!image || !own) return { mappings: [], imageId: imageRef };
    const mappings: LaunchVolume[] = [];
    for (const m of own) {
      const [snapshot] = await services.snapshots.resolve(ctx, [
        { ref: m.snapshotId, shown: m.snapshotId },
      ]);
      mappings.push({
        device: m.bootIndex === 0 ? ROOT_DEVICE : normalizeDevice(m.device),
        sizeGb: m.sizeGb,
        snapshot,
        volumeType: m.volumeType ?? undefined,
        deleteOnTermination: m.deleteOnTermination,
        ...(m.bootIndex === 0 ? { imageId: image.id } : {}),
      });
    }
    return { mappings, imageId: image.id };
  }
  const uuid = boot.uuid as string;
  if (boot.source === 'image') {
    const image = await services.images.find(ctx, uuid, 'machine');
    if (volumeMappingsOf(image)) {
      throw bad(`The image ${uuid} is volume-backed; boot from it with imageRef instead.`);
    }
    if (image.status !== 'active') {
      throw bad(`Image ${uuid} is not active.`);
    }
    const sizeGb = boot.sizeGb as number;
    const needGb = Math.max(
      image.minDisk,
      Math.ceil((image.virtualSize ?? image.sizeBytes ?? 0) / GIB),
    );
    if (sizeGb < needGb) {
      throw bad(
        `Volume is smaller than the minimum size specified in image metadata. Volume size is ${sizeGb * GIB} bytes, minimum size is ${needGb * GIB} bytes.`,
      );
    }
    return {
      mappings: [{ ...base, sizeGb, snapshot: undefined, imageId: image.id }],
      imageId: image.id,
    };
  }
  if (boot.source === 'snapshot') {
    const [snapshot] = await services.snapshots.resolve(ctx, [{ ref: uuid, shown: uuid }]);
    const s = snapshot as NonNullable<typeof snapshot>;
    if (boot.sizeGb !== undefined && boot.sizeGb < s.volumeSizeGb) {
      throw bad(
        `The volume size ${boot.sizeGb} GiB is smaller than the snapshot ${uuid}'s ${s.volumeSizeGb} GiB.`,
      );
    }
    const [source] = await services.volumes
      .resolve(ctx, [{ ref: s.volumeId, shown: s.volumeId }])
      .catch(() => []);
    const imageId = source?.imageId ?? undefined;
    if (imageId === undefined) {
      throw bad(`The snapshot ${uuid} is not of a bootable volume; a server cannot boot from it.`);
    }
    return {
      mappings: [{ ...base, sizeGb: boot.sizeGb, snapshot: s, imageId }],
      imageId,
    };
  }
  // An existing volume: available, bootable, for one server.
  const [volume] = await services.volumes.resolve(ctx, [{ ref: uuid, shown: uuid }]);
  const v = volume as NonNullable<typeof volume>;
  if (maxCount > 1) {
    throw bad(
      'Only one server can boot from an existing volume; min_count and max_count must be 1.',
    );
  }
  if (v.instanceId !== null || v.status === 'in-use') {
    throw new StratusError('invalid', `Invalid volume: volume ${uuid} is in use.`, {
      resource: 'volume',
      id: uuid,
      reason: 'in_use',
    });
  }
  if (v.status !== 'available') {
    throw bad(`Invalid volume: volume ${uuid} status must be available, but it is ${v.status}.`);
  }
  if (v.imageId === null) {
    throw bad(
      `The volume ${uuid} is not bootable; a server boots only from a volume made from an image.`,
    );
  }
  return {
    mappings: [{ ...base, sizeGb: v.sizeGb, snapshot: undefined, imageId: v.imageId, existing: v }],
    imageId: v.imageId,
  };
}
