// The instance metadata service's options (EC2's MetadataOptions): ModifyInstanceMetadataOptions,
// the `MetadataOptions.*` parameters of RunInstances and the `metadataOptions` DescribeInstances
// shows. The domain keeps them on the instance (compute/operations.ts); the metadata service and
// each host's data plane enforce them.
import {
  METADATA_HTTP_TOKENS,
  METADATA_SWITCH,
  MAX_METADATA_HOPS,
  type MetadataOptionsChange,
} from '../../../compute/index.js';
import type { InstanceRow } from '../../../db/index.js';
import { invalid } from '../../../errors.js';
import { parseEc2Id } from '../../../ids/index.js';
import type { Ec2ActionTable } from '../action.js';
import type { Params } from '../params.js';
import type { XmlObject } from '../xml.js';
import type { Ec2Deps } from './deps.js';

/**
 * The metadata options a request gives under `prefix` (`MetadataOptions.` for RunInstances,
 * none for ModifyInstanceMetadataOptions); absent ones are left out. IPv6 is refused by name:
 * the metadata service has no IPv6 address here.
 */
export function metadataOptionsParams(params: Params, prefix = ''): MetadataOptionsChange {
  const ipv6 = params.enumOf(`${prefix}HttpProtocolIpv6`, METADATA_SWITCH);
  if (ipv6 === 'enabled') {
    throw invalid(
      'The instance metadata service has no IPv6 endpoint in this cloud: HttpProtocolIpv6 stays disabled.',
      { resource: 'parameter', id: `${prefix}HttpProtocolIpv6`, reason: 'unsupported' },
    );
  }
  const out: MetadataOptionsChange = {};
  const httpTokens = params.enumOf(`${prefix}HttpTokens`, METADATA_HTTP_TOKENS);
  const httpEndpoint = params.enumOf(`${prefix}HttpEndpoint`, METADATA_SWITCH);
  const hopLimit = params.int(`${prefix}HttpPutResponseHopLimit`, {
    min: 1,
    max: MAX_METADATA_HOPS,
  });
  const instanceTags = params.enumOf(`${prefix}InstanceMetadataTags`, METADATA_SWITCH);
  if (httpTokens !== undefined) out.httpTokens = httpTokens;
  if (httpEndpoint !== undefined) out.httpEndpoint = httpEndpoint;
  if (hopLimit !== undefined) out.hopLimit = hopLimit;
  if (instanceTags !== undefined) out.instanceTags = instanceTags;
  return out;
}

/**
 * An instance's `InstanceMetadataOptionsResponse`. `state` is 'applied' in DescribeInstances:
 * the metadata service reads the options with the instance on every request; a new hop limit
 * reaches the host's data plane through the network agents' fanout, or at the latest with an
 * agent's periodic re-read (30 s).
 */
export function metadataOptionsView(inst: InstanceRow, state: 'pending' | 'applied'): XmlObject {
  return {
    state,
    httpTokens: inst.metadataHttpTokens,
    httpPutResponseHopLimit: inst.metadataHopLimit,
    httpEndpoint: inst.metadataHttpEndpoint,
    httpProtocolIpv6: 'disabled',
    instanceMetadataTags: inst.metadataTags,
  };
}

export function metadataOptionsActions(deps: Ec2Deps): Ec2ActionTable {
  const ops = deps.instances;
  return {
    ModifyInstanceMetadataOptions: async ({ params, context }) => {
      const shown = params.requireString('InstanceId', { max: 64 });
      const change = metadataOptionsParams(params);
      const [inst] = await ops.resolve(context, [
        { ref: parseEc2Id(shown, ['i'], 'instance').uuidPrefix, shown },
      ]);
      const changed = await ops.modifyMetadataOptions(context, inst as InstanceRow, change);
      // EC2 answers 'pending' for a running instance and shows 'applied' once in force.
      return {
        instanceId: shown,
        instanceMetadataOptions: metadataOptionsView(changed, 'pending'),
      };
    },
  };
}
