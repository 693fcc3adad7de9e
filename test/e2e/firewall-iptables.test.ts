// Issue 14, iptables (legacy backend) saved by netfilter-persistent: lb2's INPUT drops VRRP. `check`
// fails naming the rule; `manage` inserts kadeploy's rule and saves it; after
// `netfilter-persistent reload` (what boot runs) the rule is back, one node holds the VIP, and a
// second apply changes nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { waitHolders, withLab, type Lab } from './lab-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-firewall-iptables-'));

function manageInventory(lab: Lab): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  doc.set('firewall', 'manage');
  const file = join(dir, 'manage.yaml');
  writeFileSync(file, doc.toString());
  return file;
}

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

describe('firewall: VRRP through iptables (legacy) with netfilter-persistent', { timeout: 900_000 }, () => {
  it('check names the rule; manage inserts and saves it; it survives a reload', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const lb1 = lab.nodes[0]!;
      const setup = await lab.exec(
        'lb2',
        `export DEBIAN_FRONTEND=noninteractive; echo 'iptables-persistent iptables-persistent/autosave_v4 boolean false' | debconf-set-selections; ` +
          `echo 'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections; ` +
          `apt-get -q -o Acquire::http::Proxy=${lab.proxyUrl} update >/dev/null && ` +
          `apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl} install --no-install-recommends iptables iptables-persistent >/dev/null && ` +
          `update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy && iptables -A INPUT -p 112 -j DROP && netfilter-persistent save >/dev/null 2>&1 && iptables -V && iptables -S INPUT`,
      );
      assert.equal(setup.code, 0, setup.stdout + setup.stderr);
      assert.match(setup.stdout, /\(legacy\)/);
      const dropRule = setup.stdout.split('\n').find((l) => l.startsWith('-A INPUT'))!;

      const check = await kadeploy(['apply', lab.inventoryPath]);
      assert.notEqual(check.code, 0, text(check));
      assert.ok(text(check).includes(`iptables INPUT (legacy) drops VRRP from ${lb1.ip} (rule "${dropRule}")`), text(check));
      assert.ok(text(check).includes(`iptables -I INPUT -s ${lb1.ip} -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT`), text(check));

      const manage = await kadeploy(['apply', manageInventory(lab)]);
      assert.equal(manage.code, 0, text(manage));
      assert.match(manage.stdout, /save the iptables rules \(netfilter-persistent\)/);
      assert.match((await lab.exec('lb2', 'cat /etc/iptables/rules.v4')).stdout, /kadeploy-vrrp/);
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder');

      // What boot does: netfilter-persistent loads the saved rules.
      const reload = await lab.exec('lb2', 'iptables -F INPUT && netfilter-persistent reload >/dev/null 2>&1; iptables -S INPUT');
      assert.ok(reload.stdout.indexOf('kadeploy-vrrp') >= 0 && reload.stdout.indexOf('kadeploy-vrrp') < reload.stdout.indexOf(dropRule), reload.stdout);
      await sleep(3000);
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder after the reload');
      const again = await kadeploy(['apply', manageInventory(lab)]);
      assert.equal(again.code, 0, text(again));
      assert.doesNotMatch(again.stdout, /let VRRP|save the iptables/);

      // The operator's own layout instead: policy DROP, VRRP accepted in a chain INPUT jumps to for
      // any interface but lo. check follows the jump: the apply goes ahead, one holder, nothing added.
      const own = await lab.exec(
        'lb2',
        `iptables -F INPUT && iptables -N lan_in && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && ` +
          `iptables -A INPUT ! -i lo -j lan_in && iptables -A lan_in -s ${lb1.ip}/32 -p 112 -j ACCEPT && iptables -A INPUT -p 112 -j DROP && iptables -P INPUT DROP`,
      );
      assert.equal(own.code, 0, own.stderr);
      try {
        const followed = await kadeploy(['apply', lab.inventoryPath]);
        assert.equal(followed.code, 0, text(followed));
        assert.doesNotMatch((await lab.exec('lb2', 'iptables -S')).stdout, /kadeploy-vrrp/, 'check adds nothing');
        assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'lb2 hears lb1 through lan_in');
        // The keepalived guides' rule: multicast to 224.0.0.0/8 on eth0 accepted (no protocol named).
        const guide = await lab.exec('lb2', 'iptables -F INPUT && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -i eth0 -d 224.0.0.0/8 -j ACCEPT && iptables -A INPUT -p 112 -j DROP');
        assert.equal(guide.code, 0, guide.stderr);
        const byDestination = await kadeploy(['apply', lab.inventoryPath]);
        assert.equal(byDestination.code, 0, text(byDestination));
        assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'lb2 hears lb1 through the multicast rule');
      } finally {
        await lab.exec('lb2', 'iptables -P INPUT ACCEPT');
      }
    });
  });
});
