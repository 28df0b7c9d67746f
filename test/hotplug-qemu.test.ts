// Network interfaces hot-plugged into running qemu guests on the overlay (issue 16): two
// guests in one VPC; AttachNetworkInterface gives the first a second interface while it runs,
// the guest sees a new NIC and takes the interface's address by DHCP on it, and the second
// guest reaches it on that address; DetachNetworkInterface takes the NIC out of the guest.
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AttachNetworkInterfaceCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DetachNetworkInterfaceCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from './support/guest.js';
import {
  OVERLAY_LAB_NEEDS,
  startOverlayLab,
  makeLabVpc,
  stopOverlayLab,
  type OverlayLab,
} from './support/overlay-lab.js';

const VPC_CIDR = '10.30.0.0/16';
const SUBNET_CIDR = '10.30.1.0/24';

describe(
  'interfaces hot-plugged into running qemu guests on the overlay',
  OVERLAY_LAB_NEEDS,
  () => {
    let lab: OverlayLab;

    before(async () => {
      lab = await startOverlayLab({ prefix: 'hp', hosts: 1, listenPort: 9098 });
    });
    after(() => stopOverlayLab(lab));

    it('plugs a second interface into a running guest, which takes its address by DHCP and is reached on it; detach removes it', async (t) => {
      const c = lab.ec2.a;
      await c.send(
        new ImportKeyPairCommand({
          KeyName: 'hp',
          PublicKeyMaterial: Buffer.from(lab.key.publicKey),
        }),
      );
      // The guests and the new interface are in the VPC's own default group.
      const { subnetId, defaultGroupId: groupId } = await makeLabVpc(c, VPC_CIDR, SUBNET_CIDR);
      await c.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: VPC_CIDR }] },
          ],
        }),
      );
      const run = await c.send(
        new RunInstancesCommand({
          ImageId: lab.imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: 2,
          MaxCount: 2,
          KeyName: 'hp',
          SubnetId: subnetId,
        }),
      );
      const ids = (run.Instances ?? []).map((i) => i.InstanceId as string);
      assert.equal(ids.length, 2);
      await eventually(
        async () => {
          const d = await c.send(new DescribeInstancesCommand({ InstanceIds: ids }));
          const states = (d.Reservations ?? []).flatMap((r) => r.Instances ?? []);
          return states.filter((i) => i.State?.Name === 'running').length === 2 ? true : undefined;
        },
        300_000,
        'both guests running',
        1000,
      );
      const eips: string[] = [];
      for (const id of ids) {
        const alloc = await c.send(new AllocateAddressCommand({ Domain: 'vpc' }));
        await c.send(
          new AssociateAddressCommand({ AllocationId: alloc.AllocationId, InstanceId: id }),
        );
        eips.push(alloc.PublicIp as string);
      }
      const [first, second] = eips as [string, string];
      await Promise.all(eips.map((ip) => lab.sshUntil(ip, 'true', 300_000)));
      const nics = async () =>
        (await lab.sshUntil(first, 'ls /sys/class/net', 30_000)).split(/\s+/).filter(Boolean);
      const before = await nics();
      t.diagnostic(`NICs before: ${before.join(' ')}`);

      const eni = (await c.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId })))
        .NetworkInterface;
      const address = eni?.PrivateIpAddress as string;
      const mac = String(eni?.MacAddress).toLowerCase();
      const t0 = Date.now();
      const attached = await c.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eni?.NetworkInterfaceId,
          InstanceId: ids[0],
          DeviceIndex: 1,
        }),
      );
      t.diagnostic(`AttachNetworkInterface took ${Date.now() - t0} ms`);
      // The guest sees a new NIC with the interface's MAC.
      const added = await eventually(
        async () => {
          const now = await nics();
          const fresh = now.filter((n) => !before.includes(n));
          return fresh.length === 1 ? (fresh[0] as string) : undefined;
        },
        60_000,
        'a new NIC in the guest',
        2000,
      );
      assert.equal(
        (await lab.sshUntil(first, `cat /sys/class/net/${added}/address`, 30_000)).trim(),
        mac,
      );
      // Its address by DHCP (the image's init runs no DHCP client on a NIC plugged later).
      await lab.sshUntil(
        first,
        `ip link set ${added} up && udhcpc -i ${added} -n -q -t 10 -s /usr/share/udhcpc/default.script || udhcpc -i ${added} -n -q -t 10`,
        90_000,
      );
      const shown = await lab.sshUntil(first, `ip -4 -o addr show dev ${added}`, 30_000);
      t.diagnostic(shown.trim());
      assert.match(shown, new RegExp(`inet ${address.replace(/\./g, '\\.')}/`));
      // The other guest on the network reaches it there. A guest with two cards on one subnet
      // needs what a cloud image sets up for a second interface: each card answers ARP for its
      // own address only, and what leaves from the new address leaves by the new card (the
      // port filter drops an address that is not the port's).
      await lab.sshUntil(
        first,
        [
          'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
          'echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce',
          `ip rule add from ${address} table 100`,
          `ip route add ${SUBNET_CIDR} dev ${added} table 100`,
        ].join(' && '),
        30_000,
      );
      await lab.sshUntil(second, `ping -c 2 -W 3 ${address}`, 60_000);

      await c.send(new DetachNetworkInterfaceCommand({ AttachmentId: attached.AttachmentId }));
      await eventually(
        async () => ((await nics()).includes(added) ? undefined : true),
        60_000,
        'the NIC gone from the guest',
        2000,
      );
      const out = await lab.ssh(second, `ping -c 2 -W 2 ${address}`);
      assert.equal(out.ok, false, 'the detached address no longer answers');
    });
  },
);
