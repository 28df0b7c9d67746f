// Issue 13, point 5: hostile guests. Three real QEMU guests on one host's flat network, two in
// one project (A, the attacker, and B) and one in another project (C). A is root in its VM and
// tries, in turn: to send as B's IP, as B's MAC, and over IPv6; to claim B's IP by gratuitous
// ARP; to run a DHCP server; to reach C where C's group allows no such traffic; to reach
// services of the host namespace; and to read B's metadata by taking B's address. Each attempt
// fails, and each has a positive control: the same traffic as A itself, or once a rule allows
// it, gets through, so no check passes because nothing was sent at all. A counter table the
// test adds in the host namespace, ahead of the data plane's own port filter, also shows that
// each forged frame did leave A's port. All traffic stays inside the namespaces made here.
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  ImportKeyPairCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageRepo } from '../../src/db/index.js';
import { removeDataPlane } from '../../src/network/index.js';
import { sshCommandLine } from '../../src/smoke/ssh.js';
import { needs } from '../support/capabilities.js';
import { startTestCloud, waitUntil, type TestCloud } from '../support/ec2.js';
import { GUEST_DIR, makeKey, sleep } from '../support/guest.js';

const NEEDS = needs('root', 'qemu', 'qemu-img', 'ssh', 'guest-image', 'netns');
const READY = /=== Stratus guest ready/;
const CIDR = '10.87.0.0/24';
const GW = '10.87.0.1';
/** The port of the metadata proxy on the gateway (the data plane's default). */
const METADATA_PORT = 8775;
/** A port a stand-in host service listens on in the host namespace. */
const HOST_SERVICE_PORT = 7007;

interface Guest {
  name: string;
  instanceId: string;
  ip: string;
  mac: string;
}

function sh(
  file: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A guest's counter from /proc/net/snmp (e.g. Icmp InEchos), read by its column name. */
const snmpCounter = (group: string, name: string) =>
  `awk '/^${group}:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $(c["${name}"]) }' /proc/net/snmp`;

describe('hostile guests (issue 13, point 5)', NEEDS, () => {
  const tag = randomBytes(3).toString('hex');
  const hostNetns = `st-hg-${tag}`;
  let cloud: TestCloud;
  let keyFile: string;
  let project2: EC2Client;
  const guests: Record<'a' | 'b' | 'c', Guest> = {} as Record<'a' | 'b' | 'c', Guest>;
  const launched: { client: EC2Client; id: string }[] = [];
  let hostService: ChildProcess | undefined;

  /** Runs `command` on a guest over ssh from the host namespace; its stdout, or it throws. */
  async function onGuest(g: Guest, command: string, timeoutMs = 60_000): Promise<string> {
    const [file, args] = sshCommandLine(
      { host: g.ip, user: 'root', netns: hostNetns },
      keyFile,
      command,
      10,
    );
    const r = await sh(file, args, timeoutMs);
    if (r.code !== 0) throw new Error(`'${command}' on ${g.name} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Like onGuest, retried until ssh gets in (the guest may still be starting). */
  async function onGuestWhenUp(g: Guest, command: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await onGuest(g, command);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  }

  const inNs = (args: string[]) => execFileSync('ip', ['netns', 'exec', hostNetns, ...args]);

  /** A counter of the observer table: frames seen leaving a guest's port before any filter. */
  function observed(name: string): number {
    const text = inNs(['nft', 'list', 'counter', 'bridge', 'hg_observe', name]).toString();
    const m = /packets (\d+)/.exec(text);
    assert.ok(m, text);
    return Number(m[1]);
  }

  const icmpEchosOf = async (g: Guest) =>
    Number((await onGuest(g, snmpCounter('Icmp', 'InEchos'))).trim());

  before(async () => {
    cloud = await startTestCloud({
      virt: 'qemu',
      'data-plane': 'namespace',
      'data-plane-namespace': hostNetns,
      'guest-image-dir': GUEST_DIR,
      'fixed-range': CIDR,
    });
    const dir = fs.mkdtempSync(path.join(cloud.cloud.config.stateDir, 'keys-'));
    const key = makeKey(dir, 'hostile-guests');
    keyFile = key.keyFile;
    const ami = await new ImageRepo(cloud.cloud.database.db).findByName(null, 'stratus-guest');
    assert.ok(ami, `the cloud did not import the guest image from ${GUEST_DIR}`);
    const imageId = `ami-${ami.id.replace(/-/g, '').slice(0, 17)}`;
    project2 = (await cloud.newProject('hostile-p2')).client;
    // Each project's group lets the host namespace (the gateway address) in over SSH only,
    // which is how the test drives the guests.
    const fromHost: IpPermission = {
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: `${GW}/32` }],
    };
    const ids: Record<string, string> = {};
    const launches = [
      { client: cloud.admin, names: ['a', 'b'] },
      { client: project2, names: ['c'] },
    ];
    for (const { client, names } of launches) {
      await client.send(
        new ImportKeyPairCommand({ KeyName: 'k', PublicKeyMaterial: Buffer.from(key.publicKey) }),
      );
      await client.send(new CreateSecurityGroupCommand({ GroupName: 'g', Description: 'test' }));
      await client.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupName: 'g', IpPermissions: [fromHost] }),
      );
      const run = await client.send(
        new RunInstancesCommand({
          ImageId: imageId,
          InstanceType: 'm1.nano' as _InstanceType,
          MinCount: names.length,
          MaxCount: names.length,
          KeyName: 'k',
          SecurityGroups: ['g'],
        }),
      );
      names.forEach((name, i) => {
        const id = run.Instances?.[i]?.InstanceId as string;
        ids[name] = id;
        launched.push({ client, id });
      });
    }
    for (const [name, client] of [
      ['a', cloud.admin],
      ['b', cloud.admin],
      ['c', project2],
    ] as const) {
      const instanceId = ids[name] as string;
      await waitUntil(
        async () => {
          const o = await client.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
          return READY.test(Buffer.from(o.Output ?? '', 'base64').toString());
        },
        240_000,
        `guest ${name} to be ready`,
      );
      const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const ip = d.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '';
      const g: Guest = { name, instanceId, ip, mac: '' };
      g.mac = (await onGuestWhenUp(g, 'cat /sys/class/net/eth0/address', 60_000)).trim();
      guests[name] = g;
    }
    const { a, b } = guests;
    // Counters ahead of the data plane's port filter (priority -300): what left A's port.
    const observer = [
      'table bridge hg_observe {',
      ...['spoofed_ip', 'spoofed_mac', 'ipv6', 'garp', 'dhcp_offer', 'metadata'].map(
        (n) => `  counter ${n} { }`,
      ),
      '  chain prerouting {',
      '    type filter hook prerouting priority -400; policy accept;',
      `    ether saddr ${a.mac} ip saddr ${b.ip} icmp type echo-request counter name "spoofed_ip"`,
      `    ether saddr ${b.mac} ip saddr ${a.ip} icmp type echo-request counter name "spoofed_mac"`,
      `    ether saddr ${a.mac} icmpv6 type echo-request counter name "ipv6"`,
      `    ether saddr ${a.mac} arp saddr ip ${b.ip} counter name "garp"`,
      `    ether saddr ${a.mac} udp sport 67 counter name "dhcp_offer"`,
      `    ether saddr ${a.mac} ip saddr ${b.ip} tcp dport 80 counter name "metadata"`,
      '  }',
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', hostNetns, 'nft', '-f', '-'], { input: observer });
  });

  after(async () => {
    hostService?.kill('SIGKILL');
    for (const { client, id } of launched) {
      await client.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch(() => {});
    }
    for (const { client, id } of launched) {
      await waitUntil(
        async () => {
          const d = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
          return d.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'terminated';
        },
        60_000,
        'the instances to terminate',
      ).catch(() => {});
    }
    await cloud?.stop();
    await removeDataPlane(hostNetns);
  });

  it("cannot send as another guest's IP or MAC, or over IPv6; can as itself", async () => {
    const { a, b, c } = guests;
    // Positive control: A pings C as itself, and C counts the echo requests.
    let before = await icmpEchosOf(c);
    await onGuest(a, `ping -c 2 -W 3 ${c.ip}`);
    assert.ok(
      (await icmpEchosOf(c)) >= before + 2,
      'C receives the echo requests A sends as itself',
    );

    // A takes B's IP as a second address and pings C from it; C's MAC is pinned in A's ARP
    // table so the forged packets do leave (no ARP for C is needed).
    before = await icmpEchosOf(c);
    const spoofIp = await onGuest(
      a,
      `ip addr add ${b.ip}/32 dev eth0; arp -s ${c.ip} ${c.mac}; ` +
        `ping -c 3 -W 2 -I ${b.ip} ${c.ip} >/dev/null 2>&1; echo rc=$?; ` +
        `arp -d ${c.ip}; ip addr del ${b.ip}/32 dev eth0`,
    );
    assert.match(spoofIp, /rc=1/, 'no reply to pings sent as B');
    assert.equal(await icmpEchosOf(c), before, 'C receives nothing sent as B');
    assert.ok(observed('spoofed_ip') >= 3, 'the pings sent as B did leave A');

    // A takes B's MAC (which cuts its own SSH session, so it runs detached and puts the MAC
    // back itself) and pings C.
    before = await icmpEchosOf(c);
    // (virtio-net takes a new MAC while up; down/up is the fallback. Changing the MAC flushes
    // the ARP table, so C's entry is pinned after it.)
    const setMac = (mac: string) =>
      `{ ip link set eth0 address ${mac} || { ip link set eth0 down; ` +
      `ip link set eth0 address ${mac}; ip link set eth0 up; }; }`;
    await onGuest(
      a,
      "rm -f /tmp/mac-spoof; setsid sh -c '" +
        `sleep 2; ${setMac(b.mac)}; echo mac=$(cat /sys/class/net/eth0/address); ` +
        `arp -s ${c.ip} ${c.mac}; ping -c 3 -W 2 ${c.ip}; echo rc=$?; ` +
        `${setMac(a.mac)}; arp -d ${c.ip}; ip route add default via ${GW} 2>/dev/null; ` +
        "echo done' >/tmp/mac-spoof.log 2>&1 </dev/null & true",
    );
    const macSpoof = await onGuestWhenUp(
      a,
      'while ! grep -q done /tmp/mac-spoof.log; do sleep 0.2; done; ' +
        'cat /tmp/mac-spoof.log; echo now=$(cat /sys/class/net/eth0/address)',
      40_000,
    );
    assert.match(macSpoof, new RegExp(`mac=${b.mac}`), macSpoof);
    assert.match(macSpoof, /rc=1/, "no reply to pings sent with B's MAC");
    assert.match(macSpoof, new RegExp(`now=${a.mac}`), 'A has its own MAC back');
    assert.equal(await icmpEchosOf(c), before, "C receives nothing sent with B's MAC");
    assert.ok(observed('spoofed_mac') >= 3, "the pings with B's MAC did leave A");
    // The dropped frames taught the bridge nothing: B's MAC is still on B's port, and B answers.
    const fdb = inNs(['bridge', 'fdb', 'show', 'br', 'br100']).toString();
    const bPort = new RegExp(`^${b.mac} dev (\\S+)`, 'm').exec(fdb)?.[1];
    const aPort = new RegExp(`^${a.mac} dev (\\S+)`, 'm').exec(fdb)?.[1];
    assert.ok(bPort && aPort && bPort !== aPort, fdb);
    assert.equal((await onGuest(b, 'echo up')).trim(), 'up');

    // IPv6: A pings all nodes on the link; C counts none of it (Stratus gives guests no IPv6).
    const before6 = Number(
      (await onGuest(c, 'awk \'$1 == "Icmp6InEchos" { print $2 }\' /proc/net/snmp6')).trim(),
    );
    await onGuest(a, 'ping6 -c 3 -W 2 -I eth0 ff02::1 >/dev/null 2>&1; true');
    const after6 = Number(
      (await onGuest(c, 'awk \'$1 == "Icmp6InEchos" { print $2 }\' /proc/net/snmp6')).trim(),
    );
    assert.equal(after6, before6, 'C receives no IPv6 from A');
    assert.ok(observed('ipv6') >= 3, 'the IPv6 pings did leave A');
  });

  it("cannot claim another guest's IP by ARP; can announce its own", async () => {
    const { a, b, c } = guests;
    // C has stale entries for A (a wrong MAC) and B (B's MAC); a gratuitous ARP updates either.
    await onGuest(c, `arp -s ${a.ip} 02:00:00:00:00:01 temp; arp -s ${b.ip} ${b.mac} temp`);
    await onGuest(
      a,
      `ip addr add ${b.ip}/32 dev eth0; ` +
        `arping -U -c 2 -I eth0 -s ${b.ip} ${b.ip}; arping -A -c 2 -I eth0 -s ${b.ip} ${b.ip}; ` +
        `ip addr del ${b.ip}/32 dev eth0; arping -U -c 2 -I eth0 -s ${a.ip} ${a.ip}; true`,
    );
    const table = await onGuest(c, `arp -n -a`);
    const macOf = (ip: string) =>
      new RegExp(`\\(${ip.replace(/\./g, '\\.')}\\) at (\\S+)`).exec(table)?.[1];
    assert.equal(macOf(a.ip), a.mac, `A's own announcement reaches C: ${table}`);
    assert.equal(macOf(b.ip), b.mac, `A's claim on B's IP does not: ${table}`);
    assert.ok(observed('garp') >= 4, "the ARP for B's IP did leave A");
  });

  it("cannot run a DHCP server for other guests; the cloud's still serves them", async () => {
    const { a, b } = guests;
    await onGuest(
      a,
      "printf 'interface eth0\\nstart 10.87.0.200\\nend 10.87.0.210\\nmax_leases 10\\n" +
        'lease_file /tmp/udhcpd.leases\\noption subnet 255.255.255.0\\noption router ' +
        `${a.ip}\\n' >/tmp/udhcpd.conf; touch /tmp/udhcpd.leases; ` +
        'setsid udhcpd -f -a 100 /tmp/udhcpd.conf >/tmp/udhcpd.log 2>&1 </dev/null & sleep 1; pidof udhcpd',
    );
    try {
      // B asks three times with a client that only notes what it is offered.
      const got = await onGuest(
        b,
        'printf \'#!/bin/sh\\necho "$1 ip=$ip server=$serverid" >>/tmp/dhcp.log\\n\' >/tmp/note.sh; ' +
          'chmod 755 /tmp/note.sh; rm -f /tmp/dhcp.log; for i in 1 2 3; do ' +
          'udhcpc -f -q -n -t 3 -T 2 -i eth0 -s /tmp/note.sh >/dev/null 2>&1; done; cat /tmp/dhcp.log',
      );
      const bound = got.split('\n').filter((l) => l.startsWith('bound'));
      assert.equal(bound.length, 3, got);
      for (const line of bound) assert.equal(line, `bound ip=${b.ip} server=${GW}`, got);
      assert.ok(observed('dhcp_offer') >= 1, 'the rogue server did answer from A');
    } finally {
      await onGuest(a, 'kill $(pidof udhcpd); true');
    }
  });

  it("cannot reach another project's guest that no rule opens to it; can once one does", async () => {
    const { a, c } = guests;
    const banner = `timeout 6 nc -w 3 ${c.ip} 22 </dev/null | head -c 7; true`;
    assert.equal(await onGuest(a, banner), '', "A does not reach C's SSH");
    const fromA: IpPermission = {
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: `${a.ip}/32` }],
    };
    await project2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupName: 'g', IpPermissions: [fromA] }),
    );
    try {
      await waitUntil(
        async () => (await onGuest(a, banner)) === 'SSH-2.0',
        60_000,
        "A to reach C's SSH once C's group allows it",
      );
    } finally {
      await project2.send(
        new RevokeSecurityGroupIngressCommand({ GroupName: 'g', IpPermissions: [fromA] }),
      );
    }
  });

  it("cannot reach the host's services; reaches DHCP and the metadata service", async () => {
    const { a } = guests;
    // Stand-ins for services in the host namespace, listening on every address there (the
    // API's, PostgreSQL's and RabbitMQ's port numbers, and one more).
    const ec2Port = Number(new URL(cloud.endpoint).port);
    const ports = [HOST_SERVICE_PORT, 5432, 5672, ec2Port];
    const script =
      'const net = require("net");' +
      `for (const p of ${JSON.stringify(ports)}) net.createServer((s) => s.end("HOSTSVC\\n")).listen(p, "0.0.0.0");`;
    hostService = spawn('ip', ['netns', 'exec', hostNetns, process.execPath, '-e', script], {
      stdio: 'ignore',
    });
    // Positive control: the services answer in the namespace.
    await waitUntil(
      async () => {
        const r = await sh('ip', [
          'netns',
          'exec',
          hostNetns,
          'bash',
          '-c',
          ports.map((p) => `timeout 3 bash -c 'exec 3<>/dev/tcp/${GW}/${p}; cat <&3'`).join('; '),
        ]);
        return r.stdout.split('HOSTSVC').length - 1 === ports.length;
      },
      60_000,
      'the stand-in services to listen',
    );
    const tries = ports
      .map((p) => `echo ${p}:$(timeout 4 nc -w 2 ${GW} ${p} </dev/null)`)
      .join('; ');
    const out = await onGuest(a, tries);
    for (const p of ports) assert.match(out, new RegExp(`^${p}:$`, 'm'), out);
    // What a guest may reach on the host: the metadata service (and DHCP, shown above).
    const id = await onGuest(
      a,
      'timeout 30 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id',
    );
    assert.equal(id.trim(), a.instanceId);
    // The proxy is reachable at its own address too; it still answers with A's metadata.
    const direct = await onGuest(
      a,
      `timeout 30 wget -q -O - http://${GW}:${METADATA_PORT}/latest/meta-data/instance-id`,
    );
    assert.equal(direct.trim(), a.instanceId);
  });

  it("cannot read another instance's metadata by taking its address", async () => {
    const { a, b } = guests;
    const url = 'http://169.254.169.254/latest/meta-data/instance-id';
    // Positive control: each guest reads its own.
    assert.equal((await onGuest(b, `timeout 30 wget -q -O - ${url}`)).trim(), b.instanceId);
    assert.equal((await onGuest(a, `timeout 30 wget -q -O - ${url}`)).trim(), a.instanceId);
    // A takes B's IP, announces it (so that the host would send the answers to A), and asks
    // from it.
    const out = await onGuest(
      a,
      `ip addr add ${b.ip}/32 dev eth0; ip route add 169.254.169.254/32 via ${GW} dev eth0 src ${b.ip}; ` +
        `arping -U -c 1 -I eth0 -s ${b.ip} ${b.ip} >/dev/null; arping -A -c 1 -I eth0 -s ${b.ip} ${b.ip} >/dev/null; ` +
        `echo "got:$(timeout 6 wget -q -O - ${url})"; ` +
        `ip route del 169.254.169.254/32; ip addr del ${b.ip}/32 dev eth0`,
    );
    assert.equal(out.trim(), 'got:', 'A gets nothing as B');
    assert.ok(observed('metadata') >= 1, 'the request as B did leave A');
    assert.equal((await onGuest(a, `timeout 30 wget -q -O - ${url}`)).trim(), a.instanceId);
    // B is still B to the host.
    assert.equal((await onGuest(b, `timeout 30 wget -q -O - ${url}`)).trim(), b.instanceId);
  });
});
