// What the metadata service knows about an instance beyond its row, read from the database when
// a guest asks (or, in QEMU user mode, when it is spawned), so it is current: a newly associated
// floating address, a changed group. By fixed IP, only a live instance holding the address is
// known. Reads only, but for the key IMDSv2 session tokens are signed with, made once for the
// whole cloud; the metadata edge (src/api/metadata) renders it for the guest.
import { randomBytes } from 'node:crypto';
import {
  InstanceRepo,
  LIVE_VM_STATES,
  SecurityGroupRepo,
  ServerDetailsRepo,
  ServerMetadataRepo,
  TagRepo,
  type Db,
  type InstanceRow,
} from '../db/index.js';

export interface InstanceFacts {
  instance: InstanceRow;
  /** The address the guest asked from (by default its private IP). */
  localIpv4: string | null;
  /** The floating address mapped onto the instance, if any. */
  publicIpv4: string | null;
  /** The names of the instance's security groups, sorted. */
  securityGroups: string[];
  /** The ids of the same groups, in the same order. */
  securityGroupIds?: string[];
  /** The name of the instance's flavor (its id if the flavor is gone). */
  flavorName: string;
  /** The instance's server metadata (the Compute API's), for OpenStack's meta_data.json. */
  serverMetadata?: Record<string, string>;
  /** The admin password the instance was created with (the Compute API's), if any. */
  adminPass?: string | null;
  /** The instance's tags (EC2's), for `tags/instance/` when the instance lets its guest see them. */
  tags?: { key: string; value: string }[];
}

/** The id of the key IMDSv2 session tokens are signed with. */
const TOKEN_KEY_ID = 'imds-session';

export class InstanceMetadataReader {
  #tokenKey: Promise<Buffer> | undefined;

  constructor(private readonly db: Db) {}

  /**
   * The key IMDSv2 session tokens are signed with: one for the cloud, in the database, made by
   * whichever process asks first (the others read the one that won), then kept in memory.
   */
  tokenKey(): Promise<Buffer> {
    this.#tokenKey ??= this.#readTokenKey().catch((err: unknown) => {
      this.#tokenKey = undefined;
      throw err;
    });
    return this.#tokenKey;
  }

  async #readTokenKey(): Promise<Buffer> {
    await this.db
      .insertInto('metadataTokenKeys')
      .values({ id: TOKEN_KEY_ID, secret: randomBytes(32).toString('hex'), createdAt: Date.now() })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    const row = await this.db
      .selectFrom('metadataTokenKeys')
      .select('secret')
      .where('id', '=', TOKEN_KEY_ID)
      .executeTakeFirstOrThrow();
    return Buffer.from(row.secret, 'hex');
  }

  /** The facts of the live instance holding fixed IP `address`, or undefined. */
  async byFixedIp(address: string): Promise<InstanceFacts | undefined> {
    const holders = await this.db
      .selectFrom('fixedIps')
      .innerJoin('instances', 'instances.id', 'fixedIps.instanceId')
      .selectAll('instances')
      .where('fixedIps.address', '=', address)
      .where('instances.vmState', 'in', [...LIVE_VM_STATES])
      .execute();
    // The same address on two networks is ambiguous: answer neither rather than the wrong one.
    if (holders.length !== 1) return undefined;
    return this.forInstance(holders[0] as InstanceRow, address);
  }

  /**
   * The facts of the live instance whose port on project network `networkId` holds `address`,
   * or undefined: the same address on another network is another instance's (issue 16).
   */
  async byNetworkAddress(networkId: string, address: string): Promise<InstanceFacts | undefined> {
    const holders = await this.db
      .selectFrom('projectPortIps')
      .innerJoin('projectPorts', 'projectPorts.id', 'projectPortIps.portId')
      .innerJoin('instances', 'instances.id', 'projectPorts.deviceId')
      .selectAll('instances')
      .where('projectPortIps.networkId', '=', networkId)
      .where('projectPortIps.address', '=', address)
      .where('projectPorts.deviceOwner', 'like', 'compute:%')
      .where('instances.vmState', 'in', [...LIVE_VM_STATES])
      .execute();
    if (holders.length !== 1) return undefined;
    return this.forInstance(holders[0] as InstanceRow, address);
  }

  /** Records the guest's first metadata request (later ones change nothing). */
  async recordFetch(inst: InstanceRow, at: number): Promise<void> {
    if (inst.metadataFetchedAt !== null) return;
    await new InstanceRepo(this.db).recordMetadataFetch(inst.id, at);
  }

  /** Keeps the password data the guest posted, if it posted none before; whether it was kept. */
  recordPassword(inst: InstanceRow, data: string, at: number): Promise<boolean> {
    return new InstanceRepo(this.db).recordPasswordData(inst.id, data, at);
  }

  /** The facts of `inst`, as its guest sees them at `localIpv4` (default: its private IP). */
  async forInstance(
    inst: InstanceRow,
    localIpv4: string | null = inst.privateIp,
  ): Promise<InstanceFacts> {
    const floating = await this.db
      .selectFrom('floatingIps')
      .select('address')
      .where('instanceId', '=', inst.id)
      .executeTakeFirst();
    const groupIds = await this.db
      .selectFrom('instanceSecurityGroups')
      .select('groupId')
      .where('instanceId', '=', inst.id)
      .execute();
    const groups = await new SecurityGroupRepo(this.db).byIds(groupIds.map((g) => g.groupId));
    const flavor = await this.db
      .selectFrom('flavors')
      .select('name')
      .where('id', '=', inst.flavorId)
      .executeTakeFirst();
    const serverMetadata = (await new ServerMetadataRepo(this.db).of([inst.id])).get(inst.id);
    const details = (await new ServerDetailsRepo(this.db).of([inst.id])).get(inst.id);
    const tags =
      inst.metadataTags === 'enabled'
        ? ((await new TagRepo(this.db).of([inst.id])).get(inst.id) ?? [])
        : [];
    const sorted = [...groups].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      instance: inst,
      localIpv4,
      publicIpv4: floating?.address ?? null,
      securityGroups: sorted.map((g) => g.name),
      securityGroupIds: sorted.map((g) => g.id),
      flavorName: flavor?.name ?? inst.flavorId,
      serverMetadata: serverMetadata ?? {},
      adminPass: details?.adminPass ?? null,
      tags: tags.map((t) => ({ key: t.key, value: t.value })),
    };
  }
}
