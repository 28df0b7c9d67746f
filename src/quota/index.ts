// Public surface of quota: per-project limits (configured defaults, the default class and
// overrides), usage, and what an admin changes of them.
export {
  effectiveLimits,
  QuotaReader,
  QUOTA_RESOURCES,
  type QuotaLimits,
  type QuotaUsage,
} from './quota.js';
export { QuotaAdmin, type QuotaResource } from './quota-admin.js';
