// What the API edges call to work with instances: checks, quota and the database record here,
// the placement from the scheduler (which claims the capacity), the host recorded here, then a
// cast to the compute host. Edges never reach the compute or scheduler managers any other way.
import { randomUUID } from 'node:crypto';
import { isAdmin, type RequestContext } from '../context.js';
import {
  CapacityClaimRepo,
  ComputeNodeRepo,
  DEFAULT_GROUP,
  FlavorRepo,
  ImageRepo,
  InstanceRepo,
  KeypairRepo,
  LIVE_VM_STATES,
  NetworkRepo,
  QuotaRepo,
  SecurityGroupRepo,
  ServerDetailsRepo,
  ServerMetadataRepo,
  ServiceRepo,
  type Db,
  type FlavorRow,
  type ImageRow,
  type InstancePageQuery,
  type InstanceRow,
  type ServerDetails,
  type ShutdownBehavior,
  type MetadataChange,
  type MetadataHttpTokens,
  type MetadataSwitch,
  type TaskState,
  type VmState,
} from '../db/index.js';
import { asStratusError, invalid, notFound, StratusError } from '../errors.js';
import { byIdPrefix } from '../ids/index.js';
import type { Logger } from '../log.js';
import type { NetworkClient } from '../network/index.js';
import type { SchedulerClient } from '../scheduler/index.js';
import { serviceState } from '../service/index.js';
import type { ComputeClient } from './client.js';
import type { SerialConnection } from './serial-console-server.js';
import { instanceHealth, type HealthLimits, type InstanceHealth } from './instance-status.js';
import { LaunchAdmission } from './launch-admission.js';
import { LaunchReconciler, type UnplacedOutcome } from './launch-reconciler.js';
import { effectiveLimits, type QuotaLimits } from '../quota/index.js';
import { checkTags, checkText, CLIENT_TOKEN } from '../text-rules.js';

export interface RunRequest {
  /** The image's id, or the leading characters of it. */
  imageRef: string;
  flavorName: string;
  minCount: number;
  maxCount: number;
  keyName?: string | undefined;
  /** Security groups by id (or leading characters of it) and by name; `default` if neither. */
  securityGroupRefs?: readonly string[];
  securityGroupNames?: readonly string[];
  /** Base64 user data. */
  userData?: string | undefined;
  availabilityZone?: string | undefined;
  clientToken?: string | undefined;
  kernelRef?: string | undefined;
  ramdiskRef?: string | undefined;
  /** TerminateInstances refuses the instances while it is set (termination protection). */
  disableApiTermination?: boolean;
  /** StopInstances refuses the instances while it is set (stop protection). */
  disableApiStop?: boolean;
  /** What a shutdown from inside the guest does; 'stop' unless told. */
  shutdownBehavior?: ShutdownBehavior | undefined;
  /**
   * Tags of every instance; or, as a function, the tags of the instance at `launchIndex` when
   * `count` launch together (the Compute API names servers created together `name-1` ...).
   */
  tags?:
    | readonly { key: string; value: string }[]
    | ((launchIndex: number, count: number) => readonly { key: string; value: string }[]);
  /**
   * Tags the cloud itself puts on every instance, under the reserved `aws:` prefix (the launch
   * template an instance came from); users cannot set or remove such keys.
   */
  systemTags?: readonly { key: string; value: string }[];
  /** Server metadata of every instance (the Compute API's; checked by the caller). */
  metadata?: Readonly<Record<string, string>>;
  /** The addresses the user records for reaching the instances (checked by the caller). */
  accessIpv4?: string | undefined;
  accessIpv6?: string | undefined;
  /**
   * The server group (its id, of the caller's project) the instances join: the scheduler
   * keeps its policy, counting the other members placed and being placed.
   */
  groupId?: string | undefined;
  /**
   * When no host can take them: refuse the launch and keep nothing (false, EC2's way), or keep
   * the instances in error with the reason, "No valid host was found" (true, the Compute API's).
   */
  keepOnNoHost?: boolean;
  /** The instance metadata service's options (EC2's MetadataOptions); defaults where absent. */
  metadataOptions?: MetadataOptionsChange | undefined;
  /**
   * Runs for each instance once its host and zone are recorded, before it is handed to the
   * host (the volumes of its block device mappings are made here). A throw fails the launch
   * from that instance on; the returned undo runs when handing it to its host fails.
   */
  prepare?: (instance: InstanceRow) => Promise<(() => Promise<void>) | undefined>;
  /**
   * The instances boot from a root volume that `prepare` makes (or gives): the flavor's disk
   * is not their root disk, so the image's minimum disk is the volume's to meet, not the
   * flavor's.
   */
  rootOnVolume?: boolean;
  /**
   * What the Compute API keeps beyond the instance (checked by the caller): a description,
   * a hostname (one instance only), the admin password the guest reads from the metadata
   * service, and tags (plain strings).
   */
  serverDetails?: {
    description?: string | undefined;
    hostname?: string | undefined;
    adminPass?: string | undefined;
    tags?: readonly string[] | undefined;
  };
}

export interface Reservation {
  reservationId: string;
  projectId: string;
  instances: InstanceRow[];
}

export interface InstanceOperationsOptions {
  db: Db;
  scheduler: SchedulerClient;
  compute: ComputeClient;
  /** The network service, which owns security groups: it makes a project's `default` group. */
  network: Pick<
    NetworkClient,
    'ensureDefaultSecurityGroup' | 'setInstanceSecurityGroups' | 'metadataOptionsChanged'
  >;
  logger: Logger;
  availabilityZone: string;
  terminatedVisibleMs: number;
  /**
   * A launch never handed to a host this long after its last change is placed again (see
   * launch-reconciler.ts); default 60 s. Must exceed the bus call timeout.
   */
  inFlightDeadlineMs?: number;
  quota: QuotaLimits;
  /** The scheduler's allocation ratios, for a change of flavor on a host (1 when absent). */
  allocationRatios?: { cpu: number; ram: number; disk: number };
}

/** Largest user data EC2 accepts: 16 KiB before base64. */
const MAX_USER_DATA_BYTES = 16 * 1024;

/** The most server metadata items an instance may have (the Compute API's default quota). */
export const MAX_METADATA_ITEMS = 128;

/** The most tags (the Compute API's) an instance may have, as that API allows. */
export const MAX_SERVER_TAGS = 50;

export class InstanceOperations {
  readonly #opts: InstanceOperationsOptions;
  readonly #instances: InstanceRepo;
  readonly #images: ImageRepo;
  readonly #flavors: FlavorRepo;
  readonly #unplaced: LaunchReconciler;
  readonly #admission: LaunchAdmission;

  constructor(options: InstanceOperationsOptions) {
    this.#opts = options;
    this.#instances = new InstanceRepo(options.db);
    this.#images = new ImageRepo(options.db);
    this.#flavors = new FlavorRepo(options.db);
    this.#admission = new LaunchAdmission({ db: options.db, quota: options.quota });
    this.#unplaced = new LaunchReconciler({
      db: options.db,
      scheduler: options.scheduler,
      compute: options.compute,
      logger: options.logger,
      deadlineMs: options.inFlightDeadlineMs ?? 60_000,
    });
  }

  /**
   * Places again (or fails) launches that were never handed to a host and have not changed
   * within the in-flight deadline: their api process died. The api service runs it
   * periodically; a ClientToken replay runs it for its own instances.
   */
  reconcileUnplaced(
    ctx: RequestContext,
    ids?: readonly string[],
  ): Promise<Map<string, UnplacedOutcome>> {
    return this.#unplaced.run(ctx, ids ? { ids } : {});
  }

  /**
   * Launches between minCount and maxCount instances (as many as quota allows). Either the
   * instances are recorded, placed and handed to their hosts, or nothing is left behind.
   */
  async run(ctx: RequestContext, req: RunRequest): Promise<Reservation> {
    const projectId = requireProject(ctx);
    if (req.minCount < 1 || req.maxCount < req.minCount) {
      throw invalid('MinCount must be at least 1 and no more than MaxCount.', {
        resource: 'parameter',
        id: 'MinCount',
      });
    }
    if (req.clientToken) checkText(req.clientToken, CLIENT_TOKEN, 'ClientToken');
    const fixedTags = typeof req.tags === 'function' ? [] : (req.tags ?? []);
    const tagsOf = typeof req.tags === 'function' ? req.tags : () => fixedTags;
    for (const count of new Set([1, req.minCount, req.maxCount])) {
      for (let i = 0; i < count; i++) checkTags(tagsOf(i, count));
    }
    if (req.userData !== undefined) checkUserData(req.userData);
    const metadataOptions = {
      ...DEFAULT_METADATA_OPTIONS,
      ...checkMetadataOptions(req.metadataOptions ?? {}),
    };
    const metadataItems = Object.keys(req.metadata ?? {}).length;
    if (metadataItems > MAX_METADATA_ITEMS) {
      throw new StratusError(
        'over_quota',
        `Quota exceeded for metadata_items: at most ${MAX_METADATA_ITEMS} items, and the request has ${metadataItems}.`,
        { resource: 'metadata_items', reason: 'metadata_items' },
      );
    }
    // The lookups start together (each is a round trip to the database, and under load those
    // add up on every launch); their errors are still reported in this order.
    const lookups = {
      earlier: req.clientToken
        ? this.#instances.findByClientToken(projectId, req.clientToken)
        : Promise.resolve([]),
      // A private flavor only for the projects given access to it (and admins).
      flavor: this.#flavors.getUsableByName(req.flavorName, isAdmin(ctx) ? undefined : projectId),
      image: this.#visibleImage(ctx, req.imageRef, 'machine'),
      kernel: req.kernelRef ? this.#visibleImage(ctx, req.kernelRef, 'kernel') : undefined,
      ramdisk: req.ramdiskRef ? this.#visibleImage(ctx, req.ramdiskRef, 'ramdisk') : undefined,
      // A zone exists when a compute host serves it (issue 12: a host's zone is its config);
      // only the zone asked for is looked up, not every host's.
      zoneExists:
        req.availabilityZone && req.availabilityZone !== this.#opts.availabilityZone
          ? new ComputeNodeRepo(this.#opts.db).zoneExists(req.availabilityZone)
          : Promise.resolve(true),
      key:
        req.keyName !== undefined
          ? new KeypairRepo(this.#opts.db).findByName(projectId, req.keyName)
          : undefined,
      groupIds: this.#securityGroups(ctx, projectId, req),
    };
    // The ones not awaited after an earlier error must not end as unhandled rejections.
    for (const p of Object.values(lookups)) p?.catch(() => undefined);
    const earlier = await lookups.earlier;
    if (req.clientToken && earlier.length > 0) {
      return this.#replay(ctx, projectId, req.clientToken, earlier);
    }
    const flavor = await lookups.flavor;
    const image = await lookups.image;
    if (image.status !== 'active') {
      throw invalid(`The image '${image.id}' is not available (it is ${image.status}).`, {
        resource: 'image',
        id: image.id,
        reason: 'image_state',
      });
    }
    checkImageMinimums(image, req.rootOnVolume ? { ...flavor, diskGb: image.minDisk } : flavor);
    const kernel = await lookups.kernel;
    const ramdisk = await lookups.ramdisk;
    if (req.availabilityZone && !(await lookups.zoneExists)) {
      throw notFound(
        'zone',
        req.availabilityZone,
        `The availability zone '${req.availabilityZone}' does not exist.`,
      );
    }
    let keyData: string | null = null;
    if (req.keyName !== undefined) {
      const key = await lookups.key;
      if (!key)
        throw notFound('keypair', req.keyName, `The key pair '${req.keyName}' does not exist.`);
      keyData = key.publicKey;
    }
    const groupIds = await lookups.groupIds;

    const reservationId = randomUUID();
    const at = Date.now();
    const rows = await this.#admission.admit({
      projectId,
      clientToken: req.clientToken ?? null,
      flavor,
      minCount: req.minCount,
      maxCount: req.maxCount,
      records: (count) => {
        const instances: InstanceRow[] = [];
        for (let i = 0; i < count; i++) {
          instances.push({
            id: randomUUID(),
            reservationId,
            projectId,
            userId: ctx.userId ?? '',
            imageId: image.id,
            kernelId: kernel?.id ?? image.kernelId,
            ramdiskId: ramdisk?.id ?? image.ramdiskId,
            flavorId: flavor.id,
            vcpus: flavor.vcpus,
            memoryMb: flavor.memoryMb,
            diskGb: flavor.diskGb,
            keyName: req.keyName ?? null,
            keyData,
            userData: req.userData ?? null,
            host: null,
            availabilityZone: req.availabilityZone || this.#opts.availabilityZone,
            vmState: 'building',
            taskState: 'scheduling',
            powerState: 'nostate',
            launchIndex: i,
            clientToken: req.clientToken ?? null,
            privateIp: null,
            macAddress: null,
            stateReason: null,
            stateMessage: null,
            createdAt: at,
            updatedAt: at,
            launchedAt: null,
            terminatedAt: null,
            metadataFetchedAt: null,
            networkObserved: 0,
            disableApiTermination: req.disableApiTermination ? 1 : 0,
            disableApiStop: req.disableApiStop ? 1 : 0,
            shutdownBehavior: req.shutdownBehavior ?? 'stop',
            sourceDestCheck: 1,
            passwordData: null,
            passwordDataAt: null,
            accessIpv4: req.accessIpv4 ?? null,
            accessIpv6: req.accessIpv6 ?? null,
            metadataHttpTokens: metadataOptions.httpTokens,
            metadataHttpEndpoint: metadataOptions.httpEndpoint,
            metadataHopLimit: metadataOptions.hopLimit,
            metadataTags: metadataOptions.instanceTags,
            lockedBy: null,
            lockedReason: null,
            resizeSource: null,
          });
        }
        return {
          instances,
          securityGroups: instances.flatMap((inst) =>
            groupIds.map((groupId) => ({ instanceId: inst.id, groupId })),
          ),
          tags: instances.flatMap((inst, i) =>
            [...tagsOf(i, count), ...(req.systemTags ?? [])].map((t) => ({
              resourceId: inst.id,
              resourceType: 'instance',
              projectId,
              key: t.key,
              value: t.value,
            })),
          ),
          metadata: instances.flatMap((inst) =>
            Object.entries(req.metadata ?? {}).map(([key, value]) => ({
              instanceId: inst.id,
              key,
              value,
            })),
          ),
          serverDetails: req.serverDetails
            ? instances.map((inst) => ({
                instanceId: inst.id,
                description: req.serverDetails?.description ?? null,
                hostname: req.serverDetails?.hostname ?? null,
                adminPass: req.serverDetails?.adminPass ?? null,
              }))
            : [],
          serverTags: instances.flatMap((inst) =>
            [...new Set(req.serverDetails?.tags ?? [])].map((tag) => ({
              instanceId: inst.id,
              tag,
            })),
          ),
          actions: instances.map((inst) => ({
            instanceId: inst.id,
            action: 'create',
            requestId: ctx.requestId,
            userId: ctx.userId,
            projectId,
            startedAt: at,
          })),
          group: req.groupId,
        };
      },
    });
    if (rows[0]?.reservationId !== reservationId) return reservationOf(rows); // idempotent replay

    let hosts: string[];
    let zones: string[] | undefined;
    try {
      ({ hosts, zones } = await this.#opts.scheduler.selectDestinations(ctx, {
        instanceIds: rows.map((r) => r.id),
        availabilityZone: req.availabilityZone ?? null,
        architecture: image.architecture,
        vcpus: flavor.vcpus,
        memoryMb: flavor.memoryMb,
        diskGb: flavor.diskGb,
        group: req.groupId ?? null,
      }));
    } catch (err) {
      const e = asStratusError(err);
      if (req.keepOnNoHost && e.kind === 'unavailable' && e.reason === 'no_valid_host') {
        return this.#noValidHost(reservationId, projectId, rows, e);
      }
      // Nothing was handed to a host: the records go, and with them any claims the scheduler
      // took (a scheduler that answers after the call timed out finds no instance to claim for).
      await this.#instances.deleteMany(rows.map((r) => r.id));
      throw err;
    }
    const cast: InstanceRow[] = [];
    let zoneOf: Map<string, string>;
    try {
      zoneOf = zones
        ? new Map(hosts.map((h, i) => [h, zones[i] ?? '']))
        : await new ComputeNodeRepo(this.#opts.db).zonesOf(hosts);
    } catch (err) {
      return this.#undoLaunch(reservationId, projectId, cast, rows, err);
    }
    let undo: (() => Promise<void>) | undefined;
    for (const [i, inst] of rows.entries()) {
      const host = hosts[i] as string;
      try {
        // The host is recorded here, once, by the instance's owner; the scheduler only claimed.
        // The instance is in its host's zone (the one asked for, or the one it landed in).
        const availabilityZone = zoneOf.get(host) || inst.availabilityZone;
        await this.#instances.update(inst.id, { host, availabilityZone, taskState: null });
        undo = await req.prepare?.({ ...inst, host, availabilityZone, taskState: null });
        await this.#opts.compute.buildInstance(ctx, host, inst.id);
        undo = undefined;
        cast.push({ ...inst, host, availabilityZone, taskState: null });
      } catch (err) {
        await undo?.().catch((e: unknown) => {
          this.#opts.logger.error(
            { err: e, instanceId: inst.id },
            'undoing its launch volumes failed',
          );
        });
        return this.#undoLaunch(reservationId, projectId, cast, rows.slice(i), err);
      }
    }
    return { reservationId, projectId, instances: cast };
  }

  /**
   * A ClientToken replay answers with the first launch. A launch of it that was left unplaced
   * past the deadline (its api process died) is taken over first, so the retry finds it
   * making progress instead of stuck.
   */
  async #replay(
    ctx: RequestContext,
    projectId: string,
    clientToken: string,
    earlier: InstanceRow[],
  ): Promise<Reservation> {
    const unplaced = earlier.filter((r) => r.vmState === 'building' && r.host === null);
    if (unplaced.length === 0) return reservationOf(earlier);
    const resumed = await this.reconcileUnplaced(
      ctx,
      unplaced.map((r) => r.id),
    );
    if (resumed.size === 0) return reservationOf(earlier);
    return reservationOf(await this.#instances.findByClientToken(projectId, clientToken));
  }

  /**
   * The undo of a launch whose hand-over to the hosts failed part way: no instance may stay
   * `building` with nobody building it. When none reached its host, the launch is undone
   * whole (records and claims) and the error stands. Otherwise those already handed over go
   * on; the rest end in `error` with their claims given back, and the reservation shows both.
   */
  async #undoLaunch(
    reservationId: string,
    projectId: string,
    cast: readonly InstanceRow[],
    notCast: readonly InstanceRow[],
    err: unknown,
  ): Promise<Reservation> {
    const ids = notCast.map((r) => r.id);
    this.#opts.logger.error(
      { err, reservationId, instanceIds: ids },
      'handing instances to their hosts failed',
    );
    if (cast.length === 0) {
      await this.#instances.deleteMany(ids);
      throw err;
    }
    const at = Date.now();
    const failed = {
      host: null,
      vmState: 'error' as const,
      taskState: null,
      powerState: 'nostate',
      terminatedAt: at,
      stateReason: 'build_failed' as const,
      stateMessage: `It could not be handed to its host: ${asStratusError(err).message}`,
      updatedAt: at,
    };
    await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new InstanceRepo(trx);
      for (const id of ids) await repo.update(id, failed);
      await new CapacityClaimRepo(trx).release(ids);
    });
    return {
      reservationId,
      projectId,
      instances: [...cast, ...notCast.map((r) => ({ ...r, ...failed }))],
    };
  }

  /**
   * A launch no host can take, kept (the Compute API's way): its instances end in error with
   * the scheduler's reason, and give back any claim (the scheduler gave its own back).
   */
  async #noValidHost(
    reservationId: string,
    projectId: string,
    rows: readonly InstanceRow[],
    err: StratusError,
  ): Promise<Reservation> {
    const ids = rows.map((r) => r.id);
    const at = Date.now();
    const failed = {
      vmState: 'error' as const,
      taskState: null,
      powerState: 'nostate',
      terminatedAt: at,
      stateReason: 'build_failed' as const,
      stateMessage: `No valid host was found. ${err.message}`,
      updatedAt: at,
    };
    await this.#opts.db.transaction().execute(async (trx) => {
      const repo = new InstanceRepo(trx);
      for (const id of ids) await repo.update(id, failed);
      await new CapacityClaimRepo(trx).release(ids);
    });
    this.#opts.logger.info(
      { reservationId, instanceIds: ids, err },
      'no valid host: kept in error',
    );
    return { reservationId, projectId, instances: rows.map((r) => ({ ...r, ...failed })) };
  }

  /** Instances the caller may see: its project's, or every project's for admins. */
  async list(
    ctx: RequestContext,
    filter: { idPrefixes?: readonly string[]; allProjects?: boolean } = {},
  ): Promise<InstanceRow[]> {
    const projectId =
      isAdmin(ctx) && filter.allProjects !== false ? undefined : requireProject(ctx);
    return this.#instances.list({
      projectId,
      idPrefixes: filter.idPrefixes,
      terminatedSince: Date.now() - this.#opts.terminatedVisibleMs,
    });
  }

  /**
   * One page of the instances the caller may see (its project's, or every project's for admins
   * unless `allProjects` is false), in the query's order after `query.after`, at most
   * `query.limit` of them (all when absent); `more` tells whether another matching row follows.
   * The query does visibility, filters and paging. `keep`, when given, checks fetched rows
   * again in code (for filters SQL can only narrow): pages stay full and correct because
   * further rows are fetched, after the last one fetched, until the page is full or none are left.
   */
  async page(
    ctx: RequestContext,
    query: Omit<InstancePageQuery, 'projectId' | 'terminatedSince'> & { allProjects?: boolean },
    keep?: (rows: InstanceRow[]) => Promise<InstanceRow[]>,
  ): Promise<{ rows: InstanceRow[]; more: boolean }> {
    const { allProjects, limit, ...rest } = query;
    const projectId = isAdmin(ctx) && allProjects !== false ? undefined : requireProject(ctx);
    const base = {
      ...rest,
      projectId,
      terminatedSince: Date.now() - this.#opts.terminatedVisibleMs,
    };
    const want = limit === undefined ? Infinity : limit + 1;
    if (limit !== undefined && limit <= 0) return { rows: [], more: false };
    let batch = limit === undefined ? undefined : limit + 1;
    let after = query.after;
    const out: InstanceRow[] = [];
    for (;;) {
      const rows = await this.#instances.page({ ...base, after, limit: batch });
      out.push(...(keep ? await keep(rows) : rows));
      const last = rows[rows.length - 1];
      if (out.length >= want || batch === undefined || rows.length < batch || !last) break;
      after = { createdAt: last.createdAt, launchIndex: last.launchIndex, id: last.id };
      // Rows the code check refuses make the next fetch larger, so a sparse match takes few trips.
      batch = Math.min(batch * 2, 2000);
    }
    return limit === undefined
      ? { rows: out, more: false }
      : { rows: out.slice(0, limit), more: out.length > limit };
  }

  /** Resolves instance ids (or leading characters of them); `not_found` names the first missing one. */
  async resolve(
    ctx: RequestContext,
    refs: readonly { ref: string; shown: string }[],
  ): Promise<InstanceRow[]> {
    if (refs.length === 0) return [];
    const rows = await this.list(ctx, { idPrefixes: refs.map((r) => r.ref) });
    return byIdPrefix(rows, refs, (shown) =>
      notFound('instance', shown, `The instance ID '${shown}' does not exist`),
    );
  }

  securityGroupsOf(instanceIds: readonly string[]): Promise<Map<string, string[]>> {
    return this.#instances.securityGroupsOf(instanceIds);
  }

  /** The server metadata of these instances, by instance id (empty for those without any). */
  async metadataOf(instanceIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    return new ServerMetadataRepo(this.#opts.db).of(instanceIds);
  }

  /**
   * Changes an instance's server metadata (the caller has checked the keys and values and that
   * the caller may see the instance); answers the items after the change. As the Compute API
   * allows it, only while the instance is active or stopped with nothing under way (`conflict`
   * otherwise); more than MAX_METADATA_ITEMS is `over_quota`, a key to delete that is not there
   * `not_found`.
   */
  async changeMetadata(
    _ctx: RequestContext,
    instance: InstanceRow,
    change: MetadataChange,
  ): Promise<Record<string, string>> {
    const r = await new ServerMetadataRepo(this.#opts.db).change(instance.id, change, {
      vmStates: ['active', 'stopped'],
      maxItems: MAX_METADATA_ITEMS,
    });
    if (r.ok) return r.items;
    if (r.reason === 'missing') {
      throw notFound('instance', instance.id, 'Metadata item was not found.');
    }
    if (r.reason === 'limit') {
      throw new StratusError(
        'over_quota',
        `Quota exceeded for metadata_items: at most ${MAX_METADATA_ITEMS} items, and the change leaves ${r.count}.`,
        { resource: 'metadata_items', reason: 'metadata_items' },
      );
    }
    const now = await this.#instances.get(instance.id);
    throw new StratusError(
      'conflict',
      `Cannot change the metadata of instance ${instance.id} while it is in vm_state ${now.vmState}${now.taskState ? ` (task_state ${now.taskState})` : ''}.`,
      { resource: 'instance', id: instance.id, reason: 'instance_state' },
    );
  }

  /** The Compute API's details and tags of these instances, by id (every id answered). */
  serverDetailsOf(instanceIds: readonly string[]): Promise<Map<string, ServerDetails>> {
    return new ServerDetailsRepo(this.#opts.db).of(instanceIds);
  }

  /** Sets an instance's description and/or hostname (checked by the caller; undefined: unchanged). */
  async setServerDetails(
    _ctx: RequestContext,
    instance: InstanceRow,
    set: { description?: string | null | undefined; hostname?: string | undefined },
  ): Promise<void> {
    await new ServerDetailsRepo(this.#opts.db).update(instance.id, set);
  }

  /**
   * Changes an instance's tags (the Compute API's plain strings, checked by the caller);
   * answers them after the change. More than MAX_SERVER_TAGS is `invalid`; a tag to remove
   * that is not there `not_found`.
   */
  async changeServerTags(
    _ctx: RequestContext,
    instance: InstanceRow,
    change: Parameters<ServerDetailsRepo['changeTags']>[1],
  ): Promise<string[]> {
    const r = await new ServerDetailsRepo(this.#opts.db).changeTags(
      instance.id,
      change,
      MAX_SERVER_TAGS,
    );
    if (r.ok) return r.tags;
    if (change.kind === 'remove') {
      throw notFound('tags', change.tag, `Tag ${change.tag} could not be found.`);
    }
    // The Compute API answers this with 400, not as a quota.
    throw invalid(`The number of tags exceeded the per-server limit ${MAX_SERVER_TAGS}.`, {
      resource: 'tags',
      id: instance.id,
    });
  }

  /** Records the addresses a user gives for reaching an instance (undefined: unchanged). */
  async setAccessAddresses(
    _ctx: RequestContext,
    instance: InstanceRow,
    set: { accessIpv4?: string | undefined; accessIpv6?: string | undefined },
  ): Promise<void> {
    const change = {
      ...(set.accessIpv4 !== undefined ? { accessIpv4: set.accessIpv4 } : {}),
      ...(set.accessIpv6 !== undefined ? { accessIpv6: set.accessIpv6 } : {}),
    };
    if (Object.keys(change).length > 0) await this.#instances.update(instance.id, change);
  }

  /** Starts termination; returns each instance's state before and after the request. */
  async terminate(ctx: RequestContext, instances: readonly InstanceRow[]): Promise<StateChange[]> {
    // Termination protection refuses the whole request, before anything is changed (as EC2).
    for (const inst of instances) {
      if (inst.disableApiTermination && inst.vmState !== 'deleted' && inst.vmState !== 'error')
        throw protectedInstance(inst, 'terminated', 'disableApiTermination');
    }
    const out: StateChange[] = [];
    for (const inst of instances) {
      const before = { vmState: inst.vmState, taskState: inst.taskState };
      if (inst.vmState === 'deleted') {
        out.push({ id: inst.id, before, after: before });
        continue;
      }
      if (inst.vmState === 'error') {
        // A failed build already gave back its VM and address: only the record is retired.
        await this.#instances.transition(
          inst.id,
          { vmStates: ['error'] },
          { vmState: 'deleted', taskState: null },
        );
        out.push({ id: inst.id, before, after: { vmState: 'deleted', taskState: null } });
        continue;
      }
      const changed = await this.#instances.transition(
        inst.id,
        { vmStates: LIVE_VM_STATES },
        { taskState: 'deleting' },
      );
      if (changed && inst.host) await this.#opts.compute.terminateInstance(ctx, inst.host, inst.id);
      else if (changed) {
        // Not handed to a host yet: a claim the scheduler took for it goes with it (and once it
        // is no longer building, the scheduler claims nothing more for it).
        await this.#opts.db.transaction().execute(async (trx) => {
          await new InstanceRepo(trx).update(inst.id, {
            vmState: 'deleted',
            taskState: null,
            terminatedAt: Date.now(),
          });
          await new CapacityClaimRepo(trx).release([inst.id]);
        });
      }
      out.push({ id: inst.id, before, after: { vmState: inst.vmState, taskState: 'deleting' } });
    }
    return out;
  }

  /** Reboots active instances: soft (the guest's own restart) unless `hard` (a reset). */
  async reboot(
    ctx: RequestContext,
    instances: readonly InstanceRow[],
    hard = false,
  ): Promise<void> {
    for (const inst of instances) {
      if (inst.vmState !== 'active') throw incorrectState(inst, 'rebooted');
    }
    for (const inst of instances) {
      const ok = await this.#instances.transition(
        inst.id,
        { vmStates: ['active'], taskStates: [null] },
        { taskState: 'rebooting' },
      );
      if (ok && inst.host) await this.#opts.compute.rebootInstance(ctx, inst.host, inst.id, hard);
    }
  }

  /**
   * Stops active instances: each guest is asked to power off (ACPI) and ended after a grace
   * time, or at once with `force`.
   */
  async stop(
    ctx: RequestContext,
    instances: readonly InstanceRow[],
    force: boolean,
  ): Promise<StateChange[]> {
    for (const inst of instances) {
      if (!['active', 'stopped'].includes(inst.vmState) || inst.taskState === 'deleting')
        throw incorrectState(inst, 'stopped');
      if (inst.disableApiStop) throw protectedInstance(inst, 'stopped', 'disableApiStop');
    }
    return this.#power(instances, 'active', 'powering-off', (host, id) =>
      this.#opts.compute.stopInstance(ctx, host, id, force),
    );
  }

  async start(ctx: RequestContext, instances: readonly InstanceRow[]): Promise<StateChange[]> {
    for (const inst of instances) {
      if (
        !['active', 'stopped'].includes(inst.vmState) ||
        inst.taskState === 'deleting' ||
        inst.taskState === 'powering-off'
      ) {
        throw incorrectState(inst, 'started');
      }
    }
    return this.#power(instances, 'stopped', 'powering-on', (host, id) =>
      this.#opts.compute.startInstance(ctx, host, id),
    );
  }

  async consoleOutput(
    ctx: RequestContext,
    inst: InstanceRow,
    maxBytes = 64 * 1024,
  ): Promise<{ output: string; at: number }> {
    if (
      !inst.host ||
      inst.vmState === 'deleted' ||
      inst.vmState === 'error' ||
      inst.vmState === 'building'
    ) {
      return { output: '', at: Date.now() };
    }
    return this.#opts.compute.consoleOutput(ctx, inst.host, inst.id, maxBytes);
  }

  /**
   * A JPEG picture of a running instance's display, in base64 (GetConsoleScreenshot). An
   * instance that is not running (pending, stopping, stopped, terminated) is refused as
   * `conflict` with reason 'instance_state'.
   */
  /**
   * Where a running instance's serial port can be connected to: its host's address and a
   * one-time secret to send first (serial-console-server.ts); an instance that is not running
   * is refused as `conflict` with reason 'instance_state'.
   */
  async serialConsole(ctx: RequestContext, inst: InstanceRow): Promise<SerialConnection> {
    return this.#opts.compute.serialConsole(ctx, this.serialConsoleHost(inst), inst.id);
  }

  /**
   * The host of a running instance, whose serial console may be asked for; an instance that is
   * not running is refused as `conflict` with reason 'instance_state'. Asks nothing remote.
   */
  serialConsoleHost(inst: InstanceRow): string {
    if (!inst.host || inst.vmState !== 'active' || inst.taskState !== null) {
      throw new StratusError(
        'conflict',
        `The instance '${inst.id}' is not running; only a running instance has a serial console.`,
        { resource: 'instance', id: inst.id, reason: 'instance_state' },
      );
    }
    return inst.host;
  }

  async consoleScreenshot(
    ctx: RequestContext,
    inst: InstanceRow,
    wakeUp = false,
  ): Promise<{ jpegBase64: string }> {
    if (!inst.host || inst.vmState !== 'active' || inst.taskState !== null) {
      throw new StratusError(
        'conflict',
        `The instance '${inst.id}' is not running; only a running instance has a screen to show.`,
        { resource: 'instance', id: inst.id, reason: 'instance_state' },
      );
    }
    return this.#opts.compute.consoleScreenshot(ctx, inst.host, inst.id, wakeUp);
  }

  /**
   * The health of each of these instances, by id, at `at`: whether its host's compute service
   * is alive (`downAfterMs` since its last heartbeat), the power state that host last saw,
   * and whether the guest took its DHCP lease or asked for metadata (see instance-status.ts).
   */
  async health(
    instances: readonly InstanceRow[],
    limits: HealthLimits & { downAfterMs: number },
    at = Date.now(),
  ): Promise<Map<string, InstanceHealth>> {
    const [services, leases] = await Promise.all([
      new ServiceRepo(this.#opts.db).list({ binary: 'compute' }),
      new NetworkRepo(this.#opts.db).leasedAtByInstance(instances.map((i) => i.id)),
    ]);
    const hosts = new Map(services.map((s) => [s.host, serviceState(s, at, limits.downAfterMs)]));
    return new Map(
      instances.map((inst) => [
        inst.id,
        instanceHealth(
          {
            instance: inst,
            host: inst.host ? hosts.get(inst.host) : undefined,
            leasedAt: leases.get(inst.id) ?? null,
          },
          limits,
          at,
        ),
      ]),
    );
  }

  /**
   * Changes attributes of one instance (ModifyInstanceAttribute). The flags apply at once;
   * the user data and the flavor only while the instance is stopped (the next start uses
   * them); the security groups through the network service, which owns the firewall.
   */
  async modifyAttributes(
    ctx: RequestContext,
    inst: InstanceRow,
    change: AttributeChange,
  ): Promise<void> {
    const set: Partial<InstanceRow> = {};
    if (change.disableApiTermination !== undefined)
      set.disableApiTermination = change.disableApiTermination ? 1 : 0;
    if (change.disableApiStop !== undefined) set.disableApiStop = change.disableApiStop ? 1 : 0;
    if (change.shutdownBehavior !== undefined) set.shutdownBehavior = change.shutdownBehavior;
    if (change.sourceDestCheck !== undefined) set.sourceDestCheck = change.sourceDestCheck ? 1 : 0;
    const live = ['building', 'active', 'stopped'].includes(inst.vmState);
    if (!live) throw incorrectState(inst, 'changed');
    const whenStopped = change.userData !== undefined || change.flavorName !== undefined;
    if (whenStopped && (inst.vmState !== 'stopped' || inst.taskState !== null)) {
      throw new StratusError(
        'conflict',
        `The instance '${inst.id}' is not in the 'stopped' state.`,
        {
          resource: 'instance',
          id: inst.id,
          reason: 'instance_state',
        },
      );
    }
    if (change.userData !== undefined) {
      if (change.userData !== null) checkUserData(change.userData);
      set.userData = change.userData;
    }
    if (change.flavorName !== undefined) {
      const flavor = await this.#flavors.getUsableByName(
        change.flavorName,
        isAdmin(ctx) ? undefined : inst.projectId,
      );
      if (flavor.id !== inst.flavorId) {
        await this.#resize(inst, flavor);
        Object.assign(set, {
          flavorId: flavor.id,
          vcpus: flavor.vcpus,
          memoryMb: flavor.memoryMb,
          diskGb: flavor.diskGb,
        });
      }
    }
    if (change.securityGroupRefs !== undefined) {
      if (change.securityGroupRefs.length === 0) {
        throw invalid('An instance must be in at least one security group.', {
          resource: 'parameter',
          id: 'GroupId',
        });
      }
      await this.#opts.network.setInstanceSecurityGroups(ctx, inst.id, change.securityGroupRefs);
    }
    if (Object.keys(set).length === 0) return;
    // Only while it is in the state it was checked in (a start in between would miss the change).
    const ok = await this.#instances.transition(
      inst.id,
      whenStopped
        ? { vmStates: ['stopped'], taskStates: [null] }
        : { vmStates: ['building', 'active', 'stopped'] },
      set,
    );
    if (!ok) throw incorrectState(await this.#instances.get(inst.id), 'changed');
  }

  /**
   * Changes the metadata service's options of one live instance (ModifyInstanceMetadataOptions)
   * and returns the instance as changed. Tokens, the endpoint and tags apply to the guest's
   * next request (the metadata service reads them from the database); the hop limit reaches
   * the host's data plane through the network service, which tells the agents to re-read
   * their guests' settings (and each agent re-reads them every 30 s anyway).
   */
  async modifyMetadataOptions(
    ctx: RequestContext,
    inst: InstanceRow,
    change: MetadataOptionsChange,
  ): Promise<InstanceRow> {
    const o = checkMetadataOptions(change);
    const set: Partial<InstanceRow> = {};
    if (o.httpTokens !== undefined) set.metadataHttpTokens = o.httpTokens;
    if (o.httpEndpoint !== undefined) set.metadataHttpEndpoint = o.httpEndpoint;
    if (o.hopLimit !== undefined) set.metadataHopLimit = o.hopLimit;
    if (o.instanceTags !== undefined) set.metadataTags = o.instanceTags;
    const ok = await this.#instances.transition(
      inst.id,
      { vmStates: ['building', 'active', 'stopped'] },
      set,
    );
    if (!ok) throw incorrectState(await this.#instances.get(inst.id), 'changed');
    if (o.hopLimit !== undefined && o.hopLimit !== inst.metadataHopLimit) {
      // The change is recorded; an agent that is not told now reads it within 30 s.
      await this.#opts.network.metadataOptionsChanged(ctx, inst.id).catch((err: unknown) => {
        this.#opts.logger.warn(
          { err, instanceId: inst.id },
          'telling the network service of a new metadata hop limit failed',
        );
      });
    }
    return this.#instances.get(inst.id);
  }

  /** The password data the guest posted to the metadata service, and when (or none yet). */
  async passwordData(inst: InstanceRow): Promise<{ data: string | null; at: number }> {
    const row = await this.#instances.get(inst.id);
    return {
      data: row.passwordData,
      at: row.passwordDataAt ?? row.launchedAt ?? row.createdAt,
    };
  }

  /**
   * Checks that a stopped instance's project quota and its host hold a new flavor, and moves
   * the instance's capacity claim to it.
   */
  async #resize(inst: InstanceRow, flavor: FlavorRow): Promise<void> {
    const [used, overrides] = await Promise.all([
      this.#instances.usage(inst.projectId),
      new QuotaRepo(this.#opts.db).overrides(inst.projectId),
    ]);
    const limits = effectiveLimits(this.#opts.quota, overrides);
    const cores = used.cores - inst.vcpus + flavor.vcpus;
    const ram = used.ramMb - inst.memoryMb + flavor.memoryMb;
    if (cores > limits.cores || ram > limits.ramMb) {
      const which = cores > limits.cores ? 'cores' : 'ram';
      throw new StratusError(
        'over_quota',
        which === 'cores'
          ? `Your quota does not allow this: ${flavor.name} would bring the project to ${cores} vCPUs, over its limit of ${limits.cores}.`
          : `Your quota does not allow this: ${flavor.name} would bring the project to ${ram} MiB of memory, over its limit of ${limits.ramMb}.`,
        { resource: which, reason: which },
      );
    }
    if (!inst.host) return;
    const ratios = this.#opts.allocationRatios ?? { cpu: 1, ram: 1, disk: 1 };
    const outcome = await new CapacityClaimRepo(this.#opts.db).resize(
      { instanceId: inst.id, host: inst.host, ...flavor },
      (node) => ({
        vcpus: node.vcpus * ratios.cpu,
        memoryMb: node.memoryMb * ratios.ram,
        diskGb: node.diskGb * ratios.disk,
      }),
    );
    if (outcome === 'no_room') {
      throw new StratusError(
        'unavailable',
        `The instance's host has no room for the instance type ${flavor.name}.`,
        { resource: 'instance', id: inst.id, reason: 'no_valid_host' },
      );
    }
  }

  /** Every flavor; with a caller, only those it may use (public, or private with access). */
  flavors(ctx?: RequestContext): Promise<FlavorRow[]> {
    if (!ctx || isAdmin(ctx)) return this.#flavors.list();
    return this.#flavors.usableBy(ctx.projectId ?? '');
  }

  async #power(
    instances: readonly InstanceRow[],
    from: VmState,
    task: TaskState,
    send: (host: string, id: string) => Promise<void>,
  ): Promise<StateChange[]> {
    const out: StateChange[] = [];
    for (const inst of instances) {
      const before = { vmState: inst.vmState, taskState: inst.taskState };
      const ok = await this.#instances.transition(
        inst.id,
        { vmStates: [from], taskStates: [null] },
        { taskState: task },
      );
      if (ok && inst.host) await send(inst.host, inst.id);
      out.push({
        id: inst.id,
        before,
        after: ok ? { vmState: inst.vmState, taskState: task } : before,
      });
    }
    return out;
  }

  async #visibleImage(ctx: RequestContext, ref: string, kind: ImageRow['kind']): Promise<ImageRow> {
    const rows = await this.#images.list({
      idPrefixes: [ref],
      visibleTo: isAdmin(ctx) ? undefined : requireProject(ctx),
      // Anyone may launch a community image.
      includeCommunity: true,
    });
    const image = rows.find((r) => r.kind === kind) ?? rows[0];
    if (!image || image.kind !== kind) throw notFound('image', ref);
    return image;
  }

  async #securityGroups(
    ctx: RequestContext,
    projectId: string,
    req: RunRequest,
  ): Promise<string[]> {
    const repo = new SecurityGroupRepo(this.#opts.db);
    const refs = req.securityGroupRefs ?? [];
    const names = req.securityGroupNames ?? [];
    // The network service makes the project's `default` group the first time it is needed.
    const ensureDefault = async () =>
      (await repo.findByName(projectId, DEFAULT_GROUP)) ??
      (await this.#opts.network.ensureDefaultSecurityGroup(ctx));
    if (refs.length === 0 && names.length === 0) return [(await ensureDefault()).id];
    if (names.includes(DEFAULT_GROUP)) await ensureDefault();
    const ids: string[] = [];
    if (refs.length > 0) {
      const rows = await repo.list({ projectId, idPrefixes: refs });
      for (const ref of refs) {
        const row = rows.find((r) => r.id.startsWith(ref));
        if (!row) throw notFound('security_group', ref);
        ids.push(row.id);
      }
    }
    if (names.length > 0) {
      const rows = await repo.list({ projectId, names });
      for (const name of names) {
        // The default VPC's group of that name (names are unique per VPC), else the only one.
        const named = rows.filter((r) => r.name === name);
        const row =
          named.find((r) => r.vpcId === null) ?? (named.length === 1 ? named[0] : undefined);
        if (!row)
          throw notFound('security_group', name, `The security group '${name}' does not exist.`);
        ids.push(row.id);
      }
    }
    return [...new Set(ids)];
  }
}

export interface StateChange {
  id: string;
  before: { vmState: VmState; taskState: TaskState | null };
  after: { vmState: VmState; taskState: TaskState | null };
}

function reservationOf(rows: InstanceRow[]): Reservation {
  const first = rows[0] as InstanceRow;
  return { reservationId: first.reservationId, projectId: first.projectId, instances: rows };
}

function requireProject(ctx: RequestContext): string {
  if (!ctx.projectId) throw new StratusError('forbidden', 'This request needs a project.');
  return ctx.projectId;
}

/** What ModifyInstanceAttribute may change; absent fields are left as they are. */
export interface AttributeChange {
  disableApiTermination?: boolean;
  disableApiStop?: boolean;
  shutdownBehavior?: ShutdownBehavior;
  sourceDestCheck?: boolean;
  /** Base64 user data, or null for none (only while stopped). */
  userData?: string | null;
  /** A new flavor (only while stopped): the next start gives the VM its vCPUs and memory. */
  flavorName?: string;
  /** Security groups by id or leading characters of it, replacing the instance's groups. */
  securityGroupRefs?: readonly string[];
}

/** The instance metadata service's options of an instance (EC2's MetadataOptions). */
export interface MetadataOptions {
  /** 'required': every metadata request must carry an IMDSv2 session token. */
  httpTokens: MetadataHttpTokens;
  /** 'disabled': the metadata service refuses the instance's guest. */
  httpEndpoint: MetadataSwitch;
  /** The IP TTL of the metadata service's replies to the guest, 1 to 64. */
  hopLimit: number;
  /** 'enabled': the instance's tags are in its metadata. */
  instanceTags: MetadataSwitch;
}

/** What a launch or ModifyInstanceMetadataOptions sets; absent fields are left as they are. */
export type MetadataOptionsChange = Partial<MetadataOptions>;

/** EC2's defaults: tokens optional, the endpoint on, one hop, no tags. */
export const DEFAULT_METADATA_OPTIONS: Readonly<MetadataOptions> = {
  httpTokens: 'optional',
  httpEndpoint: 'enabled',
  hopLimit: 1,
  instanceTags: 'disabled',
};

/** The most hops EC2 allows a metadata reply. */
export const MAX_METADATA_HOPS = 64;

function checkMetadataOptions(o: MetadataOptionsChange): MetadataOptionsChange {
  const out: MetadataOptionsChange = {};
  if (o.httpTokens !== undefined) out.httpTokens = o.httpTokens;
  if (o.httpEndpoint !== undefined) out.httpEndpoint = o.httpEndpoint;
  if (o.instanceTags !== undefined) out.instanceTags = o.instanceTags;
  if (o.hopLimit !== undefined) {
    if (!Number.isInteger(o.hopLimit) || o.hopLimit < 1 || o.hopLimit > MAX_METADATA_HOPS) {
      throw invalid(
        `The metadata hop limit must be a whole number from 1 to ${MAX_METADATA_HOPS}; ${o.hopLimit} is not.`,
        { resource: 'parameter', id: 'HttpPutResponseHopLimit' },
      );
    }
    out.hopLimit = o.hopLimit;
  }
  return out;
}

function protectedInstance(inst: InstanceRow, verb: string, attribute: string): StratusError {
  return new StratusError(
    'conflict',
    `The instance '${inst.id}' may not be ${verb}. Modify its '${attribute}' instance attribute and try again.`,
    { resource: 'instance', id: inst.id, reason: 'protected' },
  );
}

function incorrectState(inst: InstanceRow, verb: string): StratusError {
  return new StratusError(
    'conflict',
    `The instance is ${inst.vmState}${inst.taskState ? ` (${inst.taskState})` : ''} and cannot be ${verb} now.`,
    { resource: 'instance', id: inst.id, reason: 'instance_state' },
  );
}

/** EC2's rules for user data: base64, at most 16 KiB decoded (`invalid`, reason `user_data`). */
export function checkUserData(userData: string): void {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(userData) || userData.length % 4 === 1) {
    throw invalid('The user data is not valid base64.', {
      resource: 'instance',
      reason: 'user_data',
    });
  }
  if (Buffer.from(userData, 'base64').length > MAX_USER_DATA_BYTES) {
    throw invalid(`The user data is larger than ${MAX_USER_DATA_BYTES} bytes.`, {
      resource: 'instance',
      reason: 'user_data',
    });
  }
}

/**
 * Refuses a flavor smaller than what the image says it needs (its `min_disk` in GiB and
 * `min_ram` in MiB), as the Compute API refuses such a launch with 400.
 */
function checkImageMinimums(
  image: Pick<ImageRow, 'id' | 'minDisk' | 'minRam'>,
  flavor: Pick<FlavorRow, 'name' | 'diskGb' | 'memoryMb'>,
): void {
  if (flavor.memoryMb < image.minRam) {
    throw invalid(
      `The flavor '${flavor.name}' has ${flavor.memoryMb} MiB of memory; the image '${image.id}' needs at least ${image.minRam} MiB.`,
      { resource: 'flavor', id: flavor.name },
    );
  }
  if (flavor.diskGb < image.minDisk) {
    throw invalid(
      `The flavor '${flavor.name}' has a ${flavor.diskGb} GiB disk; the image '${image.id}' needs at least ${image.minDisk} GiB.`,
      { resource: 'flavor', id: flavor.name },
    );
  }
}
