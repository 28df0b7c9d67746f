// Renders the rc file: shell `export` lines for EC2 clients and OpenStack clients at once.

export interface RcFileValues {
  ec2Url: string;
  accessKey: string;
  secretKey: string;
  region: string;
  identityUrl: string;
  /** The web dashboard's address (STRATUS_DASHBOARD_URL), when known. */
  dashboardUrl?: string | undefined;
  username: string;
  password: string | null;
  projectName: string;
  /** The CA bundle clients trust the APIs' HTTPS certificate with (AWS_CA_BUNDLE, OS_CACERT). */
  caFile?: string | undefined;
  /** The network namespace from which this machine reaches guests (a namespace data plane). */
  guestNetns?: string;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderRcFile(v: RcFileValues): string {
  const lines: [string, string][] = [
    ['EC2_URL', v.ec2Url],
    ['EC2_ACCESS_KEY', v.accessKey],
    ['EC2_SECRET_KEY', v.secretKey],
    ['AWS_ACCESS_KEY_ID', v.accessKey],
    ['AWS_SECRET_ACCESS_KEY', v.secretKey],
    ['AWS_DEFAULT_REGION', v.region],
    ['AWS_ENDPOINT_URL_EC2', v.ec2Url],
    // STS GetCallerIdentity and IAM GetUser, on the EC2 listener (what tools ask first).
    ['AWS_ENDPOINT_URL_STS', new URL('/sts/', v.ec2Url).toString()],
    ['AWS_ENDPOINT_URL_IAM', new URL('/iam/', v.ec2Url).toString()],
    ['OS_AUTH_URL', v.identityUrl],
    ['OS_IDENTITY_API_VERSION', '3'],
    ['OS_USERNAME', v.username],
    ...(v.password === null ? [] : ([['OS_PASSWORD', v.password]] as [string, string][])),
    ['OS_PROJECT_NAME', v.projectName],
    ['OS_USER_DOMAIN_NAME', 'Default'],
    ['OS_PROJECT_DOMAIN_NAME', 'Default'],
    ['OS_REGION_NAME', v.region],
    ...(v.caFile
      ? ([
          ['AWS_CA_BUNDLE', v.caFile],
          ['OS_CACERT', v.caFile],
        ] as [string, string][])
      : []),
    ...(v.dashboardUrl ? ([['STRATUS_DASHBOARD_URL', v.dashboardUrl]] as [string, string][]) : []),
    ...(v.guestNetns ? ([['STRATUS_GUEST_NETNS', v.guestNetns]] as [string, string][]) : []),
  ];
  return [
    '# Stratus credentials: source this file (". stratusrc") before using the AWS CLI or openstack.',
    `# User '${v.username}' in project '${v.projectName}'.`,
    '# AWS CLI 2.13 and newer read AWS_ENDPOINT_URL_EC2; older ones need --endpoint-url "$EC2_URL".',
    ...lines.map(([k, val]) => `export ${k}=${quote(val)}`),
    '',
  ].join('\n');
}
