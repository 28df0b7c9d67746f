// Instances and network interfaces in VPCs through Debian's AWS CLI, on the fake driver:
// interfaces made, shown and deleted, with their address errors; RunInstances into a subnet
// with a chosen address and group, and without one into the default VPC (on hosts without the
// overlay: the flat provider network, every view showing the guest's flat address);
// DescribeInstances's VPC fields; the Networking API's view of an instance's port; refusals
// that launch nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { needs } from './support/capabilities.js';
import { startAwsCliCloud, type AwsCliCloud, type Item } from './support/awscli-cloud.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `instances and network interfaces in VPCs on ${backend.name}`,
    needs('awscli', ...backend.needs),
    () => {
      let c: AwsCliCloud;
      let imageId: string;

      before(async () => {
        c = await startAwsCliCloud(backend, { imageName: 'vpc-image' });
        ({ imageId } = c);
      });
      after(() => c?.stop());

      const json = (...args: string[]) => c.json(...args);
      const refused = (code: string, ...args: string[]) => c.refused(code, ...args);

      const ports = () => c.neutron('ports');

      async function instancesNow(): Promise<number> {
        const r = await json('describe-instances');
        return (r.Reservations as { Instances: Item[] }[]).flatMap((x) => x.Instances).length;
      }

      it('makes, shows and deletes network interfaces on a subnet', async () => {
        const vpcId = ((await json('create-vpc', '--cidr-block', '10.50.0.0/16')).Vpc as Item)
          .VpcId as string;
        const subnetId = (
          (await json('create-subnet', '--vpc-id', vpcId, '--cidr-block', '10.50.1.0/24'))
            .Subnet as Item
        ).SubnetId as string;
        const eni = (
          await json(
            'create-network-interface',
            '--subnet-id',
            subnetId,
            '--private-ip-address',
            '10.50.1.20',
            '--description',
            'spare',
          )
        ).NetworkInterface as Item;
        const eniId = eni.NetworkInterfaceId as string;
        assert.match(eniId, /^eni-[0-9a-f]{17}$/);
        assert.equal(eni.PrivateIpAddress, '10.50.1.20');
        assert.equal(eni.Status, 'available');
        assert.equal(eni.VpcId, vpcId);
        assert.equal(eni.Description, 'spare');
        assert.deepEqual(
          (eni.Groups as Item[]).map((g) => g.GroupName),
          ['default'],
        );
        const next = (
          (await json('create-network-interface', '--subnet-id', subnetId)).NetworkInterface as Item
        ).PrivateIpAddress;
        // EC2 keeps the first four addresses of a subnet.
        assert.equal(next, '10.50.1.4');

        await refused(
          'InvalidIPAddress.InUse',
          'create-network-interface',
          '--subnet-id',
          subnetId,
          '--private-ip-address',
          '10.50.1.20',
        );
        await refused(
          'InvalidParameterValue',
          'create-network-interface',
          '--subnet-id',
          subnetId,
          '--private-ip-address',
          '10.60.0.5',
        );
        await refused(
          'InvalidSubnetID.NotFound',
          'create-network-interface',
          '--subnet-id',
          'subnet-0123456789abcdef0',
        );
        await refused(
          'InvalidGroup.NotFound',
          'create-network-interface',
          '--subnet-id',
          subnetId,
          '--groups',
          'sg-0123456789abcdef0',
        );

        const listed = (
          await json(
            'describe-network-interfaces',
            '--filters',
            `Name=subnet-id,Values=${subnetId}`,
          )
        ).NetworkInterfaces as Item[];
        assert.equal(listed.length, 2, 'the refusals made nothing');
        await json('create-tags', '--resources', eniId, '--tags', 'Key=role,Value=spare');
        const byTag = (
          await json('describe-network-interfaces', '--filters', 'Name=tag:role,Values=spare')
        ).NetworkInterfaces as Item[];
        assert.deepEqual(
          byTag.map((e) => e.NetworkInterfaceId),
          [eniId],
        );
        // The Networking API shows the same port.
        const port = (await ports()).find((p) =>
          String(p.id).replace(/-/g, '').startsWith(eniId.slice(4)),
        );
        assert.deepEqual(
          (port?.fixed_ips as Item[]).map((f) => f.ip_address),
          ['10.50.1.20'],
        );

        await refused('DependencyViolation', 'delete-subnet', '--subnet-id', subnetId);
        for (const e of listed) {
          await json(
            'delete-network-interface',
            '--network-interface-id',
            e.NetworkInterfaceId as string,
          );
        }
        await refused(
          'InvalidNetworkInterfaceID.NotFound',
          'delete-network-interface',
          '--network-interface-id',
          eniId,
        );
        await refused(
          'InvalidNetworkInterfaceID.Malformed',
          'delete-network-interface',
          '--network-interface-id',
          'eni-x',
        );
        await json('delete-subnet', '--subnet-id', subnetId);
        await json('delete-vpc', '--vpc-id', vpcId);
      });

      it('launches into a subnet with a chosen address, and into the default VPC without one', async () => {
        const vpcId = ((await json('create-vpc', '--cidr-block', '10.70.0.0/16')).Vpc as Item)
          .VpcId as string;
        const subnetId = (
          (await json('create-subnet', '--vpc-id', vpcId, '--cidr-block', '10.70.2.0/24'))
            .Subnet as Item
        ).SubnetId as string;
        // The VPC's own default group (a group of another VPC is refused in its subnet).
        const group = (
          await json(
            'describe-security-groups',
            '--filters',
            `Name=vpc-id,Values=${vpcId}`,
            'Name=group-name,Values=default',
          )
        ).SecurityGroups as Item[];
        const groupId = group[0]?.GroupId as string;

        const run = (await json(
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--subnet-id',
          subnetId,
          '--private-ip-address',
          '10.70.2.50',
          '--security-group-ids',
          groupId,
        )) as { Instances: Item[] };
        const inst = run.Instances[0] as Item;
        const id = inst.InstanceId as string;
        assert.equal(inst.VpcId, vpcId);
        assert.equal(inst.SubnetId, subnetId);
        const [nic] = inst.NetworkInterfaces as Item[];
        assert.equal(nic?.PrivateIpAddress, '10.70.2.50');
        assert.equal((nic?.Attachment as Item).Status, 'attached');
        assert.equal((nic?.Attachment as Item).DeviceIndex, 0);

        const described = (
          await json('describe-instances', '--filters', `Name=subnet-id,Values=${subnetId}`)
        ).Reservations as { Instances: Item[] }[];
        assert.deepEqual(
          described.flatMap((r) => r.Instances).map((i) => i.InstanceId),
          [id],
        );
        const enis = (
          await json(
            'describe-network-interfaces',
            '--filters',
            `Name=attachment.instance-id,Values=${id}`,
          )
        ).NetworkInterfaces as Item[];
        assert.equal(enis.length, 1);
        assert.equal(enis[0]?.Status, 'in-use');
        await refused(
          'InvalidNetworkInterface.InUse',
          'delete-network-interface',
          '--network-interface-id',
          enis[0]?.NetworkInterfaceId as string,
        );
        // The Networking API: the instance's port on the VPC's network.
        const port = (await ports()).find((p) =>
          String(p.device_id).replace(/-/g, '').startsWith(id.slice(2)),
        );
        assert.ok(port, 'the instance has a port');
        assert.match(String(port.device_owner), /^compute:/);

        // An Elastic IP in the vpc domain, bound through the interface to its instance.
        assert.equal((await c.cli.run('wait', 'instance-running', '--instance-ids', id)).code, 0);
        const eip = await json('allocate-address', '--domain', 'vpc');
        await json(
          'associate-address',
          '--allocation-id',
          eip.AllocationId as string,
          '--network-interface-id',
          enis[0]?.NetworkInterfaceId as string,
        );
        const [bound] = (
          await json('describe-addresses', '--allocation-ids', eip.AllocationId as string)
        ).Addresses as Item[];
        assert.equal(bound?.InstanceId, id);
        await json('disassociate-address', '--public-ip', eip.PublicIp as string);
        await json('release-address', '--allocation-id', eip.AllocationId as string);

        // Refusals launch nothing.
        const before = await instancesNow();
        await refused(
          'InvalidIPAddress.InUse',
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--subnet-id',
          subnetId,
          '--private-ip-address',
          '10.70.2.50',
        );
        await refused(
          'InvalidSubnetID.NotFound',
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--subnet-id',
          'subnet-0123456789abcdef0',
        );
        await refused(
          'InvalidParameterCombination',
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--count',
          '2',
          '--subnet-id',
          subnetId,
          '--private-ip-address',
          '10.70.2.51',
        );
        assert.equal(await instancesNow(), before);
        await refused('DependencyViolation', 'delete-subnet', '--subnet-id', subnetId);

        // Without a subnet, on hosts without the overlay: the default VPC is the flat provider
        // network there. The guest has the flat network's address, and every view shows that one:
        // no interface records a default-VPC address it does not have.
        const defaults = (await json('describe-vpcs', '--filters', 'Name=is-default,Values=true'))
          .Vpcs as Item[];
        const defaultSubnets = async () =>
          (
            (
              await json(
                'describe-subnets',
                '--filters',
                `Name=vpc-id,Values=${defaults[0]?.VpcId as string}`,
              )
            ).Subnets as Item[]
          ).map((s) => [s.SubnetId, s.AvailableIpAddressCount]);
        const freeBefore = await defaultSubnets();
        const plain = (
          (await json('run-instances', '--image-id', imageId, '--instance-type', 'm1.tiny')) as {
            Instances: Item[];
          }
        ).Instances[0] as Item;
        const plainId = plain.InstanceId as string;
        assert.deepEqual(plain.NetworkInterfaces ?? [], [], 'no interface in the default VPC');
        assert.equal(
          (await c.cli.run('wait', 'instance-running', '--instance-ids', plainId)).code,
          0,
        );
        const shown = (
          (await json('describe-instances', '--instance-ids', plainId)).Reservations as {
            Instances: Item[];
          }[]
        )[0]?.Instances[0] as Item;
        const flatIp = shown.PrivateIpAddress as string;
        assert.match(flatIp, /^\d+\.\d+\.\d+\.\d+$/);
        assert.doesNotMatch(flatIp, /^172\.31\./);
        assert.deepEqual(shown.NetworkInterfaces ?? [], []);
        assert.equal(shown.VpcId, undefined);
        assert.deepEqual(
          (
            await json(
              'describe-network-interfaces',
              '--filters',
              `Name=attachment.instance-id,Values=${plainId}`,
            )
          ).NetworkInterfaces,
          [],
        );
        // The Networking API: its one port is on the flat provider network, at the same address.
        const plainPorts = (await ports()).filter((p) =>
          String(p.device_id).replace(/-/g, '').startsWith(plainId.slice(2)),
        );
        assert.deepEqual(
          plainPorts.flatMap((p) => (p.fixed_ips as Item[]).map((f) => f.ip_address)),
          [flatIp],
        );
        assert.deepEqual(await defaultSubnets(), freeBefore, 'no default-VPC address is taken');
        // An address of the default VPC cannot be given to a guest on the flat network, and the
        // refusal launches nothing.
        const count = await instancesNow();
        await refused(
          'UnsupportedOperation',
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--private-ip-address',
          '172.31.0.50',
        );
        assert.equal(await instancesNow(), count);
        assert.deepEqual(await defaultSubnets(), freeBefore);

        // Terminated, their interfaces go, and the subnet can go.
        await json('terminate-instances', '--instance-ids', id, plainId);
        assert.equal(
          (
            (
              await json(
                'describe-network-interfaces',
                '--filters',
                `Name=subnet-id,Values=${subnetId}`,
              )
            ).NetworkInterfaces as Item[]
          ).length,
          0,
        );
        await json('delete-subnet', '--subnet-id', subnetId);
        await json('delete-vpc', '--vpc-id', vpcId);
      });
    },
  );
}
