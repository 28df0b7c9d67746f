// The scheduler's host weighers.
export { freeMemoryWeigher, WEIGHER_CHOICES, type WeigherChoice } from './free-memory.js';
