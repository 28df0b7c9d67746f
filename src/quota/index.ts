// Public surface of quota: per-project limits (configured defaults and overrides) and usage.
export {
  effectiveLimits,
  QuotaReader,
  QUOTA_RESOURCES,
  type QuotaLimits,
  type QuotaUsage,
} from './quota.js';
