// The scheduler's host weighers.
export { freeMemoryWeigher, type WeigherChoice } from './free-memory.js';
export { serverGroupWeigher } from './server-group.js';
