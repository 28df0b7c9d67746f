// Launch parameters as the compute domain keeps them: what a launch template version holds and
// what a launch gives itself, and how the two combine (each given field wins; tags merge).
import type { ShutdownBehavior } from '../db/index.js';
import { StratusError } from '../errors.js';
import { checkTags } from '../text-rules.js';
import { checkUserData, type MetadataOptionsChange } from './operations.js';

export interface Tag {
  key: string;
  value: string;
}

/**
 * Launch parameters, as a template version keeps them and as a launch gives them: every field
 * is optional, and an absent field leaves the other side's value in place.
 */
export interface LaunchData {
  /** The machine image, by the leading characters of its id. */
  imageRef?: string;
  kernelRef?: string;
  ramdiskRef?: string;
  /** The flavor, by name. */
  instanceType?: string;
  keyName?: string;
  /** Security groups by the leading characters of their ids. */
  securityGroupRefs?: string[];
  /** Security groups by name. */
  securityGroupNames?: string[];
  /** Base64. */
  userData?: string;
  availabilityZone?: string;
  disableApiTermination?: boolean;
  disableApiStop?: boolean;
  shutdownBehavior?: ShutdownBehavior;
  /** The instance metadata service's options (EC2's MetadataOptions), each one optional. */
  metadataOptions?: MetadataOptionsChange;
  /** Tags of the resources a launch makes, by resource type ('instance', 'volume', ...). */
  tagSpecifications?: { resourceType: string; tags: Tag[] }[];
}

/** The fields of LaunchData, for code that walks them. */
const FIELDS = [
  'imageRef',
  'kernelRef',
  'ramdiskRef',
  'instanceType',
  'keyName',
  'securityGroupRefs',
  'securityGroupNames',
  'userData',
  'availabilityZone',
  'disableApiTermination',
  'disableApiStop',
  'shutdownBehavior',
  'metadataOptions',
  'tagSpecifications',
] as const satisfies readonly (keyof LaunchData)[];

/**
 * The parameters a launch gets from a template version and its own: each field the launch
 * gives wins; tags are merged per resource type, the launch's value winning for a key both
 * have (as EC2 merges them), and so are the metadata options, option by option.
 */
export function applyLaunchTemplate(template: LaunchData, given: LaunchData): LaunchData {
  const out: LaunchData = { ...template };
  for (const f of FIELDS) {
    if (given[f] !== undefined) (out as Record<string, unknown>)[f] = given[f];
  }
  if (template.metadataOptions && given.metadataOptions) {
    out.metadataOptions = { ...template.metadataOptions, ...given.metadataOptions };
  }
  if (template.tagSpecifications && given.tagSpecifications) {
    const types = new Map<string, Map<string, string>>();
    for (const spec of [...template.tagSpecifications, ...given.tagSpecifications]) {
      const tags = types.get(spec.resourceType) ?? new Map<string, string>();
      for (const t of spec.tags) tags.set(t.key, t.value);
      types.set(spec.resourceType, tags);
    }
    out.tagSpecifications = [...types].map(([resourceType, tags]) => ({
      resourceType,
      tags: [...tags].map(([key, value]) => ({ key, value })),
    }));
  }
  return out;
}

/** A version holds something, and what it holds has the form a launch needs (`missing`, `invalid`). */
export function checkData(data: LaunchData): void {
  if (FIELDS.every((f) => data[f] === undefined)) {
    throw new StratusError(
      'missing',
      'The request must contain the parameter LaunchTemplateData with at least one launch parameter.',
      { resource: 'parameter', id: 'LaunchTemplateData' },
    );
  }
  if (data.userData !== undefined) checkUserData(data.userData);
  for (const spec of data.tagSpecifications ?? []) checkTags(spec.tags);
}
