// The Compute API's `extensions` (list and show by alias): the v2.0-era names of the parts of
// the API this cloud serves, in the shape clients read (alias, name, description, namespace,
// updated, links). Microversions replaced extensions; the list stays for clients that still ask.
import { notFound } from '../../errors.js';
import type { RouteDeps } from './routes.js';

/** [alias, name, description] of each part served. */
const EXTENSIONS: readonly [string, string, string][] = [
  ['os-access-ips', 'AccessIPs', 'Access IPs support.'],
  [
    'os-availability-zone',
    'AvailabilityZone',
    '1. Add availability_zone to the Create Server API. 2. Add availability zones describing.',
  ],
  ['os-console-output', 'ConsoleOutput', 'Console log output support, with tailing ability.'],
  ['OS-DCF', 'DiskConfig', 'Disk Management Extension.'],
  ['OS-EXT-AZ', 'ExtendedAvailabilityZone', 'Extended Availability Zone support.'],
  ['OS-EXT-IPS', 'ExtendedIps', 'Adds type parameter to the ip list.'],
  ['OS-EXT-IPS-MAC', 'ExtendedIpsMac', 'Adds mac address parameter to the ip list.'],
  ['OS-EXT-SRV-ATTR', 'ExtendedServerAttributes', 'Extended Server Attributes support.'],
  ['OS-EXT-STS', 'ExtendedStatus', 'Extended Status support.'],
  ['os-extended-volumes', 'ExtendedVolumes', 'Extended Volumes support.'],
  ['flavors', 'Flavors', 'Flavors Extension.'],
  ['os-flavor-access', 'FlavorAccess', 'Flavor access support.'],
  ['OS-FLV-DISABLED', 'FlavorDisabled', 'Support to show the disabled status of a flavor.'],
  ['OS-FLV-EXT-DATA', 'FlavorExtraData', 'Provide additional data for flavors.'],
  ['os-keypairs', 'Keypairs', 'Keypair Support.'],
  ['limits', 'Limits', 'Limits support.'],
  ['os-multiple-create', 'MultipleCreate', 'Allow multiple create in the Create Server v2.1 API.'],
  ['os-scheduler-hints', 'SchedulerHints', 'Pass arbitrary key/value pairs to the scheduler.'],
  ['os-server-groups', 'ServerGroups', 'Server group support.'],
  ['server-metadata', 'ServerMetadata', 'Server metadata Support.'],
  ['servers', 'Servers', 'Servers.'],
  ['OS-SRV-USG', 'ServerUsage', 'Adds launched_at and terminated_at on Servers.'],
  ['os-user-data', 'UserData', 'Add user_data to the Create Server API.'],
  ['versions', 'Versions', 'API Version information.'],
];

function extensionView([alias, name, description]: readonly [string, string, string]) {
  return {
    alias,
    name,
    description,
    namespace: 'http://docs.openstack.org/compute/ext/fake_xml',
    updated: '2014-12-03T00:00:00Z',
    links: [],
  };
}

export function extensionRoutes({ app, caller }: RouteDeps): void {
  app.get('/v2.1/extensions', async (request) => {
    await caller(request);
    return { extensions: EXTENSIONS.map(extensionView) };
  });
  app.get<{ Params: { alias: string } }>('/v2.1/extensions/:alias', async (request) => {
    await caller(request);
    const found = EXTENSIONS.find(([alias]) => alias === request.params.alias);
    if (!found) {
      throw notFound('resource', request.params.alias, 'Extension could not be found.');
    }
    return { extension: extensionView(found) };
  });
}
