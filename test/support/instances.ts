// Instance records for tests that drive the scheduler or compute directly, without the
// launch path: rows as InstanceOperations.run writes them (building, waiting for a host).
import { randomUUID } from 'node:crypto';
import { InstanceRepo, type Db, type InstanceRow } from '../../src/db/index.js';

/** Inserts `count` instances waiting for a host (1 vCPU, 128 MiB, 1 GiB unless told); returns their ids. */
export async function insertBuildingInstances(
  db: Db,
  count: number,
  size: Partial<Pick<InstanceRow, 'vcpus' | 'memoryMb' | 'diskGb' | 'projectId'>> = {},
): Promise<string[]> {
  const at = Date.now();
  const reservationId = randomUUID();
  const rows: InstanceRow[] = Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    reservationId,
    projectId: size.projectId ?? 'test-project',
    userId: 'test-user',
    imageId: 'test-image',
    kernelId: null,
    ramdiskId: null,
    flavorId: 'test-flavor',
    vcpus: size.vcpus ?? 1,
    memoryMb: size.memoryMb ?? 128,
    diskGb: size.diskGb ?? 1,
    keyName: null,
    keyData: null,
    userData: null,
    host: null,
    availabilityZone: 'test-zone',
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 'nostate',
    launchIndex: i,
    clientToken: null,
    privateIp: null,
    macAddress: null,
    stateReason: null,
    stateMessage: null,
    metadataFetchedAt: null,
    networkObserved: 0,
    createdAt: at,
    updatedAt: at,
    launchedAt: null,
    terminatedAt: null,
  }));
  await new InstanceRepo(db).insert(rows, []);
  return rows.map((r) => r.id);
}
