// Issue 13, live preflight on the lab: lb1 and lb2 are the cluster, lb3 a spare. Clean: every check
// passes, and no node's packages changed (perl-base does the probing; issue 15). The VIP put on lb3
// answers the ARP probe: reported with lb3's MAC. A keepalived started by the test on lb3 with the
// cluster's vrid is reported as a foreign router (address, vrid, priority) and apply refuses before
// installing anything (keepalived only downloaded meanwhile). An nftables rule in lb2 dropping IP
// protocol 112 is reported as lb1 → lb2 lost while lb2 → lb1 works. With all gone, preflight passes
// and apply runs it before the first deploy only.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;
const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

/** The lab's inventory with lb1 and lb2 only: lb3 stays outside the cluster. */
function twoNodeInventory(lab: Lab): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  const nodes = doc.get('nodes') as { items: unknown[] };
  nodes.items.splice(2);
  const file = join(mkdtempSync(join(tmpdir(), 'kadeploy-preflight-')), 'cluster.yaml');
  writeFileSync(file, doc.toString());
  return file;
}

const FOREIGN_CONF = '/etc/kadeploy-test-foreign.conf';
const FOREIGN_PID = '/run/kadeploy-test-foreign.pid';

describe('preflight on a 3-node lab (lb1, lb2 the cluster, lb3 a spare)', { timeout: 900_000 }, () => {
  it('reports a foreign VRRP router and a one-way VRRP block, passes when clean', async (t) => {
    await withLab(t, { nodes: 3 }, async (lab) => {
      const inv = twoNodeInventory(lab);
      const [lb1, lb2, lb3] = lab.nodes;
      const apt = `DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl}`;

      // Clean: every check passes; nothing is installed on any node (the packages before and after).
      const packages = (node: string) => lab.exec(node, "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' | md5sum").then((r) => r.stdout.trim());
      const before = await Promise.all(['lb1', 'lb2', 'lb3'].map(packages));
      const clean = await kadeploy(['preflight', inv]);
      ok(clean, 'clean preflight');
      assert.match(clean.stdout, /foreign VRRP\s+vrid 51\s+PASS\s+no other router uses them \(listened 3 s on lb1, lb2\)/);
      assert.match(clean.stdout, new RegExp(`VIP free\\s+${lab.vip.replace(/\./g, '\\.')}\\s+PASS\\s+no other machine answers`));
      assert.match(clean.stdout, /lb1 → lb2\s+PASS\s+VRRP arrives \(multicast 224\.0\.0\.18 on eth0\)/);
      assert.match(clean.stdout, /lb2 → lb1\s+PASS/);
      assert.doesNotMatch(clean.stderr, /installing/);
      assert.deepEqual(await Promise.all(['lb1', 'lb2', 'lb3'].map(packages)), before, 'no package installed or changed on any node');
      for (const n of ['lb1', 'lb2']) assert.notEqual((await lab.exec(n, 'command -v socat || command -v arping')).code, 0, `${n}: neither socat nor arping`);

      // The VIP on lb3 (no node of the cluster): the ARP probe hears lb3 answer, with lb3's MAC.
      const lb3Mac = (await lab.exec('lb3', 'cat /sys/class/net/eth0/address')).stdout.trim();
      ok(await lab.exec('lb3', `ip addr add ${lab.vip}/32 dev eth0`), 'VIP on lb3');
      try {
        const taken = await kadeploy(['preflight', inv]);
        assert.equal(taken.code, 1, text(taken));
        assert.match(taken.stdout, new RegExp(`VIP free\\s+${lab.vip.replace(/\./g, '\\.')}\\s+FAIL\\s+already answers on the network: ARP reply from ${lb3Mac} \\(no node of this cluster\\)`));
      } finally {
        ok(await lab.exec('lb3', `ip addr del ${lab.vip}/32 dev eth0`), 'VIP off lb3');
      }

      // A foreign router on lb3: keepalived with the cluster's vrid 51, priority 200, another VIP.
      const conf = `vrrp_instance FOREIGN {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 200\n advert_int 1\n virtual_ipaddress {\n  ${lb3!.ip.replace(/\d+$/, '201')}/32\n }\n}\n`;
      const started = await lab.ssh('lb3', `${apt} install --no-install-recommends keepalived >/dev/null 2>&1 && printf '%s' '${conf}' > ${FOREIGN_CONF} && ` +
        `keepalived -f ${FOREIGN_CONF} -p ${FOREIGN_PID} -r /run/kadeploy-test-foreign-vrrp.pid && sleep 1 && cat ${FOREIGN_PID}`);
      ok(started, 'foreign keepalived on lb3');
      const pid = Number(started.stdout.trim());
      assert.ok(pid > 1, started.stdout);
      try {
        const foreign = await kadeploy(['preflight', inv, '--json']);
        assert.equal(foreign.code, 1, text(foreign));
        const report = JSON.parse(foreign.stdout) as { ok: boolean; foreign: Array<{ source: string; vrid: number; priority: number; heardBy: string[] }> };
        assert.equal(report.ok, false);
        assert.deepEqual(report.foreign.map((f) => [f.source, f.vrid, f.priority]), [[lb3!.ip, 51, 200]]);
        assert.deepEqual(report.foreign[0]!.heardBy.sort(), ['lb1', 'lb2']);
        const table = await kadeploy(['preflight', inv]);
        assert.equal(table.code, 1, text(table));
        assert.match(table.stdout, new RegExp(`foreign VRRP\\s+vrid 51 \\(VI_1\\)\\s+FAIL\\s+foreign router ${lb3!.ip.replace(/\./g, '\\.')} advertises vrid 51 with priority 200`));

        // apply runs preflight before a first deploy and refuses before installing keepalived: it was
        // only downloaded into apt's cache meanwhile.
        const refused = await kadeploy(['apply', inv]);
        assert.notEqual(refused.code, 0, text(refused));
        assert.match(refused.stderr, /preflight failed before a first deploy/);
        assert.match(refused.stderr, /lb1: downloading keepalived meanwhile \(installed only if preflight passes\)/);
        for (const n of [lb1!, lb2!]) {
          assert.notEqual((await lab.exec(n.name, 'dpkg -s keepalived >/dev/null 2>&1')).code, 0, `${n.name}: keepalived not installed`);
          assert.equal((await lab.exec(n.name, 'ls /var/cache/apt/archives/keepalived_*.deb')).code, 0, `${n.name}: keepalived downloaded`);
          assert.notEqual((await lab.exec(n.name, 'systemctl is-enabled keepalived 2>/dev/null')).stdout.trim(), 'masked', `${n.name}: unit not touched`);
        }
      } finally {
        await lab.ssh('lb3', `kill ${pid}; for i in $(seq 50); do kill -0 ${pid} 2>/dev/null || break; sleep 0.1; done`);
      }
      assert.notEqual((await lab.ssh('lb3', `kill -0 ${pid}`)).code, 0, 'the foreign keepalived is gone');

      // One-way block: lb2 drops incoming VRRP; lb1 → lb2 is lost, lb2 → lb1 still works.
      const nft = await lab.ssh('lb2', `${apt} install --no-install-recommends nftables >/dev/null 2>&1 && ` +
        "nft add table inet kadeploy_test && nft add chain inet kadeploy_test input '{ type filter hook input priority 0; policy accept; }' && " +
        'nft add rule inet kadeploy_test input ip protocol 112 drop');
      ok(nft, 'nft rule on lb2');
      try {
        const blocked = await kadeploy(['preflight', inv]);
        assert.equal(blocked.code, 1, text(blocked));
        assert.match(blocked.stdout, /lb1 → lb2\s+FAIL\s+VRRP from lb1 does not arrive at lb2 \(multicast 224\.0\.0\.18 on eth0\); lb2 → lb1 works — likely a firewall on lb2/);
        assert.match(blocked.stdout, /lb2 → lb1\s+PASS/);
        assert.match(blocked.stdout, /foreign VRRP\s+vrid 51\s+PASS/);
      } finally {
        ok(await lab.ssh('lb2', 'nft delete table inet kadeploy_test'), 'undo the nft rule');
      }

      // Clean again: apply runs preflight (passes) before the first deploy, not before the next one.
      ok(await kadeploy(['preflight', inv]), 'preflight after cleaning up');
      const first = await kadeploy(['apply', inv]);
      ok(first, 'first deploy');
      assert.match(first.stderr, /preflight: first deploy of cluster\.yaml/);
      assert.match(first.stderr, /preflight passed/);
      const again = await kadeploy(['apply', inv]);
      ok(again, 're-apply');
      assert.doesNotMatch(again.stderr, /preflight/);
    });
  });
});
