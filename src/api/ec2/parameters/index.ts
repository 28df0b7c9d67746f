// Every EC2 action's declared request parameters (rules.ts), by action, one file per action
// group as under actions/. A new action adds its entry here; the endpoint answers an action
// without one with an internal error, and parameters.test.ts names it.
import { addressParameters } from './addresses.js';
import { imageParameters } from './images.js';
import { instanceImageParameters } from './instance-images.js';
import { instanceParameters } from './instances.js';
import { keypairParameters } from './keypairs.js';
import { launchTemplateParameters } from './launch-templates.js';
import { placementGroupParameters } from './placement-groups.js';
import { regionParameters } from './regions.js';
import type { ActionParameters } from './rules.js';
import { securityGroupParameters } from './security-groups.js';
import { snapshotParameters } from './snapshots.js';
import { tagParameters } from './tags.js';
import { volumeParameters } from './volumes.js';
import { vpcParameters } from './vpcs.js';

export { identityParameters } from './identity.js';
export { renderParameterTable } from './render.js';
export {
  checkParameters,
  parameterShape,
  refuses,
  ruleFor,
  type ActionParameters,
  type ParameterRule,
} from './rules.js';

export const EC2_PARAMETERS: Readonly<Record<string, ActionParameters>> = {
  ...regionParameters,
  ...keypairParameters,
  ...imageParameters,
  ...instanceImageParameters,
  ...instanceParameters,
  ...securityGroupParameters,
  ...addressParameters,
  ...tagParameters,
  ...launchTemplateParameters,
  ...placementGroupParameters,
  ...vpcParameters,
  ...volumeParameters,
  ...snapshotParameters,
};
