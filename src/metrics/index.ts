// Public surface of metrics.
export { Metrics } from './metrics.js';
