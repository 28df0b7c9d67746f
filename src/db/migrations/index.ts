// The ordered list of schema migrations; names sort in the order they run.
import type { Migration } from 'kysely';
import * as m0001 from './0001-identity-and-services.js';
import * as m0002 from './0002-compute.js';
import * as m0004 from './0004-addresses.js';
import * as m0005 from './0005-network.js';
import * as m0006 from './0006-tokens.js';
import * as m0007 from './0007-state-reasons.js';
import * as m0008 from './0008-capacity-claims.js';
import * as m0009 from './0009-instance-reachability.js';
import * as m0010 from './0010-listing-indexes.js';
import * as m0011 from './0011-service-owner.js';
import * as m0012 from './0012-generations.js';
import * as m0013 from './0013-live-instances-index.js';
import * as m0014 from './0014-instance-attributes.js';
import * as m0015 from './0015-server-metadata.js';
import * as m0016 from './0016-launch-templates.js';
import * as m0017 from './0017-instance-metadata-options.js';
import * as m0018 from './0018-image-sharing.js';
import * as m0019 from './0019-server-groups.js';
import * as m0020 from './0020-identity-admin.js';
import * as m0021 from './0021-identity-security.js';
import * as m0022 from './0022-rule-descriptions.js';
import * as m0023 from './0023-names-per-domain.js';
import * as m0024 from './0024-image-properties.js';
import * as m0025 from './0025-flavors-hosts-quotas.js';
import * as m0026 from './0026-server-details.js';
import * as m0027 from './0027-server-actions.js';
import * as m0029 from './0029-volumes.js';
import * as m0030 from './0030-volume-attachments.js';
import * as m0031 from './0031-snapshots.js';
import * as m0032 from './0032-launch-volumes.js';
import * as m0033 from './0033-project-networks.js';
import * as m0037 from './0037-vpcs.js';
import * as m0039 from './0039-egress-rules.js';
import * as m0040 from './0040-vpc-tables-interfaces.js';
import * as m0041 from './0041-port-delete-on-termination.js';
import * as m0042 from './0042-volume-images.js';
import * as m0043 from './0043-volume-types.js';
import * as m0044 from './0044-security-group-vpcs.js';
import * as m0045 from './0045-web-sessions.js';
import * as m0047 from './0047-security-group-names-per-vpc.js';
import * as m0048 from './0048-overlay-hosts.js';

export const MIGRATIONS: Record<string, Migration> = {
  '0001-identity-and-services': m0001,
  '0002-compute': m0002,
  '0004-addresses': m0004,
  '0005-network': m0005,
  '0006-tokens': m0006,
  '0007-state-reasons': m0007,
  '0008-capacity-claims': m0008,
  '0009-instance-reachability': m0009,
  '0010-listing-indexes': m0010,
  '0011-service-owner': m0011,
  '0012-generations': m0012,
  '0013-live-instances-index': m0013,
  '0014-instance-attributes': m0014,
  '0015-server-metadata': m0015,
  '0016-launch-templates': m0016,
  '0017-instance-metadata-options': m0017,
  '0018-image-sharing': m0018,
  '0019-server-groups': m0019,
  '0020-identity-admin': m0020,
  '0021-identity-security': m0021,
  '0022-rule-descriptions': m0022,
  '0023-names-per-domain': m0023,
  '0024-image-properties': m0024,
  '0025-flavors-hosts-quotas': m0025,
  '0026-server-details': m0026,
  '0027-server-actions': m0027,
  '0029-volumes': m0029,
  '0030-volume-attachments': m0030,
  '0031-snapshots': m0031,
  '0032-launch-volumes': m0032,
  '0033-project-networks': m0033,
  '0037-vpcs': m0037,
  '0039-egress-rules': m0039,
  '0040-vpc-tables-interfaces': m0040,
  '0041-port-delete-on-termination': m0041,
  '0042-volume-images': m0042,
  '0043-volume-types': m0043,
  '0044-security-group-vpcs': m0044,
  '0045-web-sessions': m0045,
  '0047-security-group-names-per-vpc': m0047,
  '0048-overlay-hosts': m0048,
};
