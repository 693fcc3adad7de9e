// Preflight's pure parts: the node programs (perl, run here for real: the ARP packet built and read
// byte by byte, the VRRP listener and prober over loopback when we may open raw sockets), parsing what
// they print, VRRP headers, and the verdicts (foreign routers, VRRP crossing per direction, VIPs
// already answering) as data.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { loadFleet } from '../../src/inventory/load.js';
import { isFirstDeploy } from '../../src/preflight/first-deploy.js';
import { ARP_SUBS, arpReplies, parseMacs } from '../../src/preflight/arp.js';
import { judgeCrossing, judgeForeign, judgeVips, probePlan, type NodeReading } from '../../src/preflight/judge.js';
import { isProbe, parseAdvert, parseProbeOutput, probeScript } from '../../src/preflight/probe.js';
import { missingTools } from '../../src/preflight/tools.js';

// The shipped fleet: edge-a (multicast on eth0, vrid 51, 192.168.10.0/24), core (unicast on eth1, 3 nodes).
const { clusters } = loadFleet(join(import.meta.dirname, '..', '..', 'inventories', 'fleet.yaml')).fleet;
const edgeA = clusters.find((c) => c.name === 'edge-a')!;
const core = clusters.find((c) => c.name === 'core')!;

// A VRRPv2 advert: vrid 51, priority 200, one address 192.168.10.100.
const ADVERT = Buffer.from([0x21, 51, 200, 1, 0, 1, 0, 0, 192, 168, 10, 100]);
const PROBE = Buffer.from('\0\0kadeploy-preflight', 'latin1');
const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const heard = (...lines: Array<[string, Buffer]>) => parseProbeOutput(`${lines.map(([src, b]) => `${src} ${hex(b)}`).join('\n')}\n@@kadeploy-listen-end\n`, '');
/** Run a perl program with argv (as the node would, from the command's own words). */
const perl = (program: string, ...args: string[]) => spawnSync('perl', ['-e', program, ...args], { encoding: 'utf8' });
const isRoot = process.getuid?.() === 0;
const reading = (addresses: string[], listened = heard(), macs: string[] = []): NodeReading => ({ addresses, macs, listened });

describe('preflight probe script and parsing', () => {
  it('one perl program per node: joins the group, probes the group or each unicast peer from its source', () => {
    const { scripts, directions } = probePlan(edgeA, 3);
    const s = probeScript(scripts.get('edge-a1')!);
    assert.match(s, /^perl -e '/);
    assert.match(s, / 3 0\.5 kadeploy-preflight g:eth0 m:eth0$/, 'window 3 s, probes 0.5 s apart, join and probe on eth0');
    assert.doesNotMatch(s, /socat|timeout /, 'no other tool');
    assert.deepEqual(directions.map((d) => `${d.from} → ${d.to} ${d.via}`), ['edge-a1 → edge-a2 multicast 224.0.0.18 on eth0', 'edge-a2 → edge-a1 multicast 224.0.0.18 on eth0']);
    const u = probePlan(core, 3);
    const core1 = probeScript(u.scripts.get('core1')!);
    assert.match(core1, / u:10\.20\.0\.12@10\.20\.0\.11 u:10\.20\.0\.13@10\.20\.0\.11$/);
    assert.doesNotMatch(core1, / g:/);
    assert.equal(u.directions.length, 6, 'each ordered pair of 3 nodes');
    assert.ok(u.directions.some((d) => d.from === 'core3' && d.to === 'core1' && d.via === 'unicast to 10.20.0.11'));
  });

  it('the perl program compiles, and refuses a bad argument or a missing interface with the reason', () => {
    const words = (cmd: string) => cmd.match(/'(?:[^']|'\\'')*'|\S+/g)!.map((w) => (w.startsWith("'") ? w.slice(1, -1).replace(/'\\''/g, "'") : w));
    const [, , program] = words(probeScript({ seconds: 1, groups: [], destinations: [] }));
    assert.equal(spawnSync('perl', ['-c', '-e', program!], { encoding: 'utf8' }).status, 0);
    const bad = perl(program!, '1', '0.2', 'kadeploy-preflight', 'x:1');
    assert.equal(bad.status, 2);
    const r = parseProbeOutput(bad.stdout, bad.stderr, bad.status!);
    assert.match(r.error!, isRoot ? /bad argument x:1/ : /raw socket/);
    if (isRoot) {
      const none = perl(program!, '1', '0.2', 'kadeploy-preflight', 'g:kadeploy-no-such0');
      assert.match(parseProbeOutput(none.stdout, none.stderr, none.status!).error!, /no interface kadeploy-no-such0/);
    }
  });

  it('over loopback (root): hears its own three probes, marked, in a window of the asked length', { skip: isRoot ? false : 'raw sockets need root' }, () => {
    const cmd = probeScript({ seconds: 2, groups: [], destinations: [{ unicast: '127.0.0.1', from: '127.0.0.1' }] });
    const t0 = Date.now();
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    const ms = Date.now() - t0;
    const listened = parseProbeOutput(r.stdout, r.stderr, r.status!);
    assert.equal(listened.error, undefined, r.stderr);
    const ours = listened.heard.filter((h) => h.source === '127.0.0.1' && isProbe(h));
    assert.equal(ours.length, 3, r.stdout);
    assert.ok(ms >= 1900 && ms < 4000, `window ${ms} ms`);
  });

  it('parses packets and says when the listener did not run its window', () => {
    const r = heard(['192.168.10.99', ADVERT]);
    assert.equal(r.error, undefined);
    assert.deepEqual(parseAdvert(r.heard[0]!.payload), { version: 2, vrid: 51, priority: 200, addresses: ['192.168.10.100'] });
    assert.equal(parseAdvert(PROBE), undefined, 'a probe is no advert');
    assert.match(parseProbeOutput('', 'raw socket for IP protocol 112: Operation not permitted', 2).error!, /Operation not permitted/);
    assert.match(parseProbeOutput('10.0.0.1 0000\n', '', 0).error!, /ended with status 0/, 'no end mark: the window was cut short');
  });

  it('builds the ARP probe as arping -D does (sender 0.0.0.0) and reads answers from other MACs only', () => {
    const run = (code: string) => perl(`use strict; use Socket; ${ARP_SUBS} ${code}`);
    const mine = '02 00 00 00 00 01';
    const probe = run(`print unpack("H*", arp_probe(pack("H*", "020000000001"), inet_aton("10.0.0.100")))`);
    assert.equal(probe.status, 0, probe.stderr);
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 (request), sender MAC, sender 0.0.0.0, target MAC 0, target 10.0.0.100.
    assert.equal(probe.stdout, ['0001', '0800', '06', '04', '0001', mine, '00000000', '000000000000', '0a000064'].join('').replace(/ /g, ''));
    const answer = (op: number, mac: string, ip: string) =>
      run(`my $p = pack("n n C C n a6 a4 a6 a4", 1, 0x0800, 6, 4, ${op}, pack("H*", "${mac}"), inet_aton("${ip}"), pack("H*", "020000000001"), "\\0" x 4); ` +
        `my $a = arp_answer($p, inet_aton("10.0.0.100"), pack("H*", "020000000001")); print defined $a ? $a : "none"`).stdout;
    assert.equal(answer(2, '22c62cfcdb50', '10.0.0.100'), '22:c6:2c:fc:db:50', 'a reply for the VIP');
    assert.equal(answer(1, '22c62cfcdb50', '10.0.0.100'), '22:c6:2c:fc:db:50', 'a request from the VIP (its holder probing) counts too, as for arping -D');
    assert.equal(answer(2, '22c62cfcdb50', '10.0.0.99'), 'none', 'another address');
    assert.equal(answer(2, '020000000001', '10.0.0.100'), 'none', 'our own packet');
    assert.equal(answer(3, '22c62cfcdb50', '10.0.0.100'), 'none', 'not a request or reply');
    assert.equal(run('print defined arp_answer("short", "", "") ? "x" : "none"').stdout, 'none');
  });

  it('reads the ARP probe\'s answers and MACs; a probe cut short has no verdict', () => {
    assert.deepEqual(arpReplies('arp-reply 22:c6:2c:fc:db:50\narp-reply 22:c6:2c:fc:db:50\n@@kadeploy-arp-end\n'), ['22:c6:2c:fc:db:50']);
    assert.deepEqual(arpReplies('@@kadeploy-arp-end\n'), []);
    assert.equal(arpReplies('arp-reply 22:c6:2c:fc:db:50\n'), undefined);
    assert.deepEqual(parseMacs('36:82:e1:52:51:9b\n00:00:00:00:00:00\n'), ['36:82:e1:52:51:9b']);
  });

  it('needs nothing installed on Debian (perl-base is Essential); perl on the RHEL family when missing', () => {
    const os = (family: string) => ({ family, id: family }) as Parameters<typeof missingTools>[0];
    assert.deepEqual(missingTools(os('debian'), { 'perl-base': '5.36.0-7' }), []);
    assert.deepEqual(missingTools(os('redhat'), {}), ['perl-interpreter', 'perl-Socket']);
    assert.equal(missingTools(os('arch'), {}), undefined);
  });
});

describe('preflight verdicts', () => {
  it('a foreign router on one of our vrids is reported with address, vrid and priority; our own adverts are not', () => {
    const readings = new Map([
      ['edge-a1', reading(['192.168.10.11'], heard(['192.168.10.99', ADVERT], ['192.168.10.12', ADVERT]))],
      ['edge-a2', reading(['192.168.10.12'], heard(['192.168.10.99', ADVERT]))],
    ]);
    const { checks, foreign } = judgeForeign(edgeA, readings, 3);
    assert.deepEqual(foreign.map((f) => [f.source, f.vrid, f.priority, f.heardBy.join()]), [['192.168.10.99', 51, 200, 'edge-a1,edge-a2']]);
    assert.equal(checks[0]!.status, 'fail');
    assert.match(checks[0]!.detail, /foreign router 192\.168\.10\.99 advertises vrid 51 with priority 200 \(VRRPv2, VIPs 192\.168\.10\.100\)/);
    // edge-b uses vrid 52: the same advert is no conflict for it.
    const edgeB = clusters.find((c) => c.name === 'edge-b')!;
    assert.equal(judgeForeign(edgeB, new Map([['edge-b1', reading(['192.168.10.21'], heard(['192.168.10.99', ADVERT]))]]), 3).checks[0]!.status, 'pass');
  });

  it('names the direction VRRP is lost in, and says whether the way back works', () => {
    const { directions } = probePlan(edgeA, 3);
    const readings = new Map([
      ['edge-a1', reading(['192.168.10.11'], heard(['192.168.10.12', PROBE]))],
      ['edge-a2', reading(['192.168.10.12'], heard())],
    ]);
    const checks = judgeCrossing(edgeA, directions, readings);
    assert.deepEqual(checks.map((c) => [c.subject, c.status]), [['edge-a1 → edge-a2', 'fail'], ['edge-a2 → edge-a1', 'pass']]);
    assert.match(checks[0]!.detail, /VRRP from edge-a1 does not arrive at edge-a2 \(multicast 224\.0\.0\.18 on eth0\); edge-a2 → edge-a1 works — likely a firewall on edge-a2/);
    readings.set('edge-a2', { addresses: [], macs: [], skipped: 'edge-a2 lacks perl-interpreter (--no-install)' });
    assert.deepEqual(judgeCrossing(edgeA, directions, readings).map((c) => c.status), ['skip', 'skip']);
  });

  it('a VIP answered by another machine fails; answered by one of the cluster\'s nodes it does not', () => {
    const readings = new Map([
      ['edge-a1', reading(['192.168.10.11'], undefined, ['aa:aa:aa:aa:aa:01'])],
      ['edge-a2', reading(['192.168.10.12', '192.168.10.100'], undefined, ['aa:aa:aa:aa:aa:02'])],
    ]);
    const probe = (mac: string) => judgeVips(edgeA, [{ vip: '192.168.10.100', node: 'edge-a1', iface: 'eth0', replies: [mac] }], readings)[0]!;
    assert.equal(probe('aa:aa:aa:aa:aa:02').status, 'pass');
    assert.match(probe('aa:aa:aa:aa:aa:02').detail, /answered by edge-a2 of this cluster \(not a conflict\)/);
    assert.equal(probe('bb:bb:bb:bb:bb:bb').status, 'fail');
    assert.match(probe('bb:bb:bb:bb:bb:bb').detail, /ARP reply from bb:bb:bb:bb:bb:bb \(no node of this cluster\)/);
  });

  it('apply preflights a first deploy only: the playbook writes keepalived.conf and no node has kadeploy\'s yet', () => {
    const facts = (contents: Array<string | null | undefined>) =>
      new Map(edgeA.nodes.map((n, k) => [n.name, { files: contents[k] === undefined ? {} : { '/etc/keepalived/keepalived.conf': contents[k] === null ? null : { content: contents[k] } } } as unknown as HostFacts]));
    assert.equal(isFirstDeploy(edgeA, facts([null, null])), true);
    assert.equal(isFirstDeploy(edgeA, facts(['vrrp_instance X {\n}\n', null])), true, 'a hand-made config: adopting it is a first deploy');
    assert.equal(isFirstDeploy(edgeA, facts([null, '# Managed by kadeploy for node edge-a2.\n'])), false);
    assert.equal(isFirstDeploy(edgeA, facts([undefined, undefined])), false, 'a playbook that does not write keepalived.conf');
  });
});
