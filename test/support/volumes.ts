// Test support for volumes: ending the storage daemon a test cloud's volume service started
// (it outlives the service by design, so stopping the cloud leaves it running).
import path from 'node:path';
import { isQemuProcess } from '../../src/virt/index.js';
import { NbdExports } from '../../src/volume/index.js';

/** Ends the storage daemon kept in `stateDir` (`<stateDir>/nbd`), if one runs. */
export async function stopStorageDaemon(stateDir: string): Promise<void> {
  await new NbdExports({
    directory: path.join(stateDir, 'nbd'),
    address: '127.0.0.1',
    port: 0,
  }).stop();
}

/**
 * Stops a test cloud with `stop` (which may remove its state dir), then ends the storage daemon
 * it ran: read first, ended after, so the volume service cannot start another meanwhile.
 */
export async function stopWithStorageDaemon(
  stateDir: string,
  stop: () => Promise<void>,
): Promise<void> {
  const socket = path.join(stateDir, 'nbd', 'qsd.sock');
  const pid = new NbdExports({
    directory: path.join(stateDir, 'nbd'),
    address: '127.0.0.1',
    port: 0,
  }).pid();
  await stop();
  if (pid !== undefined && isQemuProcess(pid, socket)) process.kill(pid, 'SIGKILL');
}
