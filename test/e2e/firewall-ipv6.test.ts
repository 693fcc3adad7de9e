// IPv6 instances through the node firewalls: keepalived's VRRPv3 over IPv6 comes from each node's
// link-local address (to ff02::12), so lb2's firewall dropping IPv6 VRRP splits the IPv6 instance
// while the IPv4 one stays whole. nftables (an inet chain with `ip6 nexthdr 112 drop`): `check`
// refuses before any change naming lb2 and the rule; `off` splits the IPv6 instance (both hold its
// VIP); `manage` lets fe80::/10 in on eth0 and converges, persisted, idempotent; `off` removes it.
// Then ip6tables (nf_tables backend, saved by netfilter-persistent): the same, through ip6tables.
// And the managers: firewalld on lb1, ufw on lb2 (both dropping VRRP of both families): `check` names
// the IPv6 VRRP each drops and its own command; `manage` adds a family="ipv6" rich rule and `ufw allow
// in on eth0 from fe80::/10 proto vrrp`, one holder, idempotent, kept across the managers' reload;
// `off` removes them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { waitHolders, withLab, type Lab } from './lab-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-firewall-ipv6-'));
const VIP6 = 'fd00:93::100';

/** The lab's inventory plus an IPv6 instance (VRRPv3; link-local first VIP, then a ULA VIP) on eth0. */
function inventory(lab: Lab, mode?: string): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  doc.setIn(['vrrp_instances', 'VI_6'], doc.createNode({ virtual_router_id: 61, interface: 'eth0', advert_int: 1, version: 3, virtual_ipaddresses: ['fe80::93:1/64', `${VIP6}/64`] }));
  if (mode) doc.set('firewall', mode);
  const file = join(dir, `${mode ?? 'check'}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** The nodes holding the IPv6 VIP once they are `want` (polled for up to 20 s), read with `ip -6 addr`. */
async function waitHolders6(lab: Lab, want: string[]): Promise<string[]> {
  let holders: string[] = [];
  for (let i = 0; i < 80; i++) {
    holders = [];
    for (const n of lab.nodes) if ((await lab.exec(n.name, 'ip -6 -o addr show dev eth0')).stdout.includes(` ${VIP6}/`)) holders.push(n.name);
    if (holders.join() === want.join()) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return holders;
}

const INSERT6 = `nft insert rule inet filter input meta l4proto 112 ip6 saddr '{ fe80::/10 }' iifname '{ "eth0" }' accept comment '"kadeploy-vrrp"'`;

describe('firewall: IPv6 VRRP (link-local sources) through nftables and ip6tables', { timeout: 900_000 }, () => {
  it('check refuses naming lb2, off splits the IPv6 instance, manage converges it, off removes the rule', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const linkLocal = await lab.exec('lb1', 'ip -6 -o addr show dev eth0 scope link');
      assert.match(linkLocal.stdout, /inet6 fe80::/, 'the nodes have a link-local address on eth0');
      const apt = `-o Acquire::http::Proxy=${lab.proxyUrl}`;
      const setup = await lab.exec(
        'lb2',
        `export DEBIAN_FRONTEND=noninteractive; apt-get -q ${apt} update >/dev/null && apt-get -y -q ${apt} install --no-install-recommends nftables >/dev/null && ` +
          // IPv6 VRRP dropped by the saved ruleset nftables.service loads; IPv4 VRRP passes.
          `printf '%s\\n' '#!/usr/sbin/nft -f' 'flush ruleset' 'table inet filter {' '  chain input {' '    type filter hook input priority 0; policy accept;' '    ip6 nexthdr 112 drop' '  }' '}' > /etc/nftables.conf && ` +
          `systemctl enable -q nftables && systemctl restart nftables && nft list chain inet filter input`,
      );
      assert.equal(setup.code, 0, setup.stderr);
      assert.match(setup.stdout, /ip6 nexthdr 112 drop/);

      // check (the default): refused before any change, naming lb2, the family, the interface and the rule.
      const check = await kadeploy(['apply', inventory(lab)]);
      assert.notEqual(check.code, 0, text(check));
      assert.match(text(check), /lb2: VRRP from the other nodes would be dropped/);
      assert.ok(text(check).includes('nftables chain inet filter input drops IPv6 VRRP on eth0 (rule "ip6 nexthdr 112 drop")'), text(check));
      assert.ok(text(check).includes(INSERT6), text(check));
      assert.doesNotMatch(text(check), /lb1: VRRP from the other nodes/, 'lb1 has no firewall');
      for (const n of lab.nodes) assert.notEqual((await lab.exec(n.name, 'dpkg -s keepalived >/dev/null 2>&1')).code, 0, `${n.name}: nothing installed`);

      // off: deployed as asked; the IPv6 instance splits (lb2 hears no VRRPv3), the IPv4 one does not.
      const off = await kadeploy(['apply', inventory(lab, 'off'), '--skip-preflight']);
      t.diagnostic(`firewall: off -> exit ${off.code}`);
      assert.match(off.stdout, /validate \/etc\/keepalived\/keepalived\.conf/, 'keepalived -t checked the rendered config');
      for (const n of lab.nodes) {
        const test = await lab.exec(n.name, 'keepalived -t -f /etc/keepalived/keepalived.conf');
        assert.equal(test.code, 0, `${n.name}: keepalived -t accepts the IPv6 instance: ${test.stdout}${test.stderr}`);
      }
      assert.deepEqual(await waitHolders6(lab, ['lb1', 'lb2']), ['lb1', 'lb2'], 'split brain of the IPv6 instance while lb2 drops IPv6 VRRP');
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'the IPv4 instance is whole');

      // manage: kadeploy's rule first in lb2's chain; lb2 hears lb1's VRRPv3 again.
      const manage = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manage.code, 0, text(manage));
      assert.match(manage.stdout, /let IPv6 VRRP from link-local addresses on eth0 through nftables chain inet filter input/);
      const chain = (await lab.exec('lb2', 'nft list chain inet filter input')).stdout;
      const own = chain.indexOf('comment "kadeploy-vrrp"');
      assert.ok(own >= 0 && own < chain.indexOf('ip6 nexthdr 112 drop'), chain);
      assert.match(chain, /meta l4proto 112 ip6 saddr fe80::\/10 iifname "eth0" accept comment "kadeploy-vrrp"/);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'one holder of the IPv6 VIP');

      // Idempotent; persisted through /etc/nftables.conf (a restart of nftables keeps it first).
      const again = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(again.code, 0, text(again));
      assert.doesNotMatch(again.stdout, /let (IPv6 )?VRRP|nftables\.conf/);
      assert.match((await lab.exec('lb2', 'cat /etc/nftables.kadeploy.conf')).stdout, /insert rule inet filter input meta l4proto 112 ip6 saddr \{ fe80::\/10 \} iifname \{ "eth0" \}/);
      const restart = await lab.exec('lb2', 'systemctl restart nftables && nft list chain inet filter input');
      assert.equal(restart.code, 0, restart.stderr);
      assert.ok(restart.stdout.indexOf('kadeploy-vrrp') >= 0 && restart.stdout.indexOf('kadeploy-vrrp') < restart.stdout.indexOf('ip6 nexthdr 112 drop'), restart.stdout);
      assert.equal((restart.stdout.match(/kadeploy-vrrp/g) ?? []).length, 1);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'still one holder after the restart');

      // off after manage: kadeploy's rule, include line and file are gone; the user's rule stays.
      const off2 = await kadeploy(['apply', inventory(lab, 'off')]);
      assert.equal(off2.code, 0, text(off2));
      const left = await lab.exec('lb2', 'nft list chain inet filter input; grep -c kadeploy /etc/nftables.conf; test -e /etc/nftables.kadeploy.conf && echo present');
      assert.doesNotMatch(left.stdout, /kadeploy-vrrp|present/, left.stdout);
      assert.match(left.stdout, /ip6 nexthdr 112 drop/);
      assert.match(left.stdout, /^0$/m);
      assert.deepEqual(await waitHolders6(lab, ['lb1', 'lb2']), ['lb1', 'lb2'], 'split again without the rule');

      // ip6tables (nf_tables backend) instead, its rules saved by netfilter-persistent.
      const ipt = await lab.exec(
        'lb2',
        `export DEBIAN_FRONTEND=noninteractive; systemctl disable -q --now nftables && nft flush ruleset && ` +
          `echo 'iptables-persistent iptables-persistent/autosave_v4 boolean false' | debconf-set-selections; ` +
          `echo 'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections; ` +
          `apt-get -y -q ${apt} install --no-install-recommends iptables iptables-persistent >/dev/null && ` +
          `ip6tables -A INPUT -p 112 -j DROP && netfilter-persistent save >/dev/null 2>&1 && ip6tables -V && ip6tables -S INPUT`,
      );
      assert.equal(ipt.code, 0, ipt.stdout + ipt.stderr);
      const dropRule = ipt.stdout.split('\n').find((l) => l.startsWith('-A INPUT'))!;
      const backend = /^ip6tables v\S+ \((\S+)\)/m.exec(ipt.stdout)![1]!;
      const refused = await kadeploy(['apply', inventory(lab)]);
      assert.notEqual(refused.code, 0, text(refused));
      assert.ok(text(refused).includes(`ip6tables INPUT (${backend}) drops IPv6 VRRP on eth0 (rule "${dropRule}")`), text(refused));
      assert.ok(text(refused).includes('ip6tables -I INPUT -s fe80::/10 -i eth0 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT'), text(refused));

      const manage6 = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manage6.code, 0, text(manage6));
      assert.match(manage6.stdout, /save the iptables rules \(netfilter-persistent\)/);
      assert.match((await lab.exec('lb2', 'cat /etc/iptables/rules.v6')).stdout, /-s fe80::\/10 -i eth0 .*kadeploy-vrrp/);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'one holder through ip6tables');
      // What boot does: netfilter-persistent loads the saved rules.
      const reload = await lab.exec('lb2', 'ip6tables -F INPUT && netfilter-persistent reload >/dev/null 2>&1; ip6tables -S INPUT');
      assert.ok(reload.stdout.indexOf('kadeploy-vrrp') >= 0 && reload.stdout.indexOf('kadeploy-vrrp') < reload.stdout.indexOf(dropRule), reload.stdout);
      const again6 = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(again6.code, 0, text(again6));
      assert.doesNotMatch(again6.stdout, /let (IPv6 )?VRRP|save the iptables/);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'one holder after the reload');

      const off6 = await kadeploy(['apply', inventory(lab, 'off')]);
      assert.equal(off6.code, 0, text(off6));
      const left6 = await lab.exec('lb2', 'ip6tables -S INPUT; cat /etc/iptables/rules.v6');
      assert.doesNotMatch(left6.stdout, /kadeploy-vrrp/, left6.stdout);
      assert.ok(left6.stdout.includes(dropRule), left6.stdout);
    });
  });

  it('firewalld (lb1) and ufw (lb2): check names the IPv6 VRRP each drops, manage adds their own rules, off removes them', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const apt = (pkgs: string) =>
        `export DEBIAN_FRONTEND=noninteractive; apt-get -q -o Acquire::http::Proxy=${lab.proxyUrl} update >/dev/null && ` +
        `apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl} install --no-install-recommends ${pkgs} >/dev/null`;
      // netbase: firewalld needs /etc/protocols. Its default zone allows ssh, as ufw does once told.
      const fwd = await lab.exec('lb1', `${apt('netbase firewalld')} && systemctl enable -q --now firewalld && firewall-cmd --state`);
      assert.equal(fwd.code, 0, fwd.stdout + fwd.stderr);
      const ufw = await lab.exec('lb2', `${apt('ufw')} && ufw allow 22/tcp >/dev/null && ufw --force enable && grep '^IPV6=' /etc/default/ufw`);
      assert.equal(ufw.code, 0, ufw.stdout + ufw.stderr);
      assert.match(ufw.stdout, /IPV6=yes/);

      const rich6 = 'rule family="ipv6" source address="fe80::/10" protocol value="vrrp" accept';
      const check = await kadeploy(['apply', inventory(lab)]);
      assert.notEqual(check.code, 0, text(check));
      assert.match(text(check), /lb1: VRRP from the other nodes would be dropped[^]*firewalld zone public drops IPv6 VRRP on eth0 \(zone target default, no rule accepts VRRP\)/);
      assert.ok(text(check).includes(`firewall-cmd --permanent --zone=public '--add-rich-rule=${rich6}'`), text(check));
      assert.match(text(check), /lb2: VRRP from the other nodes would be dropped[^]*ufw drops IPv6 VRRP on eth0 \(default incoming policy deny, no rule allows VRRP\)/);
      assert.ok(text(check).includes('ufw allow in on eth0 from fe80::/10 proto vrrp comment kadeploy-vrrp'), text(check));

      const manage = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(manage.code, 0, text(manage));
      assert.match(manage.stdout, /let IPv6 VRRP on eth0 through firewalld zone public \(permanent\)/);
      assert.match(manage.stdout, /let IPv6 VRRP on eth0 through ufw/);
      const rules = await lab.exec('lb1', 'firewall-cmd --permanent --list-rich-rules; echo @@; firewall-cmd --list-rich-rules');
      for (const layer of rules.stdout.split('@@')) assert.ok(layer.includes(rich6), rules.stdout);
      assert.match((await lab.exec('lb2', 'ufw show added')).stdout, /ufw allow in on eth0 from fe80::\/10 proto vrrp comment 'kadeploy-vrrp'/);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'one holder of the IPv6 VIP');
      assert.deepEqual(await waitHolders(lab, ['lb1']), ['lb1'], 'one holder of the IPv4 VIP');

      const again = await kadeploy(['apply', inventory(lab, 'manage')]);
      assert.equal(again.code, 0, text(again));
      assert.doesNotMatch(again.stdout, /let (IPv6 )?VRRP/);
      assert.equal((await lab.exec('lb1', 'firewall-cmd --reload')).code, 0);
      assert.equal((await lab.exec('lb2', 'ufw reload')).code, 0);
      await sleep(4000);
      assert.deepEqual(await waitHolders6(lab, ['lb1']), ['lb1'], 'one holder after the reloads');

      const off = await kadeploy(['apply', inventory(lab, 'off')]);
      assert.equal(off.code, 0, text(off));
      assert.doesNotMatch((await lab.exec('lb1', 'firewall-cmd --permanent --list-rich-rules; firewall-cmd --list-rich-rules')).stdout, /fe80::\/10/);
      assert.doesNotMatch((await lab.exec('lb2', 'ufw show added')).stdout, /kadeploy-vrrp/);
    });
  });
});
