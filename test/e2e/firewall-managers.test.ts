// Issue 14, firewalls run by a manager: lb1 runs firewalld (default zone public), lb2 runs ufw
// (default deny incoming); both drop VRRP. `check` fails naming what drops it on each node with the
// manager's own command; `manage` adds the rules through firewall-cmd (permanent + runtime) and ufw,
// one node holds the VIP, a second apply changes nothing, and the rules survive the managers' reload.
// Then eth0 moves to zone internal on lb1: VRRP is judged in that zone, the rule goes there, and
// kadeploy's own rule leaves zone public. A third peer (lb3, not running: --skip-unreachable) gets its
// rule, which goes again once lb3 leaves the inventory. Rules the user adds by hand, identical in form
// (one exactly the rule kadeploy had in zone public), stay through manage and `off`; `off` removes
// only kadeploy's (recorded in /var/lib/kadeploy/firewalld-rules).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { waitHolders, withLab, type Lab } from './lab-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-firewall-managers-'));

function inventory(lab: Lab, mode: string, extraNode?: { name: string; address: string }): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  doc.set('firewall', mode);
  if (extraNode) doc.addIn(['nodes'], { ...extraNode, state: 'BACKUP', priority: 130 });
  const file = join(dir, `${mode}${extraNode ? `-${extraNode.name}` : ''}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

describe('firewall: VRRP through firewalld and ufw', { timeout: 900_000 }, () => {
  it('check names what drops VRRP, manage converges with the managers\' own rules, idempotent and persistent', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const apt = (pkgs: string) =>
        `export DEBIAN_FRONTEND=noninteractive; apt-get -q -o Acquire::http::Proxy=${lab.proxyUrl} update >/dev/null && ` +
        `apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl} install --no-install-recommends ${pkgs} >/dev/null`;
      const [lb1, lb2] = lab.nodes as [(typeof lab.nodes)[0], (typeof lab.nodes)[0]];
      // netbase: firewalld needs /etc/protocols. Its default zone allows ssh, as ufw does once told.
      const fwd = await lab.exec('lb1', `${apt('netbase firewalld')} && systemctl enable -q --now firewalld && firewall-cmd --state`);
      assert.equal(fwd.code, 0, fwd.stdout + fwd.stderr);
      const ufw = await lab.exec('lb2', `${apt('ufw')} && ufw allow 22/tcp >/dev/null && ufw --force enable && ufw status verbose`);
      assert.equal(ufw.code, 0, ufw.stdout + ufw.stderr);
      assert.match(ufw.stdout, /Default: deny \(incoming\)/);

      // check (the default): refused before any change, each node's manager and fix named.
      const check = await kadeploy(['apply', lab.inventoryPath]);
      assert.notEqual(check.code, 0, text(check));
      assert.match(text(check), new RegExp(`lb1: VRRP from the other nodes would be dropped[^]*firewalld zone public drops VRRP from ${lb2.ip.replace(/\./g, '\\.')} \\(zone target default, no rule accepts VRRP\\)`));
      assert.ok(text(check).includes(`firewall-cmd --permanent --zone=public '--add-rich-rule=rule family="ipv4" source address="${lb2.ip}" protocol value="vrrp" accept'`), text(check));
      assert.match(text(check), new RegExp(`lb2: VRRP from the other nodes would be dropped[^]*ufw drops VRRP from ${lb1.ip.replace(/\./g, '\\.')} \\(default incoming policy deny, no rule allows VRRP\\)`));
      assert.ok(text(check).includes(`ufw allow from ${lb1.ip} proto vrrp comment kadeploy-vrrp`), text(check));
      for (const n of lab.nodes) assert.notEqual((await lab.exec(n.name, 'dpkg -s keepalived >/dev/null 2>&1')).code, 0, `${n.name}: nothing installed`);

      // manage: the managers' own rules, then one holder.
      const manage = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manage.code, 0, text(manage));
      assert.match(manage.stdout, /let VRRP from [\d.]+ through firewalld zone public \(permanent\)/);
      assert.match(manage.stdout, /let VRRP from [\d.]+ through ufw/);
      const rich = `rule family="ipv4" source address="${lb2.ip}" protocol value="vrrp" accept`;
      const perm = await lab.exec('lb1', 'firewall-cmd --permanent --list-rich-rules; echo @@; firewall-cmd --list-rich-rules; nft list ruleset | grep -c kadeploy-vrrp || true');
      assert.deepEqual(perm.stdout.split('@@').map((s) => s.trim().split('\n')[0]), [rich, rich], perm.stdout);
      assert.match(perm.stdout, /^0$/m, 'no raw nft rule under firewalld');
      assert.match((await lab.exec('lb2', 'ufw show added')).stdout, new RegExp(`ufw allow from ${lb1.ip.replace(/\./g, '\\.')} proto vrrp comment 'kadeploy-vrrp'`));
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder');

      // Idempotent.
      const again = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(again.code, 0, text(again));
      assert.doesNotMatch(again.stdout, /let VRRP/);

      // Persistent: the managers reload their saved configuration; VRRP still passes.
      assert.equal((await lab.exec('lb1', 'firewall-cmd --reload')).code, 0);
      assert.equal((await lab.exec('lb2', 'ufw reload')).code, 0);
      await sleep(4000);
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder after the reloads');
      const after = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(after.code, 0, text(after));
      assert.doesNotMatch(after.stdout, /let VRRP/, 'nothing lost by the reloads');

      // eth0 moved to zone internal: VRRP is judged there now (the rule in the default zone no
      // longer applies); check names that zone, manage adds the rule to it.
      const moved = await lab.exec('lb1', 'firewall-cmd -q --permanent --zone=internal --change-interface=eth0 && firewall-cmd -q --zone=internal --change-interface=eth0 && firewall-cmd --get-zone-of-interface=eth0');
      assert.equal(moved.stdout.trim(), 'internal', moved.stdout + moved.stderr);
      const inInternal = await kadeploy(['apply', lab.inventoryPath]);
      assert.notEqual(inInternal.code, 0, text(inInternal));
      assert.match(text(inInternal), new RegExp(`firewalld zone internal drops VRRP from ${lb2.ip.replace(/\./g, '\\.')}`));
      const manageInternal = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manageInternal.code, 0, text(manageInternal));
      assert.match(manageInternal.stdout, /let VRRP from [\d.]+ through firewalld zone internal \(permanent\)/);
      const internalRules = await lab.exec('lb1', 'firewall-cmd --permanent --zone=internal --list-rich-rules; echo @@; firewall-cmd --zone=internal --list-rich-rules');
      assert.deepEqual(internalRules.stdout.split('@@').map((s) => s.trim()), [rich, rich], internalRules.stdout);
      const settled = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(settled.code, 0, text(settled));
      assert.doesNotMatch(settled.stdout, /let VRRP/);
      // kadeploy's rule in zone public (which no longer sees VRRP from lb2) went in the same apply.
      const ip2 = lb2.ip.replace(/\./g, '\\.');
      assert.match(manageInternal.stdout, new RegExp(`remove kadeploy's VRRP rule for ${ip2} in firewalld zone public \\(permanent\\)`));
      const rulesIn = async (zone: string) => {
        const r = await lab.exec('lb1', `firewall-cmd --permanent --zone=${zone} --list-rich-rules; echo @@; firewall-cmd --zone=${zone} --list-rich-rules`);
        return r.stdout.split('@@').map((x) => x.trim().split('\n').filter(Boolean).sort());
      };
      assert.deepEqual(await rulesIn('public'), [[], []], 'public: nothing left of kadeploy');

      // Peers change: lb3 joins (not running, skipped), its rule is added; lb3 leaves, its rule goes.
      const lb3 = { name: 'lb3', address: `${lb2.ip.replace(/\.\d+$/, '.13')}/24` };
      const lb3Rule = `rule family="ipv4" source address="${lb3.address.split('/')[0]}" protocol value="vrrp" accept`;
      const three = await kadeploy(['apply', inventory(lab, 'manage', lb3), '--skip-unreachable']);
      assert.equal(three.code, 0, text(three));
      assert.deepEqual(await rulesIn('internal'), [[rich, lb3Rule].sort(), [rich, lb3Rule].sort()], 'lb3 is a peer');
      const two = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(two.code, 0, text(two));
      assert.match(two.stdout, /remove kadeploy's VRRP rule for [\d.]+\.13 in firewalld zone internal \(permanent\)/);
      assert.deepEqual(await rulesIn('internal'), [[rich], [rich]], "the former peer's rule is gone, lb2's stays");

      // The user's own rules, identical in form: lb2's in zone public (exactly the rule kadeploy had
      // there), a made-up peer's in zone internal. kadeploy leaves them alone, also with `off`.
      const own = `rule family="ipv4" source address="${lb2.ip.replace(/\.\d+$/, '.99')}" protocol value="vrrp" accept`;
      const byHand = await lab.exec('lb1', [['public', rich], ['internal', own]].map(([zone, rule]) => `firewall-cmd -q --permanent --zone=${zone} '--add-rich-rule=${rule}' && firewall-cmd -q --zone=${zone} '--add-rich-rule=${rule}'`).join(' && '));
      assert.equal(byHand.code, 0, byHand.stdout + byHand.stderr);
      const untouched = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(untouched.code, 0, text(untouched));
      assert.doesNotMatch(untouched.stdout, /let VRRP|remove kadeploy/, 'the user\'s rules are not kadeploy\'s');
      const off = await kadeploy(['apply', inventory(lab, 'off')]);
      t.diagnostic(`firewall: off -> exit ${off.code}`);
      assert.match(off.stdout, new RegExp(`remove kadeploy's VRRP rule for ${ip2} in firewalld zone internal \\(permanent\\)`), text(off));
      assert.deepEqual(await rulesIn('internal'), [[own], [own]], "off: kadeploy's rule gone, the user's stays");
      assert.deepEqual(await rulesIn('public'), [[rich], [rich]], "off: the user's rule identical to kadeploy's former one stays");
      assert.equal((await lab.exec('lb1', 'cat /var/lib/kadeploy/firewalld-rules')).stdout, '', 'nothing of kadeploy recorded');
      const offAgain = await kadeploy(['apply', inventory(lab, 'off')]);
      assert.doesNotMatch(offAgain.stdout, /remove kadeploy's VRRP rule/, text(offAgain));
    });
  });
});
