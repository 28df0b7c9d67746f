// Instance records for tests that drive the scheduler or compute directly, without the
// launch path: rows as InstanceOperations.run writes them (building, waiting for a host).
import { randomUUID } from 'node:crypto';
import { InstanceRepo, type Db, type InstanceRow } from '../../src/db/index.js';

/**
 * An instance record with every column set: an active 1 vCPU, 128 MiB, 1 GiB instance on no
 * host unless `fields` say otherwise.
 */
export function instanceRow(fields: Partial<InstanceRow> = {}): InstanceRow {
  const at = Date.now();
  return {
    id: randomUUID(),
    reservationId: randomUUID(),
    projectId: 'test-project',
    userId: 'test-user',
    imageId: 'test-image',
    kernelId: null,
    ramdiskId: null,
    flavorId: 'test-flavor',
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    keyName: null,
    keyData: null,
    userData: null,
    host: null,
    availabilityZone: 'test-zone',
    vmState: 'active',
    taskState: null,
    powerState: 'running',
    launchIndex: 0,
    clientToken: null,
    privateIp: null,
    macAddress: null,
    stateReason: null,
    stateMessage: null,
    metadataFetchedAt: null,
    networkObserved: 0,
    disableApiTermination: 0,
    disableApiStop: 0,
    shutdownBehavior: 'stop',
    sourceDestCheck: 1,
    passwordData: null,
    passwordDataAt: null,
    accessIpv4: null,
    accessIpv6: null,
    metadataHttpTokens: 'optional',
    metadataHttpEndpoint: 'enabled',
    metadataHopLimit: 1,
    metadataTags: 'disabled',
    lockedBy: null,
    lockedReason: null,
    resizeSource: null,
    createdAt: at,
    updatedAt: at,
    launchedAt: at,
    terminatedAt: null,
    ...fields,
  };
}

/** Inserts `count` instances waiting for a host (1 vCPU, 128 MiB, 1 GiB unless told); returns their ids. */
export async function insertBuildingInstances(
  db: Db,
  count: number,
  size: Partial<Pick<InstanceRow, 'vcpus' | 'memoryMb' | 'diskGb' | 'projectId'>> = {},
): Promise<string[]> {
  const reservationId = randomUUID();
  const rows = Array.from({ length: count }, (_, i) =>
    instanceRow({
      reservationId,
      ...size,
      vmState: 'building',
      taskState: 'scheduling',
      powerState: 'nostate',
      launchIndex: i,
      launchedAt: null,
    }),
  );
  await new InstanceRepo(db).insert(rows, []);
  return rows.map((r) => r.id);
}
