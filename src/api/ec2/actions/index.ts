// Every EC2 action this endpoint offers, from one table per action group.
import type { Ec2ActionTable } from '../action.js';
import { addressActions } from './addresses.js';
import { createImageActions } from './create-image.js';
import type { Ec2Deps } from './deps.js';
import { imageAttributeActions } from './image-attributes.js';
import { imageActions } from './images.js';
import { instanceActions } from './instances.js';
import { keypairActions } from './keypairs.js';
import { launchTemplateActions } from './launch-templates.js';
import { placementGroupActions } from './placement-groups.js';
import { metadataOptionsActions } from './metadata-options.js';
import { regionActions } from './regions.js';
import { securityGroupActions } from './security-groups.js';
import { snapshotActions } from './snapshots.js';
import { tagActions } from './tags.js';
import { volumeAttachmentActions } from './volume-attachments.js';
import { volumeActions } from './volumes.js';
import { internetGatewayActions } from './internet-gateways.js';
import { routeTableActions } from './route-tables.js';
import { subnetActions } from './subnets.js';
import { vpcActions } from './vpcs.js';
import { networkInterfaceActions } from './network-interfaces.js';

export type { Ec2Deps } from './deps.js';

export function ec2Actions(deps: Ec2Deps): Ec2ActionTable {
  return {
    ...regionActions(deps),
    ...keypairActions(deps),
    ...imageActions(deps),
    ...imageAttributeActions(deps),
    ...createImageActions(deps),
    ...instanceActions(deps),
    ...launchTemplateActions(deps),
    ...metadataOptionsActions(deps),
    ...securityGroupActions(deps),
    ...addressActions(deps),
    ...tagActions(deps),
    ...placementGroupActions(deps),
    ...vpcActions(deps),
    ...subnetActions(deps),
    ...internetGatewayActions(deps),
    ...routeTableActions(deps),
    ...networkInterfaceActions(deps),
    ...volumeActions(deps),
    ...volumeAttachmentActions(deps),
    ...snapshotActions(deps),
  };
}
