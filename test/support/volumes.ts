// Test support for volumes: ending the storage daemon a test cloud's volume service started
// (it outlives the service by design, so stopping the cloud leaves it running).
import path from 'node:path';
import { NbdExports } from '../../src/volume/index.js';

/** Ends the storage daemon kept in `stateDir` (`<stateDir>/nbd`), if one runs. */
export async function stopStorageDaemon(stateDir: string): Promise<void> {
  await new NbdExports({
    directory: path.join(stateDir, 'nbd'),
    address: '127.0.0.1',
    port: 0,
  }).stop();
}
