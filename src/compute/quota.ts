// Quota limits: the configured defaults, overridden per project.
import type { QuotaLimits } from '../config/index.js';

export const QUOTA_RESOURCES = [
  'instances',
  'cores',
  'ramMb',
  'addresses',
  'securityGroups',
  'securityGroupRules',
  'keypairs',
] as const satisfies readonly (keyof QuotaLimits)[];

export function effectiveLimits(
  defaults: QuotaLimits,
  overrides: Record<string, number>,
): QuotaLimits {
  const out = { ...defaults };
  for (const r of QUOTA_RESOURCES) {
    const v = overrides[r];
    if (v !== undefined) out[r] = v;
  }
  return out;
}
