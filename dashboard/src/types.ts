// The shapes of the API answers the page reads (only the fields it uses).

export interface Server {
  id: string;
  name: string;
  status: string;
  created: string;
  addresses: Record<string, { addr: string; 'OS-EXT-IPS:type'?: string }[]>;
  flavor: { original_name?: string; id?: string };
  image: { id: string } | '';
  key_name: string | null;
  tenant_id: string;
  'OS-EXT-SRV-ATTR:host'?: string | null;
  'OS-EXT-AZ:availability_zone'?: string;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:power_state'?: number;
  security_groups?: { name: string }[];
}

export interface Image {
  id: string;
  name: string | null;
  status: string;
  size: number | null;
  disk_format: string | null;
  container_format: string | null;
  visibility: string;
  owner: string | null;
  created_at: string;
  min_disk?: number;
  min_ram?: number;
}

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

export interface Keypair {
  name: string;
  fingerprint: string;
  type?: string;
  public_key: string;
}

export interface SecurityGroupRule {
  id: string;
  ip_protocol: string | null;
  from_port: number | null;
  to_port: number | null;
  ip_range: { cidr?: string };
  group: { name?: string };
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  rules: SecurityGroupRule[];
}

export interface FloatingIp {
  id: string;
  ip: string;
  pool: string;
  fixed_ip: string | null;
  instance_id: string | null;
}

export interface Volume {
  id: string;
  name: string | null;
  size: number;
  status: string;
  created_at: string;
  attachments: { server_id: string; device?: string }[];
}

export interface Hypervisor {
  id: number | string;
  hypervisor_hostname: string;
  state: string;
  status: string;
  vcpus: number;
  vcpus_used: number;
  memory_mb: number;
  memory_mb_used: number;
  local_gb: number;
  local_gb_used: number;
  running_vms: number;
}

export interface ComputeService {
  id: string;
  binary: string;
  host: string;
  zone: string;
  status: string;
  state: string;
  disabled_reason: string | null;
  updated_at: string | null;
}

/** Networking API (v2.0) shapes. */
export interface Network {
  id: string;
  name: string;
  status: string;
  subnets: string[];
  shared: boolean;
  'router:external'?: boolean;
  project_id?: string;
}

export interface Subnet {
  id: string;
  name: string;
  network_id: string;
  cidr: string;
  gateway_ip: string | null;
}

export interface Router {
  id: string;
  name: string;
  status: string;
  external_gateway_info: { network_id: string } | null;
}

export interface Port {
  id: string;
  device_id: string;
  device_owner: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
}

export interface NetFloatingIp {
  id: string;
  floating_ip_address: string;
  fixed_ip_address: string | null;
  floating_network_id: string;
  port_id: string | null;
  status: string;
}

export interface Snapshot {
  id: string;
  name: string | null;
  volume_id: string;
  size: number;
  status: string;
  created_at: string;
}
