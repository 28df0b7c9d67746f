// An empty qcow2 (version 2) image of a given virtual size, written without qemu-img: what the
// fake driver hands out as a copy of a VM's disk. Four 64 KiB clusters: the header, the
// refcount table, one refcount block and the L1 table (all of its entries zero, so every
// guest block reads as zeros).
import fs from 'node:fs';

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;

/** The bytes of an empty qcow2 image of `virtualSize` bytes (at most 512 GiB). */
export function emptyQcow2(virtualSize: number): Buffer {
  // One L1 entry covers an L2 table's worth of clusters: 8192 * 64 KiB = 512 MiB.
  const perL1 = (CLUSTER / 8) * CLUSTER;
  const l1Size = Math.max(1, Math.ceil(virtualSize / perL1));
  if (l1Size * 8 > CLUSTER) throw new Error('the empty image is limited to 512 GiB');
  const buf = Buffer.alloc(4 * CLUSTER);
  buf.write('QFI\xfb', 0, 'latin1');
  buf.writeUInt32BE(2, 4); // version
  buf.writeBigUInt64BE(0n, 8); // no backing file
  buf.writeUInt32BE(0, 16);
  buf.writeUInt32BE(CLUSTER_BITS, 20);
  buf.writeBigUInt64BE(BigInt(virtualSize), 24);
  buf.writeUInt32BE(0, 32); // not encrypted
  buf.writeUInt32BE(l1Size, 36);
  buf.writeBigUInt64BE(BigInt(3 * CLUSTER), 40); // L1 table
  buf.writeBigUInt64BE(BigInt(CLUSTER), 48); // refcount table
  buf.writeUInt32BE(1, 56); // refcount table clusters
  buf.writeUInt32BE(0, 60); // snapshots
  buf.writeBigUInt64BE(0n, 64);
  // The refcount table's first entry: the block at cluster 2, which counts clusters 0-3 once.
  buf.writeBigUInt64BE(BigInt(2 * CLUSTER), CLUSTER);
  for (let c = 0; c < 4; c++) buf.writeUInt16BE(1, 2 * CLUSTER + 2 * c);
  return buf;
}

/** Writes an empty qcow2 image of `virtualSize` bytes to `file` (which must not exist). */
export async function writeEmptyQcow2(file: string, virtualSize: number): Promise<void> {
  await fs.promises.writeFile(file, emptyQcow2(virtualSize), { flag: 'wx' });
}
