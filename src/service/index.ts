// Public surface of the service framework.
export { ServiceRunner, type ServiceRunnerOptions } from './service-runner.js';
export { serviceState, type ServiceState } from './liveness.js';
export type { Service, Binary, PeriodicTask, ServiceStatus } from './service.js';
export { ServiceHealth, type HealthReport, type ServiceHealthEntry } from './health.js';
