// Preflight's pure parts: the node script, parsing what it heard, VRRP headers, ARP replies, and the
// verdicts (foreign routers, VRRP crossing per direction, VIPs already answering) as data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { loadFleet } from '../../src/inventory/load.js';
import { isFirstDeploy } from '../../src/preflight/first-deploy.js';
import { arpReplies, parseMacs } from '../../src/preflight/arp.js';
import { judgeCrossing, judgeForeign, judgeVips, probePlan, type NodeReading } from '../../src/preflight/judge.js';
import { parseAdvert, parseProbeOutput, probeScript } from '../../src/preflight/probe.js';

// The shipped fleet: edge-a (multicast on eth0, vrid 51, 192.168.10.0/24), core (unicast on eth1, 3 nodes).
const { clusters } = loadFleet(join(import.meta.dirname, '..', '..', 'inventories', 'fleet.yaml')).fleet;
const edgeA = clusters.find((c) => c.name === 'edge-a')!;
const core = clusters.find((c) => c.name === 'core')!;

// A VRRPv2 advert: vrid 51, priority 200, one address 192.168.10.100.
const ADVERT = Buffer.from([0x21, 51, 200, 1, 0, 1, 0, 0, 192, 168, 10, 100]);
const PROBE = Buffer.from('\0\0kadeploy-preflight', 'latin1');
const hex = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const heard = (...lines: Array<[string, Buffer]>) => parseProbeOutput(`${lines.map(([src, b]) => `${src} ${hex(b)}`).join('\n')}\n@@kadeploy-listen-rc 124\n`, '');
const reading = (addresses: string[], listened = heard(), macs: string[] = []): NodeReading => ({ addresses, macs, listened });

describe('preflight probe script and parsing', () => {
  it('listens on a raw IP socket for protocol 112 and sends marked probes (multicast or unicast)', () => {
    const { scripts, directions } = probePlan(edgeA, 3);
    const s = probeScript(scripts.get('edge-a1')!);
    assert.match(s, /^timeout 3 socat -u IP4-RECVFROM:112,ip-add-membership=224\.0\.0\.18:eth0,fork 'SYSTEM:echo \$SOCAT_PEERADDR/);
    assert.match(s, /IP4-SENDTO:224\.0\.0\.18:112,so-bindtodevice=eth0,ip-multicast-ttl=255/);
    assert.deepEqual(directions.map((d) => `${d.from} → ${d.to} ${d.via}`), ['edge-a1 → edge-a2 multicast 224.0.0.18 on eth0', 'edge-a2 → edge-a1 multicast 224.0.0.18 on eth0']);
    const u = probePlan(core, 3);
    const core1 = probeScript(u.scripts.get('core1')!);
    assert.match(core1, /IP4-SENDTO:10\.20\.0\.12:112,bind=10\.20\.0\.11/);
    assert.match(core1, /IP4-SENDTO:10\.20\.0\.13:112,bind=10\.20\.0\.11/);
    assert.doesNotMatch(core1, /ip-add-membership/);
    assert.equal(u.directions.length, 6, 'each ordered pair of 3 nodes');
    assert.ok(u.directions.some((d) => d.from === 'core3' && d.to === 'core1' && d.via === 'unicast to 10.20.0.11'));
  });

  it('parses packets and says when the listener did not run its window', () => {
    const r = heard(['192.168.10.99', ADVERT]);
    assert.equal(r.error, undefined);
    assert.deepEqual(parseAdvert(r.heard[0]!.payload), { version: 2, vrid: 51, priority: 200, addresses: ['192.168.10.100'] });
    assert.equal(parseAdvert(PROBE), undefined, 'a probe is no advert');
    assert.match(parseProbeOutput('@@kadeploy-listen-rc 127\n', 'timeout: failed to run command ‘socat’: No such file or directory').error!, /socat/);
  });

  it('reads arping replies and MACs', () => {
    assert.deepEqual(arpReplies('ARPING 10.0.0.100 from 0.0.0.0 eth0\nUnicast reply from 10.0.0.100 [22:C6:2C:FC:DB:50]  0.541ms\nSent 1 probes\n'), ['22:c6:2c:fc:db:50']);
    assert.deepEqual(parseMacs('36:82:e1:52:51:9b\n00:00:00:00:00:00\n'), ['36:82:e1:52:51:9b']);
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
    readings.set('edge-a2', { addresses: [], macs: [], skipped: 'edge-a2 lacks socat (--no-install)' });
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
