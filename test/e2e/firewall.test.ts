// Issue 14, firewalls: an nftables rule on lb2 drops VRRP. With `firewall: check` (the default) apply
// fails before any change, naming the node, the rule and the rule to add; with `off` the cluster
// splits (both nodes hold the VIP); with `manage` apply inserts the rule and the split brain is gone,
// and the rule survives `systemctl restart nftables` and a reboot; `off` then removes it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { startNode, stopNode } from '../../src/lab/index.js';
import { kadeploy, type CliResult } from '../support/cli.js';
import { waitHolders, withLab, type Lab } from './lab-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-firewall-'));

function inventory(lab: Lab, mode: string): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  doc.set('firewall', mode);
  const file = join(dir, `${mode}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

describe('firewall: VRRP through nftables', { timeout: 900_000 }, () => {
  it('check fails naming the rule, off splits the cluster, manage converges it', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const setup = await lab.exec(
        'lb2',
        `export DEBIAN_FRONTEND=noninteractive; apt-get -q -o Acquire::http::Proxy=${lab.proxyUrl} update >/dev/null && ` +
          `apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl} install --no-install-recommends nftables >/dev/null && ` +
          // The dropping rule is in the saved ruleset that nftables.service loads at boot and restart.
          `printf '%s\\n' '#!/usr/sbin/nft -f' 'flush ruleset' 'table inet filter {' '  chain input {' '    type filter hook input priority 0; policy accept;' '    ip protocol 112 drop' '  }' '}' > /etc/nftables.conf && ` +
          `systemctl enable -q nftables && systemctl restart nftables && nft list chain inet filter input`,
      );
      assert.equal(setup.code, 0, setup.stderr);
      assert.match(setup.stdout, /ip protocol 112 drop/);

      // check (the default): refused before any change.
      const check = await kadeploy(['apply', lab.inventoryPath]);
      assert.notEqual(check.code, 0, text(check));
      assert.match(text(check), /lb2: VRRP from the other nodes would be dropped/);
      assert.ok(text(check).includes(`nftables chain inet filter input drops VRRP from ${lab.nodes[0]!.ip} (rule "ip protocol 112 drop")`), text(check));
      assert.ok(text(check).includes(`nft insert rule inet filter input ip protocol 112 ip saddr '{ ${lab.nodes[0]!.ip} }' accept comment '"kadeploy-vrrp"'`), text(check));
      for (const n of lab.nodes) assert.notEqual((await lab.exec(n.name, 'dpkg -s keepalived >/dev/null 2>&1')).code, 0, `${n.name}: nothing installed`);

      // off: deployed as asked (preflight, which would refuse this first deploy, skipped), and the dropped adverts split the cluster.
      const off = await kadeploy(['apply', inventory(lab, 'off'), '--skip-preflight']);
      t.diagnostic(`firewall: off -> exit ${off.code}`);
      assert.deepEqual(await waitHolders(lab, ['lb1', 'lb2']), ['lb1', 'lb2'], 'split brain while lb2 drops VRRP');

      // manage: the rule goes in first in lb2's chain, and lb2 hears lb1 again.
      const manage = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manage.code, 0, text(manage));
      assert.match(manage.stdout, /let VRRP from 10\.\d+\.\d+\.\d+ through nftables chain inet filter input/);
      const chain = (await lab.exec('lb2', 'nft list chain inet filter input')).stdout;
      assert.ok(chain.indexOf('comment "kadeploy-vrrp"') >= 0 && chain.indexOf('comment "kadeploy-vrrp"') < chain.indexOf('ip protocol 112 drop'), chain);
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder: the split brain is gone');
      assert.equal((await lab.exec('lb1', 'command -v nft')).code === 0 ? 'nft' : 'none', 'none', 'lb1 has no nftables: untouched');

      // Idempotent: a second apply changes nothing, the rule is there once.
      const again = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(again.code, 0, text(again));
      assert.doesNotMatch(again.stdout, /let VRRP/);
      const rules = (await lab.exec('lb2', 'nft list chain inet filter input')).stdout.match(/kadeploy-vrrp/g) ?? [];
      assert.equal(rules.length, 1);

      // Persistent: nftables.service reloads /etc/nftables.conf (which includes kadeploy's file).
      assert.match((await lab.exec('lb2', 'cat /etc/nftables.conf')).stdout, /^include "\/etc\/nftables\.kadeploy\.conf"$/m);
      const restart = await lab.exec('lb2', 'systemctl restart nftables && nft list chain inet filter input');
      assert.equal(restart.code, 0, restart.stderr);
      assert.ok(restart.stdout.indexOf('kadeploy-vrrp') >= 0 && restart.stdout.indexOf('kadeploy-vrrp') < restart.stdout.indexOf('ip protocol 112 drop'), restart.stdout);
      await sleep(3000);
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'still one holder after the restart');
      const afterRestart = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(afterRestart.code, 0, text(afterRestart));
      assert.doesNotMatch(afterRestart.stdout, /let VRRP|nftables\.conf/, 'nothing to do after the restart');

      // A reboot of lb2: nftables.service loads the saved ruleset at boot, kadeploy's rule with it.
      await stopNode('lb2', { name: lab.name });
      await startNode('lb2', { name: lab.name });
      const booted = await lab.exec('lb2', 'nft list chain inet filter input');
      assert.ok(booted.stdout.indexOf('kadeploy-vrrp') >= 0 && booted.stdout.indexOf('kadeploy-vrrp') < booted.stdout.indexOf('ip protocol 112 drop'), booted.stdout);
      await sleep(4000);
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'one holder after lb2 rebooted');

      // off after manage: kadeploy's rule, include line and file are gone; the user's rule stays.
      const off2 = await kadeploy(['apply', inventory(lab, 'off')]);
      assert.equal(off2.code, 0, text(off2));
      const left = await lab.exec('lb2', 'nft list chain inet filter input; grep -c kadeploy /etc/nftables.conf; test -e /etc/nftables.kadeploy.conf && echo present');
      assert.doesNotMatch(left.stdout, /kadeploy-vrrp|present/, left.stdout);
      assert.match(left.stdout, /ip protocol 112 drop/);
      assert.match(left.stdout, /^0$/m);

      // An operator's chain that accepts VRRP from another source only (policy drop): judged by the
      // peer's address, it drops lb1's adverts — check refuses, manage lets lb1 through.
      const lb1 = lab.nodes[0]!;
      const narrowRules = ['flush ruleset', 'table inet filter {', '  chain input {', '    type filter hook input priority 0; policy drop;', '    iif "lo" accept', '    ct state established,related accept', '    tcp dport 22 accept', '    ip saddr 192.0.2.250 ip protocol 112 accept', '  }', '}'];
      const narrow = await lab.exec('lb2', `printf '%s\\n' ${narrowRules.map((l) => `'${l}'`).join(' ')} > /tmp/narrow.nft && nft -f /tmp/narrow.nft`);
      assert.equal(narrow.code, 0, narrow.stderr);
      const refused = await kadeploy(['apply', lab.inventoryPath]);
      assert.notEqual(refused.code, 0, text(refused));
      assert.ok(text(refused).includes(`nftables chain inet filter input drops VRRP from ${lb1.ip} (policy drop)`), text(refused));
      const let1 = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(let1.code, 0, text(let1));
      assert.ok(let1.stdout.includes(`let VRRP from ${lb1.ip} through nftables chain inet filter input`), let1.stdout);
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'one holder once lb1 is let through');

      // The cluster shrunk to lb2: the rule kept for its former peer goes.
      const doc = parseDocument(readFileSync(inventory(lab, 'manage'), 'utf8'));
      doc.deleteIn(['nodes', 0]);
      const alone = join(dir, 'lb2-alone.yaml');
      writeFileSync(alone, doc.toString());
      const shrunk = await kadeploy(['apply', alone]);
      assert.equal(shrunk.code, 0, text(shrunk));
      assert.match(shrunk.stdout, /remove kadeploy's VRRP rule/);
      assert.doesNotMatch((await lab.exec('lb2', 'nft list chain inet filter input')).stdout, /kadeploy-vrrp/);

      // A hand-written ruleset that lets lb1 through in a chain of its own (policy drop, a jump, a set
      // of peers): check follows the jump and reads the set, so the apply goes ahead; one holder.
      const setRules = [
        'flush ruleset', 'table inet filter {', '  set lb_peers {', '    type ipv4_addr', '    flags interval', `    elements = { 192.0.2.0/24, ${lb1.ip} }`, '  }',
        '  chain input {', '    type filter hook input priority 0; policy drop;', '    iif "lo" accept', '    ct state established,related accept', '    tcp dport 22 accept',
        '    iifname != "lo" jump lan_in', '  }', '  chain lan_in {', '    ip saddr @lb_peers ip protocol 112 accept', '  }', '}',
      ];
      const jumped = await lab.exec('lb2', `printf '%s\\n' ${setRules.map((l) => `'${l}'`).join(' ')} > /tmp/jump.nft && nft -f /tmp/jump.nft`);
      assert.equal(jumped.code, 0, jumped.stderr);
      const accepted = await kadeploy(['apply', lab.inventoryPath]);
      assert.equal(accepted.code, 0, text(accepted));
      assert.doesNotMatch((await lab.exec('lb2', 'nft list ruleset')).stdout, /kadeploy-vrrp/, 'check adds nothing');
      assert.deepEqual(await waitHolders(lab, ['lb1'], 30), ['lb1'], 'lb2 hears lb1 through the jump');
    });
  });
});
