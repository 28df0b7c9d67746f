// EC2 Query requests for the fuzz suite: an Action from the table Stratus implements (now and
// then one it does not), with that action's parameters given valid-shaped and hostile values,
// list indexes in and out of range (Tag.0, Tag.99999, duplicated keys, bare names), filters,
// paging, and a few requests whose signature is wrong.
import fc from 'fast-check';
import { hex, hostileString, maybe, NUMBER_TEXTS, plainName, weighted } from './values.js';

/** What already exists in the fuzz cloud, for values that name real resources. */
export interface Ec2Ids {
  instances: string[];
  images: string[];
  kernels: string[];
  ramdisks: string[];
  securityGroups: string[];
  securityGroupNames: string[];
  keyNames: string[];
  keyPairIds: string[];
  allocations: string[];
  publicIps: string[];
  zones: string[];
  instanceTypes: string[];
  projectIds: string[];
}

export interface Ec2Request {
  action: string;
  method: 'GET' | 'POST';
  path: string;
  /** In order, duplicates and all. */
  params: [string, string][];
  /** Whose credentials sign it. */
  who: 'member' | 'admin';
  /** The Content-Type of a POST; undefined: none at all. */
  contentType?: string;
  /** How it is signed: properly, or one of the ways a signature goes wrong. */
  auth: 'good' | 'wrong-secret' | 'unknown-key' | 'stale-date' | 'unsigned';
}

/** One parameter slot of an action, as the action table reads it. */
type Slot =
  | { kind: 'id'; name: string; of: keyof Ec2Ids; prefix: string }
  | { kind: 'ids'; name: string; of: keyof Ec2Ids; prefix: string }
  | { kind: 'text'; name: string; of?: keyof Ec2Ids }
  | { kind: 'texts'; name: string; of?: keyof Ec2Ids }
  | { kind: 'int'; name: string; min: number; max: number }
  | { kind: 'bool'; name: string }
  | { kind: 'enum'; name: string; values: string[] }
  | { kind: 'base64'; name: string }
  | { kind: 'filters'; names: string[] }
  | { kind: 'paging' }
  | { kind: 'tags'; name: string }
  | { kind: 'tagSpecifications'; types: string[] }
  | { kind: 'permissions' }
  | { kind: 'struct'; name: string; fields: string[] };

const id = (name: string, of: keyof Ec2Ids, prefix: string): Slot => ({
  kind: 'id',
  name,
  of,
  prefix,
});
const ids = (name: string, of: keyof Ec2Ids, prefix: string): Slot => ({
  kind: 'ids',
  name,
  of,
  prefix,
});
const text = (name: string, of?: keyof Ec2Ids): Slot => ({ kind: 'text', name, of });
const texts = (name: string, of?: keyof Ec2Ids): Slot => ({ kind: 'texts', name, of });
const int = (name: string, min = 0, max = 1000): Slot => ({ kind: 'int', name, min, max });
const bool = (name: string): Slot => ({ kind: 'bool', name });
const oneOf = (name: string, ...values: string[]): Slot => ({ kind: 'enum', name, values });
const filters = (...names: string[]): Slot => ({ kind: 'filters', names });
const PAGING: Slot = { kind: 'paging' };
const INSTANCE_FILTERS = [
  'instance-id',
  'instance-state-name',
  'instance-state-code',
  'instance-type',
  'image-id',
  'key-name',
  'private-ip-address',
  'ip-address',
  'reservation-id',
  'availability-zone',
  'launch-index',
  'owner-id',
  'client-token',
  'group-id',
  'group-name',
  'tag:Name',
  'tag-key',
  'tag-value',
  'architecture',
];

/** Every action of src/api/ec2/actions and the parameters it reads. */
export const EC2_ACTIONS: Readonly<Record<string, readonly Slot[]>> = {
  DescribeRegions: [texts('RegionName'), bool('AllRegions'), filters('region-name', 'endpoint')],
  DescribeAvailabilityZones: [
    texts('ZoneName', 'zones'),
    texts('ZoneId'),
    bool('AllAvailabilityZones'),
    filters('zone-name', 'state', 'region-name', 'zone-id'),
  ],
  DescribeInstanceTypes: [
    texts('InstanceType', 'instanceTypes'),
    filters('instance-type', 'vcpu-info.default-vcpus', 'memory-info.size-in-mib'),
    PAGING,
  ],
  CreateKeyPair: [
    text('KeyName', 'keyNames'),
    oneOf('KeyType', 'rsa', 'ed25519'),
    oneOf('KeyFormat', 'pem', 'ppk'),
    { kind: 'tagSpecifications', types: ['key-pair', 'instance'] },
  ],
  ImportKeyPair: [text('KeyName', 'keyNames'), { kind: 'base64', name: 'PublicKeyMaterial' }],
  DeleteKeyPair: [text('KeyName', 'keyNames'), id('KeyPairId', 'keyPairIds', 'key')],
  DescribeKeyPairs: [
    texts('KeyName', 'keyNames'),
    ids('KeyPairId', 'keyPairIds', 'key'),
    bool('IncludePublicKey'),
    filters('key-name', 'fingerprint', 'key-pair-id', 'tag-key'),
  ],
  DescribeImages: [
    ids('ImageId', 'images', 'ami'),
    texts('Owner', 'projectIds'),
    texts('ExecutableBy', 'projectIds'),
    bool('IncludeDeprecated'),
    bool('IncludeDisabled'),
    filters('image-id', 'name', 'state', 'is-public', 'owner-id', 'image-type', 'creation-date'),
    PAGING,
  ],
  RegisterImage: [
    text('Name'),
    text('ImageLocation', 'images'),
    text('Description'),
    oneOf('Architecture', 'x86_64', 'i386', 'arm64'),
    id('KernelId', 'kernels', 'aki'),
    id('RamdiskId', 'ramdisks', 'ari'),
    text('RootDeviceName'),
    oneOf('VirtualizationType', 'hvm', 'paravirtual'),
    oneOf('BootMode', 'legacy-bios', 'uefi'),
    bool('EnaSupport'),
    text('SriovNetSupport'),
    { kind: 'struct', name: 'BlockDeviceMapping', fields: ['DeviceName', 'VirtualName'] },
  ],
  DeregisterImage: [id('ImageId', 'images', 'ami'), bool('DeleteAssociatedSnapshots')],
  DescribeImageAttribute: [
    id('ImageId', 'images', 'ami'),
    oneOf(
      'Attribute',
      'description',
      'kernel',
      'ramdisk',
      'launchPermission',
      'bootMode',
      'sriovNetSupport',
      'blockDeviceMapping',
    ),
  ],
  ModifyImageAttribute: [
    id('ImageId', 'images', 'ami'),
    oneOf('Attribute', 'description', 'launchPermission', 'productCodes'),
    text('Description.Value'),
    text('Value'),
    oneOf('OperationType', 'add', 'remove'),
    texts('UserId', 'projectIds'),
    oneOf('UserGroup.1', 'all', 'everyone'),
    text('LaunchPermission.Add.1.UserId', 'projectIds'),
    oneOf('LaunchPermission.Add.1.Group', 'all', 'none'),
    text('LaunchPermission.Remove.1.UserId', 'projectIds'),
  ],
  ResetImageAttribute: [
    id('ImageId', 'images', 'ami'),
    oneOf('Attribute', 'launchPermission', 'kernel'),
  ],
  CopyImage: [
    id('SourceImageId', 'images', 'ami'),
    text('SourceRegion'),
    text('Name'),
    text('Description'),
    text('ClientToken'),
    bool('Encrypted'),
    bool('CopyImageTags'),
    { kind: 'tagSpecifications', types: ['image', 'snapshot'] },
  ],
  EnableImageDeprecation: [id('ImageId', 'images', 'ami'), text('DeprecateAt')],
  DisableImageDeprecation: [id('ImageId', 'images', 'ami')],
  RunInstances: [
    id('ImageId', 'images', 'ami'),
    int('MinCount', 0, 3),
    int('MaxCount', 0, 3),
    text('InstanceType', 'instanceTypes'),
    text('KeyName', 'keyNames'),
    texts('SecurityGroup', 'securityGroupNames'),
    ids('SecurityGroupId', 'securityGroups', 'sg'),
    { kind: 'base64', name: 'UserData' },
    text('Placement.AvailabilityZone', 'zones'),
    text('ClientToken'),
    id('KernelId', 'kernels', 'aki'),
    id('RamdiskId', 'ramdisks', 'ari'),
    { kind: 'tagSpecifications', types: ['instance', 'volume', 'network-interface', 'image'] },
    text('LaunchTemplate.LaunchTemplateId'),
    text('LaunchTemplate.LaunchTemplateName'),
    oneOf('LaunchTemplate.Version', '1', '2', '$Latest', '$Default', '0', 'x'),
  ],
  DescribeInstances: [ids('InstanceId', 'instances', 'i'), filters(...INSTANCE_FILTERS), PAGING],
  DescribeInstanceStatus: [
    ids('InstanceId', 'instances', 'i'),
    bool('IncludeAllInstances'),
    filters('availability-zone', 'instance-state-name', 'instance-status.status', 'event.code'),
    PAGING,
  ],
  TerminateInstances: [ids('InstanceId', 'instances', 'i')],
  StopInstances: [ids('InstanceId', 'instances', 'i'), bool('Force')],
  StartInstances: [ids('InstanceId', 'instances', 'i')],
  RebootInstances: [ids('InstanceId', 'instances', 'i')],
  GetConsoleOutput: [id('InstanceId', 'instances', 'i'), bool('Latest')],
  GetConsoleScreenshot: [id('InstanceId', 'instances', 'i'), bool('WakeUp')],
  DescribeInstanceAttribute: [
    id('InstanceId', 'instances', 'i'),
    oneOf(
      'Attribute',
      'instanceType',
      'userData',
      'kernel',
      'ramdisk',
      'groupSet',
      'disableApiTermination',
    ),
  ],
  CreateSecurityGroup: [
    text('GroupName', 'securityGroupNames'),
    text('GroupDescription'),
    text('VpcId'),
    { kind: 'tagSpecifications', types: ['security-group', 'instance'] },
  ],
  DeleteSecurityGroup: [
    id('GroupId', 'securityGroups', 'sg'),
    text('GroupName', 'securityGroupNames'),
  ],
  DescribeSecurityGroups: [
    texts('GroupName', 'securityGroupNames'),
    ids('GroupId', 'securityGroups', 'sg'),
    filters(
      'group-name',
      'group-id',
      'description',
      'owner-id',
      'ip-permission.protocol',
      'ip-permission.from-port',
    ),
    PAGING,
  ],
  AuthorizeSecurityGroupIngress: [
    id('GroupId', 'securityGroups', 'sg'),
    text('GroupName', 'securityGroupNames'),
    { kind: 'permissions' },
    oneOf('IpProtocol', 'tcp', 'udp', 'icmp', '-1', '6', 'all'),
    int('FromPort', -1, 65536),
    int('ToPort', -1, 65536),
    text('CidrIp'),
    text('SourceSecurityGroupName', 'securityGroupNames'),
    text('SourceSecurityGroupOwnerId', 'projectIds'),
  ],
  RevokeSecurityGroupIngress: [
    id('GroupId', 'securityGroups', 'sg'),
    text('GroupName', 'securityGroupNames'),
    { kind: 'permissions' },
    oneOf('IpProtocol', 'tcp', 'udp', 'icmp', '-1'),
    int('FromPort', -1, 65536),
    int('ToPort', -1, 65536),
    text('CidrIp'),
    ids('SecurityGroupRuleId', 'securityGroups', 'sgr'),
  ],
  AllocateAddress: [oneOf('Domain', 'vpc', 'standard'), text('PublicIpv4Pool'), text('Address')],
  AssociateAddress: [
    id('AllocationId', 'allocations', 'eipalloc'),
    text('PublicIp', 'publicIps'),
    id('InstanceId', 'instances', 'i'),
    text('PrivateIpAddress'),
    bool('AllowReassociation'),
    text('NetworkInterfaceId'),
  ],
  DisassociateAddress: [
    id('AssociationId', 'allocations', 'eipassoc'),
    text('PublicIp', 'publicIps'),
  ],
  ReleaseAddress: [id('AllocationId', 'allocations', 'eipalloc'), text('PublicIp', 'publicIps')],
  DescribeAddresses: [
    texts('PublicIp', 'publicIps'),
    ids('AllocationId', 'allocations', 'eipalloc'),
    filters('public-ip', 'allocation-id', 'instance-id', 'domain', 'tag:x'),
  ],
  CreateTags: [ids('ResourceId', 'instances', 'i'), { kind: 'tags', name: 'Tag' }],
  DeleteTags: [ids('ResourceId', 'securityGroups', 'sg'), { kind: 'tags', name: 'Tag' }],
  DescribeTags: [filters('key', 'value', 'resource-id', 'resource-type'), PAGING],
  CreateLaunchTemplate: [
    text('LaunchTemplateName'),
    text('VersionDescription'),
    text('ClientToken'),
    text('LaunchTemplateData.ImageId', 'images'),
    text('LaunchTemplateData.InstanceType', 'instanceTypes'),
    text('LaunchTemplateData.KeyName', 'keyNames'),
    texts('LaunchTemplateData.SecurityGroupId', 'securityGroups'),
    { kind: 'base64', name: 'LaunchTemplateData.UserData' },
    bool('LaunchTemplateData.DisableApiStop'),
    oneOf('LaunchTemplateData.InstanceInitiatedShutdownBehavior', 'stop', 'terminate', 'x'),
    text('LaunchTemplateData.Placement.AvailabilityZone', 'zones'),
    text('LaunchTemplateData.IamInstanceProfile.Name'),
    { kind: 'tagSpecifications', types: ['launch-template', 'instance'] },
  ],
  CreateLaunchTemplateVersion: [
    text('LaunchTemplateId'),
    text('LaunchTemplateName'),
    text('SourceVersion'),
    text('VersionDescription'),
    text('ClientToken'),
    text('LaunchTemplateData.ImageId', 'images'),
    text('LaunchTemplateData.InstanceType', 'instanceTypes'),
  ],
  DescribeLaunchTemplates: [
    texts('LaunchTemplateId'),
    texts('LaunchTemplateName'),
    filters('create-time', 'launch-template-name', 'tag:Name', 'tag-key'),
    PAGING,
  ],
  DescribeLaunchTemplateVersions: [
    text('LaunchTemplateId'),
    text('LaunchTemplateName'),
    texts('LaunchTemplateVersion'),
    text('MinVersion'),
    text('MaxVersion'),
    filters('is-default-version', 'instance-type', 'image-id', 'http-tokens'),
    PAGING,
  ],
  ModifyLaunchTemplate: [
    text('LaunchTemplateId'),
    text('LaunchTemplateName'),
    text('SetDefaultVersion'),
    text('ClientToken'),
  ],
  DeleteLaunchTemplate: [text('LaunchTemplateId'), text('LaunchTemplateName')],
  DeleteLaunchTemplateVersions: [
    text('LaunchTemplateId'),
    text('LaunchTemplateName'),
    texts('LaunchTemplateVersion'),
  ],
};

/** Actions this cloud does not have, or that are spelled so a lookup could go wrong. */
const OTHER_ACTIONS = [
  '',
  'describeinstances',
  'DescribeInstances ',
  'CreateVpc',
  'DescribeVolumes',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'Describe<Instances>',
];

/** The EC2 API version SDKs send; a few bad ones. */
const version = weighted(
  [20, fc.constant<string | undefined>('2016-11-15')],
  [1, fc.constant(undefined)],
  [1, fc.constantFrom('2006-06-26', '2016-13-99', 'latest', '', '2016-11-15 ')],
);

/** A list index as it appears in a key: usually 1..3, sometimes out of range or not a number. */
const index = weighted<string>(
  [12, fc.integer({ min: 1, max: 3 }).map(String)],
  [1, fc.constantFrom('0', '99999', '00001', '-1', 'x', '', '1.5', '99999999999999999999', '1e3')],
);

/** Pairs for a list: `Name.N` (and now and then a bare `Name`, or the same key twice). */
function listPairs(name: string, value: fc.Arbitrary<string>): fc.Arbitrary<[string, string][]> {
  return fc
    .tuple(
      fc.array(fc.tuple(index, value), { minLength: 0, maxLength: 3 }),
      maybe(value, 0.1),
      fc.boolean(),
    )
    .map(([items, bare, duplicate]) => {
      const pairs: [string, string][] = items.map(([i, v]) => [`${name}.${i}`, v]);
      if (bare !== undefined) pairs.push([name, bare]);
      if (duplicate && pairs[0]) pairs.push(pairs[0]);
      return pairs;
    });
}

/** Pairs for a list of structs: `Name.N.Field` (plus what each field says of itself). */
function structPairs(
  name: string,
  fields: [string, fc.Arbitrary<[string, string][]>][],
  maxItems = 2,
): fc.Arbitrary<[string, string][]> {
  const one = fc.tuple(index, ...fields.map(([, arb]) => maybe(arb, 0.8)));
  return fc
    .array(one, { minLength: 0, maxLength: maxItems })
    .map((items) =>
      items.flatMap(([i, ...values]) =>
        values.flatMap((pairs) =>
          (pairs ?? []).map(([k, v]): [string, string] => [`${name}.${i}.${k}`, v]),
        ),
      ),
    );
}

const single = (name: string, value: fc.Arbitrary<string>) =>
  value.map((v): [string, string][] => [[name, v]]);

export function ec2RequestArbitrary(ids: Ec2Ids): fc.Arbitrary<Ec2Request> {
  const existing = (of: keyof Ec2Ids | undefined) =>
    of && ids[of].length > 0 ? fc.constantFrom(...ids[of]) : plainName;
  const anyExisting = fc.constantFrom(
    ...Object.values(ids)
      .flat()
      .filter((x: string) => x !== ''),
    'x',
  );
  /** A value for a parameter that holds one resource id or name. */
  const value = (of: keyof Ec2Ids | undefined, prefix?: string) =>
    weighted<string>(
      [6, existing(of)],
      [2, prefix ? hex(17).map((h) => `${prefix}-${h}`) : plainName],
      [1, prefix ? hex(8).map((h) => `${prefix}-${h}`) : plainName],
      [1, anyExisting],
      [3, hostileString],
    );
  const integer = (min: number, max: number) =>
    weighted<string>(
      [6, fc.integer({ min, max }).map(String)],
      [2, fc.constantFrom(...NUMBER_TEXTS)],
      [1, hostileString],
    );
  const boolean = weighted<string>(
    [6, fc.constantFrom('true', 'false')],
    [1, fc.constantFrom('TRUE', 'False', '1', '0', 'yes', '')],
    [1, hostileString],
  );
  const base64 = weighted<string>(
    [3, fc.base64String({ maxLength: 400 })],
    [1, fc.string().map((s) => Buffer.from(s).toString('base64'))],
    [1, fc.constant(Buffer.from('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB x').toString('base64'))],
    [2, hostileString],
  );
  const filterPairs = (names: readonly string[]) =>
    structPairs(
      'Filter',
      [
        [
          'Name',
          single('Name', weighted<string>([6, fc.constantFrom(...names)], [2, hostileString])),
        ],
        [
          'Value',
          listPairs(
            'Value',
            weighted<string>(
              [3, anyExisting],
              [3, hostileString],
              [1, fc.constantFrom('*', '?', '*a*', '%', '_', '\\')],
            ),
          ),
        ],
      ],
      3,
    );
  const tagPairs = (name: string) =>
    structPairs(
      name,
      [
        [
          'Key',
          single(
            'Key',
            weighted<string>([4, plainName], [1, fc.constant('Name')], [3, hostileString]),
          ),
        ],
        ['Value', single('Value', weighted<string>([4, plainName], [3, hostileString]))],
      ],
      3,
    );
  const slotPairs = (slot: Slot): fc.Arbitrary<[string, string][]> => {
    switch (slot.kind) {
      case 'id':
        return single(slot.name, value(slot.of, slot.prefix));
      case 'ids':
        return listPairs(slot.name, value(slot.of, slot.prefix));
      case 'text':
        return single(slot.name, value(slot.of));
      case 'texts':
        return listPairs(slot.name, value(slot.of));
      case 'int':
        return single(slot.name, integer(slot.min, slot.max));
      case 'bool':
        return single(slot.name, boolean);
      case 'enum':
        return single(
          slot.name,
          weighted<string>([6, fc.constantFrom(...slot.values)], [2, hostileString]),
        );
      case 'base64':
        return single(slot.name, base64);
      case 'filters':
        return filterPairs(slot.names);
      case 'paging':
        return fc
          .tuple(
            maybe(integer(0, 1001), 0.5),
            maybe(
              weighted<string>(
                [2, hostileString],
                [
                  1,
                  fc.constantFrom(
                    'eyJvIjoxfQ',
                    'eyJvIjotMX0',
                    'eyJjIjoxLCJsIjowLCJpIjoieCJ9',
                    'eyJ9',
                    'bnVsbA',
                  ),
                ],
                [
                  1,
                  fc
                    .jsonValue()
                    .map((j) => Buffer.from(JSON.stringify(j) ?? '').toString('base64url')),
                ],
              ),
              0.4,
            ),
          )
          .map(([max, token]) => [
            ...(max === undefined ? [] : [['MaxResults', max] as [string, string]]),
            ...(token === undefined ? [] : [['NextToken', token] as [string, string]]),
          ]);
      case 'tags':
        return tagPairs(slot.name);
      case 'tagSpecifications':
        return structPairs(
          'TagSpecification',
          [
            [
              'ResourceType',
              single(
                'ResourceType',
                weighted<string>([4, fc.constantFrom(...slot.types)], [1, hostileString]),
              ),
            ],
            ['Tag', tagPairs('Tag')],
          ],
          2,
        );
      case 'permissions':
        return structPairs(
          'IpPermissions',
          [
            [
              'IpProtocol',
              single(
                'IpProtocol',
                weighted<string>(
                  [4, fc.constantFrom('tcp', 'udp', 'icmp', '-1', '1', '17', '132')],
                  [2, hostileString],
                ),
              ),
            ],
            ['FromPort', single('FromPort', integer(-1, 65536))],
            ['ToPort', single('ToPort', integer(-1, 65536))],
            [
              'IpRanges',
              structPairs('IpRanges', [
                [
                  'CidrIp',
                  single(
                    'CidrIp',
                    weighted<string>(
                      [
                        4,
                        fc
                          .tuple(fc.ipV4(), fc.integer({ min: -1, max: 33 }))
                          .map(([ip, n]) => `${ip}/${n}`),
                      ],
                      [
                        1,
                        fc.constantFrom(
                          '0.0.0.0/0',
                          '10.0.0.0/8',
                          '::/0',
                          '1.2.3.4',
                          '300.1.1.1/8',
                        ),
                      ],
                      [2, hostileString],
                    ),
                  ),
                ],
              ]),
            ],
            [
              'Groups',
              structPairs('Groups', [
                ['GroupId', single('GroupId', value('securityGroups', 'sg'))],
                ['GroupName', single('GroupName', value('securityGroupNames'))],
                ['UserId', single('UserId', value('projectIds'))],
              ]),
            ],
            ['Ipv6Ranges', fc.constant<[string, string][]>([])],
          ],
          2,
        );
      case 'struct':
        return structPairs(
          slot.name,
          slot.fields.map((f): [string, fc.Arbitrary<[string, string][]>] => [
            f,
            single(f, hostileString),
          ]),
        );
    }
  };
  const known = fc.constantFrom(...Object.keys(EC2_ACTIONS)).chain((action) => {
    const slots = EC2_ACTIONS[action] ?? [];
    return fc
      .tuple(
        fc.constant(action),
        fc.tuple(...slots.map((s) => maybe(slotPairs(s), 0.65))),
        fc.array(fc.tuple(hostileString, hostileString), { maxLength: 2 }),
      )
      .map(([a, slotValues, extra]) => ({
        action: a,
        pairs: [...slotValues.flatMap((p) => p ?? []), ...(extra as [string, string][])],
      }));
  });
  const unknown = fc
    .tuple(
      weighted<string>([3, fc.constantFrom(...OTHER_ACTIONS)], [1, hostileString]),
      fc.array(fc.tuple(hostileString, hostileString), { maxLength: 3 }),
    )
    .map(([action, pairs]) => ({ action, pairs: pairs as [string, string][] }));
  return fc
    .record({
      body: weighted([12, known], [1, unknown]),
      version,
      method: weighted<'GET' | 'POST'>([4, fc.constant('POST')], [1, fc.constant('GET')]),
      path: weighted(
        [8, fc.constant('/')],
        [
          1,
          fc.constantFrom(
            '/services/Cloud/',
            '/services/Cloud',
            '/x',
            '//',
            '/%ff',
            '/services/%c0%af',
            '/?',
          ),
        ],
      ),
      who: weighted<'member' | 'admin'>([4, fc.constant('member')], [1, fc.constant('admin')]),
      auth: weighted<Ec2Request['auth']>(
        [40, fc.constant('good')],
        [1, fc.constantFrom('wrong-secret', 'unknown-key', 'stale-date', 'unsigned')],
      ),
      omitAction: weighted([30, fc.constant(false)], [1, fc.constant(true)]),
      contentType: weighted<string | undefined>(
        [20, fc.constant('application/x-www-form-urlencoded; charset=utf-8')],
        [
          1,
          fc.constantFrom(
            undefined,
            'application/x-www-form-urlencoded',
            'application/x-www-form-urlencoded; charset=latin1',
            'application/json',
            'text/xml',
            'multipart/form-data; boundary=x',
            'application/octet-stream',
            '',
          ),
        ],
      ),
    })
    .map(({ body, version: v, method, path, who, auth, omitAction, contentType }) => ({
      action: body.action,
      method,
      path,
      who,
      auth,
      contentType,
      params: [
        ...(omitAction ? [] : [['Action', body.action] as [string, string]]),
        ...(v === undefined ? [] : [['Version', v] as [string, string]]),
        ...body.pairs,
      ],
    }));
}
