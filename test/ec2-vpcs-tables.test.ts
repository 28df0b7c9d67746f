// Route tables, interface attachments, RunInstances NetworkInterface.N, public addresses at
// launch and Elastic IPs bound to interfaces, through Debian's AWS CLI on SQLite and
// PostgreSQL (fake driver), with the Networking API's view where a resource has one: what is
// made, what EC2 refuses (with nothing left behind), and what goes with a terminated instance.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeDriver } from '../src/virt/index.js';
import { needs } from './support/capabilities.js';
import { startAwsCliCloud, type AwsCliCloud, type Item } from './support/awscli-cloud.js';
import { postgresBackend, sqliteBackend } from './support/databases.js';
import { waitUntil } from './support/ec2.js';

for (const backend of [sqliteBackend, postgresBackend]) {
  describe(
    `EC2 route tables and interfaces on ${backend.name}`,
    needs('awscli', ...backend.needs),
    () => {
      let c: AwsCliCloud;
      let imageId: string;
      const driver = new FakeDriver();

      before(async () => {
        c = await startAwsCliCloud(backend, { imageName: 'vpc-tables-image', driver });
        ({ imageId } = c);
      });
      after(() => c?.stop());

      const json = (...args: string[]) => c.json(...args);
      const refused = (code: string, ...args: string[]) => c.refused(code, ...args);
      const neutron = (collection: string) => c.neutron(collection);

      const uuidOf = (ec2IdShown: string, items: Item[]) =>
        items.find((x) =>
          String(x.id)
            .replace(/-/g, '')
            .startsWith(ec2IdShown.slice(ec2IdShown.lastIndexOf('-') + 1)),
        );

      async function vpcWithSubnets(cidr: string, subnets: string[]) {
        const vpcId = ((await json('create-vpc', '--cidr-block', cidr)).Vpc as Item)
          .VpcId as string;
        const ids: string[] = [];
        for (const s of subnets) {
          ids.push(
            ((await json('create-subnet', '--vpc-id', vpcId, '--cidr-block', s)).Subnet as Item)
              .SubnetId as string,
          );
        }
        return { vpcId, subnetIds: ids };
      }

      const tables = async (...filters: string[]) =>
        (await json('describe-route-tables', ...(filters.length ? ['--filters', ...filters] : [])))
          .RouteTables as Item[];

      async function instance(id: string): Promise<Item> {
        const r = await json('describe-instances', '--instance-ids', id);
        return ((r.Reservations as Item[])[0]?.Instances as Item[])[0] as Item;
      }

      const stateOf = async (id: string) => ((await instance(id)).State as Item).Name;

      it('makes route tables, associates them with subnets, makes one main and deletes them', async () => {
        const { vpcId, subnetIds } = await vpcWithSubnets('10.80.0.0/16', [
          '10.80.1.0/24',
          '10.80.2.0/24',
        ]);
        const [a, b] = subnetIds as [string, string];
        const [main] = await tables(`Name=vpc-id,Values=${vpcId}`);
        const mainId = main?.RouteTableId as string;
        const mainAssoc = ((main?.Associations as Item[])[0] as Item)
          .RouteTableAssociationId as string;

        const made = (
          await json(
            'create-route-table',
            '--vpc-id',
            vpcId,
            '--tag-specifications',
            'ResourceType=route-table,Tags=[{Key=tier,Value=web}]',
          )
        ).RouteTable as Item;
        const tableId = made.RouteTableId as string;
        assert.match(tableId, /^rtb-[0-9a-f]{17}$/);
        assert.deepEqual(
          (made.Routes as Item[]).map((r) => [r.DestinationCidrBlock, r.GatewayId]),
          [['10.80.0.0/16', 'local']],
        );
        assert.deepEqual(made.Associations, []);
        assert.deepEqual(
          (await tables('Name=tag:tier,Values=web')).map((x) => x.RouteTableId),
          [tableId],
        );

        const assoc = (
          await json('associate-route-table', '--route-table-id', tableId, '--subnet-id', a)
        ).AssociationId as string;
        assert.match(assoc, /^rtbassoc-[0-9a-f]{17}$/);
        await refused(
          'Resource.AlreadyAssociated',
          'associate-route-table',
          '--route-table-id',
          mainId,
          '--subnet-id',
          a,
        );
        const bySubnet = await tables(`Name=association.subnet-id,Values=${a}`);
        assert.deepEqual(
          bySubnet.map((x) => x.RouteTableId),
          [tableId],
        );
        assert.deepEqual(
          (await tables(`Name=association.route-table-association-id,Values=${assoc}`)).map(
            (x) => x.RouteTableId,
          ),
          [tableId],
        );

        // Routes: to the VPC's gateway, replaced, refused when it goes nowhere known.
        const igw = ((await json('create-internet-gateway')).InternetGateway as Item)
          .InternetGatewayId as string;
        await json('attach-internet-gateway', '--internet-gateway-id', igw, '--vpc-id', vpcId);
        await json(
          'create-route',
          '--route-table-id',
          tableId,
          '--destination-cidr-block',
          '0.0.0.0/0',
          '--gateway-id',
          igw,
        );
        await json(
          'replace-route',
          '--route-table-id',
          tableId,
          '--destination-cidr-block',
          '0.0.0.0/0',
          '--gateway-id',
          igw,
        );
        await refused(
          'InvalidRoute.NotFound',
          'replace-route',
          '--route-table-id',
          tableId,
          '--destination-cidr-block',
          '192.0.2.0/24',
          '--gateway-id',
          igw,
        );
        assert.deepEqual(
          (await tables(`Name=route.gateway-id,Values=${igw}`, `Name=vpc-id,Values=${vpcId}`))
            .map((x) => x.RouteTableId)
            .sort(),
          [tableId],
        );

        await refused('DependencyViolation', 'delete-route-table', '--route-table-id', tableId);
        await refused('DependencyViolation', 'delete-route-table', '--route-table-id', mainId);

        // The made table becomes main; the router's table is then neither main nor deletable.
        const newMain = (
          await json(
            'replace-route-table-association',
            '--association-id',
            mainAssoc,
            '--route-table-id',
            tableId,
          )
        ).NewAssociationId as string;
        assert.notEqual(newMain, mainAssoc);
        const mains = await tables(
          `Name=vpc-id,Values=${vpcId}`,
          'Name=association.main,Values=true',
        );
        assert.deepEqual(
          mains.map((x) => x.RouteTableId),
          [tableId],
        );
        await refused('DependencyViolation', 'delete-route-table', '--route-table-id', mainId);
        await json(
          'replace-route-table-association',
          '--association-id',
          newMain,
          '--route-table-id',
          mainId,
        );

        // Subnet b moves to the made table and back off it.
        const bAssoc = (
          await json('associate-route-table', '--route-table-id', mainId, '--subnet-id', b)
        ).AssociationId as string;
        const moved = (
          await json(
            'replace-route-table-association',
            '--association-id',
            bAssoc,
            '--route-table-id',
            tableId,
          )
        ).NewAssociationId as string;
        await refused(
          'InvalidAssociationID.NotFound',
          'disassociate-route-table',
          '--association-id',
          bAssoc,
        );
        await json('disassociate-route-table', '--association-id', moved);
        await json('disassociate-route-table', '--association-id', assoc);
        await refused(
          'InvalidAssociationID.NotFound',
          'disassociate-route-table',
          '--association-id',
          'rtbassoc-0123456789abcdef0',
        );
        await refused(
          'InvalidVpcID.NotFound',
          'create-route-table',
          '--vpc-id',
          'vpc-0123456789abcdef0',
        );
        await refused('DependencyViolation', 'delete-vpc', '--vpc-id', vpcId);

        // Paging over the project's tables.
        const page = await json('describe-route-tables', '--max-items', '1');
        assert.equal((page.RouteTables as Item[]).length, 1);

        // The Networking API keeps one router per VPC: the made table is EC2's record only.
        const routers = await neutron('routers');
        assert.ok(uuidOf(mainId, routers), 'the main table is the VPC router');
        assert.equal(uuidOf(tableId, routers), undefined);

        await json('delete-route-table', '--route-table-id', tableId);
        await refused(
          'InvalidRouteTableID.NotFound',
          'delete-route-table',
          '--route-table-id',
          tableId,
        );
        assert.equal((await tables(`Name=vpc-id,Values=${vpcId}`)).length, 1);
      });

      it('attaches interfaces to running (hot-plug) and stopped instances, detaches all but the primary, and changes them', async () => {
        const { vpcId, subnetIds } = await vpcWithSubnets('10.81.0.0/16', ['10.81.1.0/24']);
        const subnet = subnetIds[0] as string;
        const run = (await json(
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--subnet-id',
          subnet,
        )) as { Instances: Item[] };
        const id = (run.Instances[0] as Item).InstanceId as string;
        await waitUntil(async () => (await stateOf(id)) === 'running', 15_000, 'running');
        const primary = ((await instance(id)).NetworkInterfaces as Item[])[0] as Item;
        const primaryId = primary.NetworkInterfaceId as string;
        assert.equal((primary.Attachment as Item).DeviceIndex, 0);

        const eniId = (
          (await json('create-network-interface', '--subnet-id', subnet, '--description', 'second'))
            .NetworkInterface as Item
        ).NetworkInterfaceId as string;
        // Running: the instance's host plugs it live (the fake driver records the new card).
        const uuid = (await driver.list())
          .map((g) => g.instanceId)
          .find((u) => u.replace(/-/g, '').startsWith(id.slice(2))) as string;
        const portOf = (eni: string) => uuidOf(eni, [...portsSeen]) as Item;
        const portsSeen: Item[] = await neutron('ports');
        const live = (
          await json(
            'attach-network-interface',
            '--network-interface-id',
            eniId,
            '--instance-id',
            id,
            '--device-index',
            '1',
          )
        ).AttachmentId as string;
        assert.match(live, /^eni-attach-[0-9a-f]{17}$/);
        assert.deepEqual(
          (await driver.listInterfaces(uuid)).map((n) => [n.portId, n.macAddress]),
          [[portOf(eniId).id, portOf(eniId).mac_address]],
        );
        assert.deepEqual(
          ((await instance(id)).NetworkInterfaces as Item[]).map((e) => e.NetworkInterfaceId),
          [primaryId, eniId],
        );
        // The primary stays; the second comes out of the running guest.
        await refused(
          'OperationNotPermitted',
          'detach-network-interface',
          '--attachment-id',
          (primary.Attachment as Item).AttachmentId as string,
        );
        assert.equal((await driver.listInterfaces(uuid)).length, 1);
        await json('detach-network-interface', '--attachment-id', live);
        assert.deepEqual(await driver.listInterfaces(uuid), []);
        const [free] = (await json('describe-network-interfaces', '--network-interface-ids', eniId))
          .NetworkInterfaces as Item[];
        assert.equal(free?.Status, 'available');
        await json('stop-instances', '--instance-ids', id);
        await waitUntil(async () => (await stateOf(id)) === 'stopped', 15_000, 'stopped');
        await refused(
          'InvalidParameterValue',
          'attach-network-interface',
          '--network-interface-id',
          eniId,
          '--instance-id',
          id,
          '--device-index',
          '0',
        );
        const attachmentId = (
          await json(
            'attach-network-interface',
            '--network-interface-id',
            eniId,
            '--instance-id',
            id,
            '--device-index',
            '1',
          )
        ).AttachmentId as string;
        assert.match(attachmentId, /^eni-attach-[0-9a-f]{17}$/);
        await refused(
          'InvalidNetworkInterface.InUse',
          'attach-network-interface',
          '--network-interface-id',
          eniId,
          '--instance-id',
          id,
          '--device-index',
          '2',
        );
        const [shown] = (
          await json('describe-network-interfaces', '--network-interface-ids', eniId)
        ).NetworkInterfaces as Item[];
        const att = shown?.Attachment as Item;
        assert.equal(shown?.Status, 'in-use');
        assert.equal(att.InstanceId, id);
        assert.equal(att.DeviceIndex, 1);
        assert.equal(att.DeleteOnTermination, false);
        assert.deepEqual(
          (
            (
              await json(
                'describe-network-interfaces',
                '--filters',
                `Name=attachment.instance-id,Values=${id}`,
                'Name=attachment.device-index,Values=1',
              )
            ).NetworkInterfaces as Item[]
          ).map((e) => e.NetworkInterfaceId),
          [eniId],
        );
        assert.deepEqual(
          ((await instance(id)).NetworkInterfaces as Item[]).map((e) => e.NetworkInterfaceId),
          [primaryId, eniId],
        );
        // Recorded while stopped; its card is plugged when the instance starts again.
        assert.deepEqual(await driver.listInterfaces(uuid), []);
        await json('start-instances', '--instance-ids', id);
        await waitUntil(async () => (await stateOf(id)) === 'running', 15_000, 'running again');
        assert.deepEqual(
          (await driver.listInterfaces(uuid)).map((n) => [n.portId, n.macAddress]),
          [[portOf(eniId).id, portOf(eniId).mac_address]],
        );
        // The Networking API's port is the instance's now.
        const port = uuidOf(eniId, await neutron('ports'));
        assert.ok(String(port?.device_owner).startsWith('compute:'));
        assert.ok(id.endsWith(String(port?.device_id).replace(/-/g, '').slice(0, 17)));

        // Changes, one attribute at a time.
        await json(
          'modify-network-interface-attribute',
          '--network-interface-id',
          eniId,
          '--no-source-dest-check',
        );
        await json(
          'modify-network-interface-attribute',
          '--network-interface-id',
          eniId,
          '--description',
          'Value=renamed',
        );
        await json(
          'modify-network-interface-attribute',
          '--network-interface-id',
          eniId,
          '--attachment',
          `AttachmentId=${attachmentId},DeleteOnTermination=true`,
        );
        const group = (
          await json(
            'create-security-group',
            '--group-name',
            `eni-${backend.name}`,
            '--description',
            'eni',
            '--vpc-id',
            vpcId,
          )
        ).GroupId as string;
        await json(
          'modify-network-interface-attribute',
          '--network-interface-id',
          eniId,
          '--groups',
          group,
        );
        const changed = (
          (await json('describe-network-interfaces', '--network-interface-ids', eniId))
            .NetworkInterfaces as Item[]
        )[0] as Item;
        assert.equal(changed.SourceDestCheck, false);
        assert.equal(changed.Description, 'renamed');
        assert.equal((changed.Attachment as Item).DeleteOnTermination, true);
        assert.deepEqual(
          (changed.Groups as Item[]).map((g) => g.GroupId),
          [group],
        );

        // Secondary addresses.
        await json(
          'assign-private-ip-addresses',
          '--network-interface-id',
          eniId,
          '--private-ip-addresses',
          '10.81.1.77',
        );
        await refused(
          'InvalidIPAddress.InUse',
          'assign-private-ip-addresses',
          '--network-interface-id',
          primaryId,
          '--private-ip-addresses',
          '10.81.1.77',
        );
        const withTwo = (
          (await json('describe-network-interfaces', '--network-interface-ids', eniId))
            .NetworkInterfaces as Item[]
        )[0] as Item;
        assert.deepEqual(
          (withTwo.PrivateIpAddresses as Item[]).map((p) => [p.PrivateIpAddress, p.Primary]),
          [
            [withTwo.PrivateIpAddress, true],
            ['10.81.1.77', false],
          ],
        );
        await refused(
          'InvalidParameterValue',
          'unassign-private-ip-addresses',
          '--network-interface-id',
          eniId,
          '--private-ip-addresses',
          withTwo.PrivateIpAddress as string,
        );
        await json(
          'unassign-private-ip-addresses',
          '--network-interface-id',
          eniId,
          '--private-ip-addresses',
          '10.81.1.77',
        );

        await refused(
          'OperationNotPermitted',
          'detach-network-interface',
          '--attachment-id',
          (primary.Attachment as Item).AttachmentId as string,
        );
        await json('detach-network-interface', '--attachment-id', attachmentId, '--force');
        await refused(
          'InvalidAttachment.NotFound',
          'detach-network-interface',
          '--attachment-id',
          attachmentId,
        );
        const back = (
          (await json('describe-network-interfaces', '--network-interface-ids', eniId))
            .NetworkInterfaces as Item[]
        )[0] as Item;
        assert.equal(back.Status, 'available');
        assert.equal(back.Attachment, undefined);
        await json('delete-network-interface', '--network-interface-id', eniId);
        await json('terminate-instances', '--instance-ids', id);
      });

      it('launches with NetworkInterface.N as EC2 checks it, with a public address released at termination', async () => {
        const { subnetIds } = await vpcWithSubnets('10.82.0.0/16', [
          '10.82.1.0/24',
          '10.82.2.0/24',
        ]);
        const [a, b] = subnetIds as [string, string];
        const count = async () =>
          ((await json('describe-instances')).Reservations as { Instances: Item[] }[]).flatMap(
            (r) => r.Instances,
          ).length;
        const portsBefore = (await neutron('ports')).length;
        const instancesBefore = await count();
        const nics = (specs: Item[]) => ['--network-interfaces', JSON.stringify(specs)];
        const base = ['run-instances', '--image-id', imageId, '--instance-type', 'm1.tiny'];
        await refused(
          'InvalidParameterCombination',
          ...base,
          '--subnet-id',
          a,
          ...nics([{ DeviceIndex: 0, SubnetId: a }]),
        );
        const spare = (
          (await json('create-network-interface', '--subnet-id', a)).NetworkInterface as Item
        ).NetworkInterfaceId as string;
        await refused(
          'InvalidParameterCombination',
          ...base,
          ...nics([{ DeviceIndex: 0, NetworkInterfaceId: spare, SubnetId: a }]),
        );
        await refused(
          'InvalidParameterCombination',
          ...base,
          ...nics([
            { DeviceIndex: 0, SubnetId: a, AssociatePublicIpAddress: true },
            { DeviceIndex: 1, SubnetId: b },
          ]),
        );
        await refused(
          'InvalidParameterCombination',
          ...base,
          '--count',
          '2',
          ...nics([{ DeviceIndex: 0, NetworkInterfaceId: spare }]),
        );
        await refused('InvalidParameterValue', ...base, ...nics([{ DeviceIndex: 1, SubnetId: a }]));
        await refused(
          'InvalidSubnetID.NotFound',
          ...base,
          ...nics([{ DeviceIndex: 0, SubnetId: 'subnet-0123456789abcdef0' }]),
        );
        assert.equal(await count(), instancesBefore, 'the refusals launched nothing');
        assert.equal((await neutron('ports')).length, portsBefore + 1, 'and made no port');

        // Two interfaces: a new one in subnet a and the spare one.
        const two = (
          (await json(
            ...base,
            ...nics([
              { DeviceIndex: 0, SubnetId: a, PrivateIpAddress: '10.82.1.30', Description: 'front' },
              { DeviceIndex: 1, NetworkInterfaceId: spare },
            ]),
          )) as { Instances: Item[] }
        ).Instances[0] as Item;
        const twoId = two.InstanceId as string;
        await waitUntil(async () => (await stateOf(twoId)) === 'running', 15_000, 'running');
        const enis = (await instance(twoId)).NetworkInterfaces as Item[];
        assert.deepEqual(
          enis.map((e) => [(e.Attachment as Item).DeviceIndex, e.PrivateIpAddress]),
          [
            [0, '10.82.1.30'],
            [1, enis[1]?.PrivateIpAddress],
          ],
        );
        assert.equal(enis[1]?.NetworkInterfaceId, spare);
        assert.equal((await instance(twoId)).PublicIpAddress, undefined);

        // One interface asking for a public address.
        const one = (
          (await json(
            ...base,
            ...nics([{ DeviceIndex: 0, SubnetId: b, AssociatePublicIpAddress: true }]),
          )) as {
            Instances: Item[];
          }
        ).Instances[0] as Item;
        const oneId = one.InstanceId as string;
        await waitUntil(async () => (await stateOf(oneId)) === 'running', 15_000, 'running');
        const withIp = await waitUntil(
          async () => {
            const i = await instance(oneId);
            return i.PublicIpAddress ? i : undefined;
          },
          10_000,
          'a public address',
        );
        const publicIp = withIp.PublicIpAddress as string;
        const nic = (withIp.NetworkInterfaces as Item[])[0] as Item;
        assert.equal((nic.Association as Item).PublicIp, publicIp);
        const [described] = (
          await json(
            'describe-network-interfaces',
            '--network-interface-ids',
            nic.NetworkInterfaceId as string,
          )
        ).NetworkInterfaces as Item[];
        assert.equal((described?.Association as Item).PublicIp, publicIp);
        assert.equal((described?.Association as Item).IpOwnerId, 'amazon');
        const addresses = (await json('describe-addresses')).Addresses as Item[];
        assert.ok(!addresses.some((x) => x.PublicIp === publicIp), 'not an Elastic IP');
        const floating = await neutron('floatingips');
        assert.ok(floating.some((f) => f.floating_ip_address === publicIp));

        // A subnet that maps public addresses gives one without asking.
        await json('modify-subnet-attribute', '--subnet-id', a, '--map-public-ip-on-launch');
        const mapped = ((await json(...base, '--subnet-id', a)) as { Instances: Item[] })
          .Instances[0] as Item;
        const mappedId = mapped.InstanceId as string;
        await waitUntil(async () => (await instance(mappedId)).PublicIpAddress, 15_000, 'mapped');

        await json('terminate-instances', '--instance-ids', oneId, twoId, mappedId);
        await waitUntil(
          async () =>
            !(await neutron('floatingips')).some((f) => f.floating_ip_address === publicIp),
          10_000,
          'the launch address released',
        );
        // The spare interface was attached without DeleteOnTermination: it stays, available.
        const [left] = (await json('describe-network-interfaces', '--network-interface-ids', spare))
          .NetworkInterfaces as Item[];
        assert.equal(left?.Status, 'available');
        await json('modify-subnet-attribute', '--subnet-id', a, '--no-map-public-ip-on-launch');
      });

      it('binds an Elastic IP to an interface and a private address', async () => {
        const { subnetIds } = await vpcWithSubnets('10.83.0.0/16', ['10.83.1.0/24']);
        const subnet = subnetIds[0] as string;
        const run = (await json(
          'run-instances',
          '--image-id',
          imageId,
          '--instance-type',
          'm1.tiny',
          '--subnet-id',
          subnet,
        )) as { Instances: Item[] };
        const id = (run.Instances[0] as Item).InstanceId as string;
        await waitUntil(async () => (await stateOf(id)) === 'running', 15_000, 'running');
        const eni = ((await instance(id)).NetworkInterfaces as Item[])[0] as Item;
        const eniId = eni.NetworkInterfaceId as string;
        await json(
          'assign-private-ip-addresses',
          '--network-interface-id',
          eniId,
          '--private-ip-addresses',
          '10.83.1.90',
        );
        const alloc = (await json('allocate-address', '--domain', 'vpc')) as Item;
        await refused(
          'InvalidParameterValue',
          'associate-address',
          '--allocation-id',
          alloc.AllocationId as string,
          '--network-interface-id',
          eniId,
          '--private-ip-address',
          '10.83.1.91',
        );
        const assoc = (
          await json(
            'associate-address',
            '--allocation-id',
            alloc.AllocationId as string,
            '--network-interface-id',
            eniId,
            '--private-ip-address',
            '10.83.1.90',
          )
        ).AssociationId as string;
        const [shown] = (
          await json('describe-addresses', '--allocation-ids', alloc.AllocationId as string)
        ).Addresses as Item[];
        assert.equal(shown?.NetworkInterfaceId, eniId);
        assert.equal(shown?.PrivateIpAddress, '10.83.1.90');
        assert.equal(shown?.AssociationId, assoc);
        assert.equal(shown?.InstanceId, id);
        assert.deepEqual(
          (
            (
              await json(
                'describe-addresses',
                '--filters',
                `Name=network-interface-id,Values=${eniId}`,
              )
            ).Addresses as Item[]
          ).map((x) => x.PublicIp),
          [alloc.PublicIp],
        );
        const [withEip] = (
          await json('describe-network-interfaces', '--network-interface-ids', eniId)
        ).NetworkInterfaces as Item[];
        assert.equal((withEip?.Association as Item).PublicIp, alloc.PublicIp);
        assert.equal((withEip?.Association as Item).AllocationId, alloc.AllocationId);

        // A 'vpc' address moves only when reassociation is allowed.
        const other = (
          (await json(
            'run-instances',
            '--image-id',
            imageId,
            '--instance-type',
            'm1.tiny',
            '--subnet-id',
            subnet,
          )) as {
            Instances: Item[];
          }
        ).Instances[0] as Item;
        const otherId = other.InstanceId as string;
        await waitUntil(async () => (await stateOf(otherId)) === 'running', 15_000, 'running');
        const otherEni = (((await instance(otherId)).NetworkInterfaces as Item[])[0] as Item)
          .NetworkInterfaceId as string;
        await refused(
          'Resource.AlreadyAssociated',
          'associate-address',
          '--allocation-id',
          alloc.AllocationId as string,
          '--network-interface-id',
          otherEni,
        );
        await json(
          'associate-address',
          '--allocation-id',
          alloc.AllocationId as string,
          '--network-interface-id',
          otherEni,
          '--allow-reassociation',
        );
        const [moved] = (
          await json('describe-addresses', '--allocation-ids', alloc.AllocationId as string)
        ).Addresses as Item[];
        assert.equal(moved?.NetworkInterfaceId, otherEni);
        assert.equal(moved?.InstanceId, otherId);
        await json('disassociate-address', '--public-ip', alloc.PublicIp as string);
        await json('release-address', '--allocation-id', alloc.AllocationId as string);
        await json('terminate-instances', '--instance-ids', id, otherId);
      });
    },
  );
}
