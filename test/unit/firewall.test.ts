// The firewall task on real `nft -a list ruleset` listings (as nft 1.0 prints them): which input
// chains drop VRRP, what `check` says (before any change) and what `manage` inserts, idempotently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIREWALLD_RECORD, FIREWALLD_ZONES } from '../../src/firewall/firewalld.js';
import { IP6TABLES_RULES, IPTABLES_RULES, iptablesBlocks, parseIptables } from '../../src/firewall/iptables.js';
import { kadeployConf, NFT_CONF, NFT_INCLUDE, NFT_KADEPLOY_CONF } from '../../src/firewall/nftables.js';
import { UFW_STATUS } from '../../src/firewall/ufw.js';
import { walkChains, type RuleAction } from '../../src/firewall/manager.js';
import { pruneCommand } from '../../src/ops/backups.js';
import { blocksVrrp, FIREWALL_MANAGER, firewallKind, inputChains, NFT_RULESET } from '../../src/tasks/firewall.js';
import { noop } from '../../src/tasks/kind.js';

const ruleset = (input: string, policy = 'accept') => `table inet filter { # handle 3
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy ${policy};
${input}
\t}
\tchain forward { # handle 2
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
table ip nat { # handle 4
\tchain postrouting { # handle 1
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t}
}
`;
const DROP_VRRP = '\t\tip protocol 112 drop # handle 5';
// As nft lists it: a one-address set is printed as the address.
const MANAGED = (peers: string) => `\t\tip protocol 112 ip saddr ${peers.includes(',') ? `{ ${peers} }` : peers} accept comment "kadeploy-vrrp" # handle 7`;

const facts = (nft: string): HostFacts =>
  ({ os: { id: 'debian', versionId: '12', family: 'debian' }, packages: {}, units: {}, files: {}, addresses: {}, keepalived: null, unless: {}, output: { [NFT_RULESET]: nft } }) as HostFacts;
const want = (mode: 'manage' | 'check' | 'off', peers = ['10.0.0.12']) => ({ kind: 'firewall', task: 'fw', node: 'lb1', mode, peers, interfaces: ['eth0'] });
const ctx = { notified: new Map<string, string>(), backupSuffix: '.bak', runId: 'R', secrets: [] };
const plan = (mode: 'manage' | 'check' | 'off', nft: string, peers?: string[]) => firewallKind.plan!(want(mode, peers), facts(nft), ctx);

describe('firewall: walking the chains as netfilter does', () => {
  // Rules written as their action: "accept", "drop", "return", "jump X", "goto X", "skip" (does not apply).
  const walk = (chains: Record<string, string[]>) =>
    walkChains('input', (name) => chains[name], (rule): RuleAction | undefined => {
      const [verb, target] = rule.split(' ');
      if (verb === 'jump') return { jump: target! };
      if (verb === 'goto') return { goto: target! };
      return verb === 'skip' ? undefined : (verb as RuleAction);
    });
  it('jump comes back, return goes back, goto falls through to the caller of the chain that went', () => {
    assert.deepEqual(walk({ input: ['jump a', 'accept'], a: ['skip'] }), { verdict: 'accept' });
    assert.deepEqual(walk({ input: ['jump a', 'accept'], a: ['drop'] }), { verdict: 'drop', rule: 'drop', chain: 'a' });
    assert.deepEqual(walk({ input: ['jump a', 'accept'], a: ['return', 'drop'] }), { verdict: 'accept' });
    assert.equal(walk({ input: ['goto a', 'accept'], a: ['skip'] }), undefined, 'a goto from the base chain: its policy decides');
    assert.deepEqual(walk({ input: ['jump a', 'accept'], a: ['goto b', 'drop'], b: ['skip'] }), { verdict: 'accept' }, 'b replaced a: back to input');
    assert.deepEqual(walk({ input: ['jump missing', 'drop'] }), { verdict: 'drop', rule: 'drop', chain: 'input' }, 'a chain not listed: passed over');
  });
});

describe('firewall (nftables)', () => {
  it('finds the input base chains only', () => {
    const chains = inputChains(ruleset(DROP_VRRP));
    assert.deepEqual(chains.map((c) => [c.family, c.table, c.chain, c.policy, c.rules.length]), [['inet', 'filter', 'input', 'accept', 1]]);
  });

  it('says which rule or policy drops VRRP, and sees an accept before it', () => {
    assert.equal(blocksVrrp(inputChains(ruleset(DROP_VRRP))[0]!, '10.0.0.12'), 'rule "ip protocol 112 drop"');
    assert.equal(blocksVrrp(inputChains(ruleset('\t\tiif "lo" accept # handle 6', 'drop'))[0]!, '10.0.0.12'), 'policy drop');
    assert.equal(blocksVrrp(inputChains(ruleset('\t\tct state established accept # handle 6\n\t\tcounter drop # handle 8'))[0]!, '10.0.0.12'), 'rule "counter drop"');
    assert.equal(blocksVrrp(inputChains(ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`))[0]!, '10.0.0.12'), undefined);
    assert.equal(blocksVrrp(inputChains(ruleset('\t\ttcp dport 22 accept # handle 6'))[0]!, '10.0.0.12'), undefined);
  });

  it('judges each peer by the sources rules name: an address, a network, a range, a set, a negation', () => {
    const chain = (rules: string, policy = 'drop') => inputChains(ruleset(rules, policy))[0]!;
    // An operator's rule for the first two nodes: the third node's adverts are dropped (split brain).
    const twoPeers = chain('\t\tip saddr { 10.0.0.11, 10.0.0.12 } ip protocol vrrp accept # handle 6');
    assert.equal(blocksVrrp(twoPeers, '10.0.0.12'), undefined);
    assert.equal(blocksVrrp(twoPeers, '10.0.0.13'), 'policy drop');
    const c = plan('check', ruleset('\t\tip saddr { 10.0.0.11, 10.0.0.12 } ip protocol vrrp accept # handle 6', 'drop'), ['10.0.0.12', '10.0.0.13']);
    assert.match(c.blocker!, /drops VRRP from 10\.0\.0\.13 \(policy drop\): add before it/);
    assert.doesNotMatch(c.blocker!, /from 10\.0\.0\.12 \(/);
    // A network or a range holding the peer; an unconditional accept by source.
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.0.0/24 ip protocol 112 accept # handle 6'), '10.0.0.13'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.1.0/24 ip protocol 112 accept # handle 6'), '10.0.0.13'), 'policy drop');
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.0.10-10.0.0.20 meta l4proto vrrp counter packets 3 bytes 120 accept # handle 6'), '10.0.0.13'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.0.0/24 accept # handle 6'), '10.0.0.13'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.0.0/24 accept # handle 6'), '192.168.1.5'), 'policy drop');
    // A drop by source, in an open chain; a negated one; a drop of what is not read here is not ours to judge.
    assert.equal(blocksVrrp(chain('\t\tip saddr 10.0.0.13 counter drop # handle 6', 'accept'), '10.0.0.13'), 'rule "ip saddr 10.0.0.13 counter drop"');
    assert.equal(blocksVrrp(chain('\t\tip saddr != 10.0.0.0/24 ip protocol vrrp drop # handle 6', 'accept'), '10.0.0.13'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip saddr != 10.0.0.0/24 ip protocol vrrp drop # handle 6', 'accept'), '192.168.1.5'), 'rule "ip saddr != 10.0.0.0/24 ip protocol vrrp drop"');
    assert.equal(blocksVrrp(chain('\t\tip saddr @blocklist drop # handle 6', 'accept'), '10.0.0.13'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip saddr @cluster ip protocol vrrp accept # handle 6'), '10.0.0.13'), undefined, 'a named set is not read: taken as holding the peer');
    // A log prefix or comment naming a verdict is not one.
    assert.equal(blocksVrrp(chain('\t\tip protocol vrrp log prefix "drop vrrp: " accept # handle 6'), '10.0.0.13'), undefined);
  });

  it("follows jumps and gotos into the table's chains, reads its named sets and the input interface", () => {
    // A hand-written ruleset as operators write them: policy drop, per-interface chains, a set of peers.
    const table = (input: string, lan: string, policy = 'drop') => `table inet filter { # handle 3
\tset lb_peers { # handle 4
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.0.0/28,
\t\t\t     192.168.7.9 }
\t}
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy ${policy};
${input}
\t}
\tchain lan_in { # handle 2
${lan}
\t}
}
`;
    const blocks = (input: string, lan: string, peer = '10.0.0.12', policy = 'drop') => blocksVrrp(inputChains(table(input, lan, policy))[0]!, peer, ['eth0']);
    const lanVrrp = '\t\tip saddr @lb_peers ip protocol vrrp accept # handle 9';
    assert.equal(blocks('\t\tiifname "eth0" jump lan_in # handle 8', lanVrrp), undefined, 'jump on the VRRP interface, accepted in lan_in by the set');
    assert.equal(blocks('\t\tiifname "eth0" jump lan_in # handle 8', lanVrrp, '10.0.0.99'), 'policy drop', 'a source outside the set');
    assert.equal(blocks('\t\tiifname "eth0" jump lan_in # handle 8', lanVrrp, '192.168.7.9'), undefined, 'the set\'s second line');
    assert.equal(blocks('\t\tiifname "eth1" jump lan_in # handle 8', lanVrrp), 'policy drop', 'a jump for another interface');
    assert.equal(blocks('\t\tiifname "eth*" jump lan_in # handle 8', lanVrrp), undefined, 'an interface wildcard');
    assert.equal(blocks('\t\tiif "lo" accept # handle 7', ''), 'policy drop', 'loopback is not where VRRP arrives');
    assert.equal(blocks('\t\tjump lan_in # handle 8', '\t\tip protocol vrrp drop # handle 9', '10.0.0.12', 'accept'), 'rule "ip protocol vrrp drop" (chain lan_in)');
    assert.equal(blocks('\t\tjump lan_in # handle 8\n\t\tip protocol vrrp accept # handle 10', '\t\treturn # handle 9\n\t\tdrop # handle 11'), undefined, 'return goes back to the caller');
    assert.equal(blocks('\t\tgoto lan_in # handle 8\n\t\tip protocol vrrp accept # handle 10', '\t\ttcp dport 22 accept # handle 9'), 'policy drop', 'after a goto the base chain does not go on');
    assert.equal(blocks('\t\ttcp dport 80 jump lan_in # handle 8', '\t\taccept # handle 9'), 'policy drop', 'a jump for web traffic is not VRRP');
    assert.equal(blocks('\t\tip saddr @unknown_set ip protocol vrrp accept # handle 8', ''), undefined, 'a set not listed: taken as holding the peer');
  });

  it('check: a blocker (apply refuses the plan before any change; verify reports it), naming node, chain, rule and the exact rule to add', () => {
    const c = plan('check', ruleset(DROP_VRRP));
    assert.deepEqual(c.steps, [], 'nothing would run');
    const message = c.blocker ?? '';
    assert.match(message, /^lb1: VRRP from the other nodes would be dropped/);
    assert.match(message, /nftables chain inet filter input drops VRRP from 10\.0\.0\.12 \(rule "ip protocol 112 drop"\)/);
    assert.ok(message.includes(`nft insert rule inet filter input ip protocol 112 ip saddr '{ 10.0.0.12 }' accept comment '"kadeploy-vrrp"'`), message);
    assert.match(message, /firewall: manage/);
    assert.equal(plan('manage', ruleset(DROP_VRRP)).blocker, undefined, 'manage fixes it instead');
  });

  it('manage: inserts the rule first in the chain; then nothing to do; replaced when the peers change', () => {
    const c = plan('manage', ruleset(DROP_VRRP));
    assert.deepEqual(c.steps.map((s) => s.command), [`nft insert rule inet filter input ip protocol 112 ip saddr '{ 10.0.0.12 }' accept comment '"kadeploy-vrrp"'`]);
    assert.deepEqual(plan('manage', ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`)).actions, ['none']);
    assert.deepEqual(plan('check', ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`)).actions, ['none']);
    assert.deepEqual(plan('manage', ruleset(`${MANAGED('10.0.0.13, 10.0.0.12')}\n${DROP_VRRP}`), ['10.0.0.12', '10.0.0.13']).actions, ['none']);
    const stale = plan('check', ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`), ['10.0.0.12', '10.0.0.13']);
    assert.match(stale.blocker!, /kadeploy's rule lets VRRP from 10\.0\.0\.12 through, not from 10\.0\.0\.13 \(rule "ip protocol 112 drop"\): replace it\n {4}nft delete rule inet filter input handle 7 && nft insert rule/);
    assert.equal(plan('check', ruleset(`${MANAGED('10.0.0.12, 10.0.0.13')}\n${DROP_VRRP}`), ['10.0.0.12']).blocker, undefined, 'a former peer let through: nothing dropped');
    const moved = plan('manage', ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`), ['10.0.0.12', '10.0.0.13']);
    assert.deepEqual(moved.steps.map((s) => s.command), [
      'nft delete rule inet filter input handle 7',
      `nft insert rule inet filter input ip protocol 112 ip saddr '{ 10.0.0.12, 10.0.0.13 }' accept comment '"kadeploy-vrrp"'`,
    ]);
  });

  it('a cluster shrunk to this node: manage removes the rule kept for a former peer, check changes nothing', () => {
    const withRule = ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`);
    const c = plan('manage', withRule, []);
    assert.deepEqual(c.actions, ['remove']);
    assert.deepEqual(c.steps.map((s) => s.command), ['nft delete rule inet filter input handle 7']);
    assert.deepEqual(plan('check', withRule, []).actions, ['none']);
    assert.deepEqual(plan('manage', ruleset(DROP_VRRP), []).actions, ['none']);
  });

  it('nothing to do without nft, with an open ruleset, or with firewall: off', () => {
    assert.deepEqual(plan('check', '').summary, 'no nftables input chain');
    assert.deepEqual(plan('check', ruleset('\t\ttcp dport 22 accept # handle 6')).summary, 'nftables lets VRRP through');
    assert.deepEqual(plan('off', ruleset(DROP_VRRP)), noop(want('off'), 'firewall: off (nothing of kadeploy in the firewall)'));
  });
});

const CONF = `#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t\tip protocol 112 drop\n\t}\n}\n`;
const withFiles = (f: HostFacts, files: Record<string, string | null>) =>
  ({ ...f, files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v === null ? null : { content: v, mode: '0644', owner: 'root' }])) }) as HostFacts;
const withOutput = (out: Record<string, string>) => ({ ...facts(''), output: out }) as HostFacts;

describe('firewall: the managed nftables rule persists through /etc/nftables.conf', () => {
  it('manage writes a kadeploy file, includes it once, checks that nftables.service can load it; then nothing to do', () => {
    const f = withFiles(facts(ruleset(DROP_VRRP)), { [NFT_CONF]: CONF, [NFT_KADEPLOY_CONF]: null });
    const c = firewallKind.plan!(want('manage'), f, ctx);
    const own = kadeployConf(inputChains(ruleset(DROP_VRRP)).map((chain) => ({ chain, vrrp: { family: 4, sources: ['10.0.0.12'], interfaces: ['eth0'] } })));
    assert.match(own, /^add table inet filter\nadd chain inet filter input\ninsert rule inet filter input ip protocol 112 ip saddr \{ 10\.0\.0\.12 \} accept comment "kadeploy-vrrp"$/m);
    const [insert, create, include, check, prune] = c.steps;
    assert.match(insert!.command, /^nft insert rule/);
    assert.equal(create!.title, `create ${NFT_KADEPLOY_CONF}`);
    assert.ok(create!.command.startsWith(`printf '%s' '${own.split("'").join("'\\''")}' > ${NFT_KADEPLOY_CONF}.R.tmp && `), create!.command);
    assert.deepEqual(create!.undo, { path: NFT_KADEPLOY_CONF }, 'rollback removes it');
    assert.equal(include!.command, `cp -p ${NFT_CONF} ${NFT_CONF}.bak && { [ -z "$(tail -c 1 ${NFT_CONF})" ] || echo >> ${NFT_CONF}; } && echo '${NFT_INCLUDE}' >> ${NFT_CONF}`);
    assert.deepEqual(include!.undo, { path: NFT_CONF, backup: `${NFT_CONF}.bak` }, 'rollback puts the backup back');
    assert.equal(check!.command, `nft -c -f ${NFT_CONF}`);
    assert.equal(prune!.title, `keep the newest 5 backups of ${NFT_CONF}`, 'the one file backed up has its backups bounded');
    assert.ok(prune!.optional);
    assert.equal(c.steps.length, 5);
    assert.ok(!c.steps.some((s) => s.stdin), 'no upload: a saved plan re-renders only inventory files');
    // Applied: the rule runs and both files are in place.
    const done = withFiles(facts(ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`)), { [NFT_CONF]: `${CONF}\n${NFT_INCLUDE}\n`, [NFT_KADEPLOY_CONF]: own });
    assert.deepEqual(firewallKind.plan!(want('manage'), done, ctx).actions, ['none']);
    // Rule running, file missing (a restore from an old backup): only the file.
    const unsaved = withFiles(facts(ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`)), { [NFT_CONF]: `${CONF}\n${NFT_INCLUDE}\n`, [NFT_KADEPLOY_CONF]: null });
    assert.deepEqual(firewallKind.plan!(want('manage'), unsaved, ctx).steps.map((s) => s.title), [`create ${NFT_KADEPLOY_CONF}`, `check that nftables.service can load ${NFT_CONF}`]);
  });

  it('without /etc/nftables.conf the plan says the rule is not persisted', () => {
    const c = firewallKind.plan!(want('manage'), withFiles(facts(ruleset(DROP_VRRP)), {}), ctx);
    assert.match(c.summary, /not persisted: no \/etc\/nftables\.conf/);
  });

  it('off after manage removes the running rule, the include line and the file (backed up)', () => {
    const own = kadeployConf(inputChains(ruleset(DROP_VRRP)).map((chain) => ({ chain, vrrp: { family: 4, sources: ['10.0.0.12'], interfaces: ['eth0'] } })));
    const f = withFiles(facts(ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`)), { [NFT_CONF]: `${CONF}\n${NFT_INCLUDE}\n`, [NFT_KADEPLOY_CONF]: own });
    const c = firewallKind.plan!(want('off'), f, ctx);
    assert.deepEqual(c.actions, ['remove']);
    assert.deepEqual(c.steps.map((s) => s.command), [
      'nft delete rule inet filter input handle 7',
      `cp -p ${NFT_CONF} ${NFT_CONF}.bak && sed -i '\\#^${NFT_INCLUDE}$#d' ${NFT_CONF}`,
      `cp -p ${NFT_KADEPLOY_CONF} ${NFT_KADEPLOY_CONF}.bak && rm -f ${NFT_KADEPLOY_CONF}`,
      pruneCommand(NFT_CONF),
      pruneCommand(NFT_KADEPLOY_CONF),
    ]);
  });
});

const UFW_ON = `Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere
Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp
`;

describe('firewall: ufw', () => {
  const ufw = (rules: string, mode: 'manage' | 'check' = 'manage', peers = ['10.0.0.12']) =>
    firewallKind.plan!(want(mode, peers), withOutput({ [FIREWALL_MANAGER]: 'ufw\n', [UFW_STATUS]: UFW_ON + rules, [NFT_RULESET]: ruleset(DROP_VRRP) }), ctx);
  it('check names the default policy and the ufw command; manage runs it; no raw nft rule under ufw', () => {
    const c = ufw('', 'check');
    assert.match(c.blocker!, /ufw drops VRRP from 10\.0\.0\.12 \(default incoming policy deny, no rule allows VRRP\): run\n {4}ufw allow from 10\.0\.0\.12 proto vrrp comment kadeploy-vrrp/);
    assert.deepEqual(ufw('').steps.map((s) => s.command), ['ufw allow from 10.0.0.12 proto vrrp comment kadeploy-vrrp']);
    assert.deepEqual(ufw("ufw allow from 10.0.0.12 proto vrrp comment 'kadeploy-vrrp'\n").actions, ['none']);
    assert.deepEqual(ufw('ufw allow proto vrrp\n').actions, ['none'], 'from anywhere');
    assert.deepEqual(ufw('ufw allow from 10.0.0.0/24 proto vrrp\n').actions, ['none'], "from the peers' network");
    assert.ok(ufw('ufw allow from 10.0.1.0/24 proto vrrp\n', 'check').blocker, 'another network');
  });
  it('a former peer\'s rule goes; off removes kadeploy\'s rules only', () => {
    const c = ufw("ufw allow from 10.0.0.9 proto vrrp comment 'kadeploy-vrrp'\nufw allow from 10.0.0.12 proto vrrp\n");
    assert.deepEqual(c.steps.map((s) => s.command), ['ufw delete allow from 10.0.0.9 proto vrrp']);
    const off = firewallKind.plan!(want('off'), withOutput({ [UFW_STATUS]: `${UFW_ON}ufw allow from 10.0.0.12 proto vrrp comment 'kadeploy-vrrp'\nufw allow from 10.0.0.7 proto vrrp\n` }), ctx);
    assert.deepEqual(off.steps.map((s) => s.command), ['ufw delete allow from 10.0.0.12 proto vrrp']);
  });
});

// One zone as `firewall-cmd --list-all-zones` prints it (firewalld 1.3: no "(active)" after the name).
const zone = (rich: string, protocols = '', name = 'public', more = '') => `${name}
  target: ${name === 'trusted' ? 'ACCEPT' : 'default'}
  interfaces: ${/interfaces: (\S+)/.exec(more)?.[1] ?? ''}
  sources: ${/sources: (\S+)/.exec(more)?.[1] ?? ''}
  services: dhcpv6-client ssh
  protocols: ${protocols}
  rich rules: 
${rich}
`;

describe('firewall: firewalld', () => {
  const fwd = (runtime: string, permanent: string, mode: 'manage' | 'check' = 'manage') =>
    firewallKind.plan!(want(mode), withOutput({ [FIREWALL_MANAGER]: 'firewalld\n', [FIREWALLD_ZONES]: `default zone: public\n${runtime}\n@@permanent\n${permanent}`, [NFT_RULESET]: ruleset(DROP_VRRP) }), ctx);
  const RICH = '\trule family="ipv4" source address="10.0.0.12" protocol value="vrrp" accept';
  it('check names the zone and the firewall-cmd commands; manage adds the rich rule permanent and runtime', () => {
    const c = fwd(zone(''), zone(''), 'check');
    assert.match(c.blocker!, /firewalld zone public drops VRRP from 10\.0\.0\.12 \(zone target default, no rule accepts VRRP\)/);
    assert.ok(c.blocker!.includes(`firewall-cmd --permanent --zone=public '--add-rich-rule=rule family="ipv4" source address="10.0.0.12" protocol value="vrrp" accept'`), c.blocker);
    assert.deepEqual(fwd(zone(''), zone('')).steps.map((s) => s.title), [
      'let VRRP from 10.0.0.12 through firewalld zone public (permanent)',
      'let VRRP from 10.0.0.12 through firewalld zone public (now)',
    ]);
    assert.ok(!fwd(zone(''), zone('')).steps.some((s) => s.command.startsWith('nft')), 'no raw nft rule under firewalld');
  });
  it('runtime only: the permanent rule is added; both: nothing to do; protocol vrrp allowed: nothing', () => {
    assert.deepEqual(fwd(zone(RICH), zone('')).steps.map((s) => s.title), ['let VRRP from 10.0.0.12 through firewalld zone public (permanent)']);
    assert.match(fwd(zone(RICH), zone(''), 'check').blocker!, /until its next reload only/);
    assert.deepEqual(fwd(zone(RICH), zone(RICH)).actions, ['none']);
    assert.deepEqual(fwd(zone('', 'vrrp'), zone('', 'vrrp')).actions, ['none']);
    const net = '\trule family="ipv4" source address="10.0.0.0/24" protocol value="vrrp" accept';
    assert.deepEqual(fwd(zone(net), zone(net)).actions, ['none'], "a rich rule for the peers' network");
  });
  it("VRRP is judged in the zone that sees it: the peer's source zone, else the interface's zone, else the default", () => {
    const internal = (rich = '', more = 'interfaces: eth0') => zone('', '', 'public') + zone(rich, '', 'internal', more);
    // eth0 in zone internal: the rule goes there, not into the default zone.
    assert.deepEqual(fwd(internal(), internal()).steps.map((s) => s.command.split(' && ').pop()), [
      `firewall-cmd --permanent --zone=internal '--add-rich-rule=rule family="ipv4" source address="10.0.0.12" protocol value="vrrp" accept'`,
      `firewall-cmd --zone=internal '--add-rich-rule=rule family="ipv4" source address="10.0.0.12" protocol value="vrrp" accept'`,
    ]);
    assert.deepEqual(fwd(internal(RICH), internal(RICH)).actions, ['none'], 'a rule in the default zone is not needed then');
    // eth0 in zone trusted (target ACCEPT): nothing to do, although the default zone drops VRRP.
    const trusted = zone('', '', 'public') + zone('', '', 'trusted', 'interfaces: eth0');
    assert.deepEqual(fwd(trusted, trusted).actions, ['none']);
    // The peer's network bound to zone internal wins over the interface's zone.
    const bySource = zone('', '', 'public', 'interfaces: eth0') + zone('', '', 'internal', 'sources: 10.0.0.0/24');
    assert.match(fwd(bySource, bySource, 'check').blocker!, /firewalld zone internal drops VRRP from 10\.0\.0\.12/);
    // Another interface's zone does not count.
    const other = internal('', 'interfaces: eth1');
    assert.match(fwd(other, other, 'check').blocker!, /firewalld zone public drops VRRP/);
  });
});

describe('firewall: firewalld, the rules kadeploy added (recorded on the node)', () => {
  const rule = (peer: string) => `rule family="ipv4" source address="${peer}" protocol value="vrrp" accept`;
  const rich = (...peers: string[]) => peers.map((p) => `\t${rule(p)}`).join('\n');
  const record = (...entries: Array<[string, string, string]>) => entries.map(([layer, zone, peer]) => `${layer}\t${zone}\t${rule(peer)}\n`).join('');
  const state = (runtime: string, permanent: string, recorded = '') => `default zone: public\n${runtime}\n@@permanent\n${permanent}\n@@recorded\n${recorded}`;
  const fwd = (mode: 'manage' | 'off', out: string, peers = ['10.0.0.12']) =>
    firewallKind.plan!(want(mode, peers), withOutput({ [FIREWALL_MANAGER]: 'firewalld\n', [FIREWALLD_ZONES]: out, [NFT_RULESET]: ruleset('') }), ctx);

  /** Run steps in a local sh: firewall-cmd a stub logging its arguments, the record a temp file. Returns the log and the record. */
  function runSteps(steps: Array<{ command: string }>, recorded = ''): { calls: string[]; record: string } {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-firewalld-'));
    const file = join(dir, 'firewalld-rules');
    if (recorded) writeFileSync(file, recorded);
    writeFileSync(join(dir, 'firewall-cmd'), `#!/bin/sh\nfor a in "$@"; do printf '%s|' "$a"; done >> ${dir}/calls; echo >> ${dir}/calls\n`);
    chmodSync(join(dir, 'firewall-cmd'), 0o755);
    for (const st of steps) {
      const command = st.command.replaceAll(FIREWALLD_RECORD, file).replaceAll('mkdir -p /var/lib/kadeploy', `mkdir -p ${dir}`);
      execFileSync('/bin/sh', ['-c', command], { env: { PATH: `${dir}:/usr/bin:/bin` } });
    }
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return { calls: read(join(dir, 'calls')).split('\n').filter(Boolean), record: read(file) };
  }

  it('manage records each rule it adds (permanent and now), once, and a re-run with them in place does nothing', () => {
    const add = fwd('manage', state(zone(''), zone('')));
    const ran = runSteps([...add.steps, ...add.steps]);
    assert.deepEqual(ran.calls, [
      `--permanent|--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`,
      `--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`,
      `--permanent|--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`,
      `--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`,
    ]);
    assert.equal(ran.record, record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12']), 'recorded once each');
    const done = state(zone(rich('10.0.0.12')), zone(rich('10.0.0.12')), ran.record);
    assert.deepEqual(fwd('manage', done).actions, ['none']);
  });

  it('a run killed after recording a rule but before adding it: the next run adds it, recorded once', () => {
    const recorded = record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12']);
    const c = fwd('manage', state(zone(''), zone(''), recorded));
    const ran = runSteps(c.steps, recorded);
    assert.deepEqual(ran.calls, [`--permanent|--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`, `--zone=public|--add-rich-rule=${rule('10.0.0.12')}|`]);
    assert.equal(ran.record, recorded, 'no second record line');
  });

  it("peers changed: the former peer's recorded rule goes from both layers; the user's identical-looking rule stays", () => {
    // 10.0.0.9 was a peer (kadeploy's rules, recorded); 10.0.0.7's rule the user added by hand.
    const recorded = record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12'], ['permanent', 'public', '10.0.0.9'], ['runtime', 'public', '10.0.0.9']);
    const zones = zone(rich('10.0.0.12', '10.0.0.9', '10.0.0.7'));
    const c = fwd('manage', state(zones, zones, recorded));
    assert.deepEqual(c.actions, ['update']);
    assert.match(c.summary, /remove kadeploy's VRRP rules no longer needed/);
    assert.doesNotMatch(c.summary, /let VRRP/, 'nothing to add');
    const ran = runSteps(c.steps, recorded);
    assert.deepEqual(ran.calls, [`--permanent|--zone=public|--remove-rich-rule=${rule('10.0.0.9')}|`, `--zone=public|--remove-rich-rule=${rule('10.0.0.9')}|`]);
    assert.equal(ran.record, record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12']));
    assert.ok(!c.steps.some((s) => s.command.includes('10.0.0.7')), "the user's rule is not touched");
  });

  it("off: every recorded rule goes, only those: an identical rule the user added (kadeploy then added none) stays", () => {
    // 10.0.0.12's rule in zone internal is the user's (not recorded); kadeploy's is in zone public.
    const zones = zone(rich('10.0.0.12')) + zone(rich('10.0.0.12'), '', 'internal');
    const recorded = record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12']);
    const off = fwd('off', state(zones, zones, recorded));
    const ran = runSteps(off.steps, recorded);
    assert.deepEqual(ran.calls, [`--permanent|--zone=public|--remove-rich-rule=${rule('10.0.0.12')}|`, `--zone=public|--remove-rich-rule=${rule('10.0.0.12')}|`]);
    assert.equal(ran.record, '');
    assert.deepEqual(fwd('off', state(zones, zones)).actions, ['none'], 'nothing recorded: nothing removed');
  });

  it('a recorded rule gone already is only forgotten; a runtime one the user also keeps permanent stays', () => {
    // Recorded runtime-only (added while the user's permanent rule was not loaded yet): after a reload the
    // runtime rule comes from the user's permanent one: forgotten, not removed. 10.0.0.9's is gone by hand.
    const recorded = record(['runtime', 'public', '10.0.0.12'], ['permanent', 'public', '10.0.0.9']);
    const zones = zone(rich('10.0.0.12'));
    const off = fwd('off', state(zones, zones, recorded));
    assert.deepEqual(off.steps.map((s) => s.title), [
      "forget kadeploy's VRRP rule for 10.0.0.12 in firewalld zone public (now): no longer in firewalld",
      "forget kadeploy's VRRP rule for 10.0.0.9 in firewalld zone public (permanent): no longer in firewalld",
    ]);
    const ran = runSteps(off.steps, recorded);
    assert.deepEqual(ran.calls, []);
    assert.equal(ran.record, '');
  });

  it('eth0 moved to another zone: kadeploy\'s rule in the old zone goes, the new zone gets one', () => {
    const zones = zone(rich('10.0.0.12')) + zone('', '', 'internal', 'interfaces: eth0');
    const c = fwd('manage', state(zones, zones, record(['permanent', 'public', '10.0.0.12'], ['runtime', 'public', '10.0.0.12'])));
    assert.deepEqual(c.steps.map((s) => s.title), [
      "remove kadeploy's VRRP rule for 10.0.0.12 in firewalld zone public (permanent)",
      "remove kadeploy's VRRP rule for 10.0.0.12 in firewalld zone public (now)",
      'let VRRP from 10.0.0.12 through firewalld zone internal (permanent)',
      'let VRRP from 10.0.0.12 through firewalld zone internal (now)',
    ]);
    assert.match(c.summary, /let VRRP from 10\.0\.0\.12 through; remove kadeploy's VRRP rules no longer needed/);
  });
});

describe('firewall: iptables', () => {
  const ipt = (rules: string, persistent = '', mode: 'manage' | 'check' = 'manage') =>
    firewallKind.plan!(want(mode), withOutput({ [IPTABLES_RULES]: `iptables v1.8.9 (legacy)\n${rules}persistent: ${persistent}\n` }), ctx);
  it('check names the dropping rule or policy; manage inserts per peer and saves with netfilter-persistent when installed', () => {
    assert.match(ipt('-P INPUT ACCEPT\n-A INPUT -p vrrp -j DROP\n', '', 'check').blocker!, /iptables INPUT \(legacy\) drops VRRP from 10\.0\.0\.12 \(rule "-A INPUT -p vrrp -j DROP"\)/);
    assert.match(ipt('-P INPUT DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\n', '', 'check').blocker!, /policy DROP/);
    assert.deepEqual(ipt('-P INPUT DROP\n', '/usr/sbin/netfilter-persistent').steps.map((s) => s.command), [
      'iptables -I INPUT -s 10.0.0.12 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT',
      'netfilter-persistent save',
    ]);
    assert.match(ipt('-P INPUT DROP\n').summary, /not persisted: netfilter-persistent is not installed/);
    assert.deepEqual(ipt('-P INPUT DROP\n-A INPUT -s 10.0.0.12/32 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT\n').steps, []);
    assert.deepEqual(ipt('-P INPUT ACCEPT\n').actions, ['none'], 'no rules: not active');
  });
  it('judges the peer by the sources rules name: a network, a negation, a rule whose one condition is its source', () => {
    const check = (rules: string) => ipt(rules, '', 'check').blocker;
    assert.equal(check('-P INPUT DROP\n-A INPUT -s 10.0.0.0/24 -p vrrp -j ACCEPT\n'), undefined);
    assert.match(check('-P INPUT DROP\n-A INPUT -s 10.0.1.0/24 -p vrrp -j ACCEPT\n')!, /drops VRRP from 10\.0\.0\.12 \(policy DROP\)/);
    assert.equal(check('-P INPUT DROP\n-A INPUT -s 10.0.0.0/24 -m comment --comment "lb network" -j ACCEPT\n'), undefined);
    assert.match(check('-P INPUT DROP\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n')!, /policy DROP/, 'conntrack state is not VRRP from a peer');
    assert.match(check('-P INPUT ACCEPT\n-A INPUT -s 10.0.0.12/32 -j DROP\n')!, /rule "-A INPUT -s 10\.0\.0\.12\/32 -j DROP"/);
    assert.equal(check('-P INPUT ACCEPT\n-A INPUT ! -s 10.0.0.0/24 -p vrrp -j DROP\n'), undefined);
    assert.match(check('-P INPUT ACCEPT\n-A INPUT ! -s 10.0.1.0/24 -p vrrp -j DROP\n')!, /rule "-A INPUT ! -s 10\.0\.1\.0\/24 -p vrrp -j DROP"/);
  });
  it("follows jumps into the user's chains and reads the input interface", () => {
    const check = (rules: string) => ipt(rules, '', 'check').blocker;
    const chains = (jump: string, lan: string) => `-P INPUT DROP\n-N lan_in\n-A INPUT -i lo -j ACCEPT\n${jump}\n${lan}\n`;
    assert.equal(check(chains('-A INPUT -i eth0 -j lan_in', '-A lan_in -s 10.0.0.0/24 -p vrrp -j ACCEPT')), undefined);
    assert.match(check(chains('-A INPUT -i eth1 -j lan_in', '-A lan_in -s 10.0.0.0/24 -p vrrp -j ACCEPT'))!, /policy DROP/, 'a jump for another interface');
    assert.equal(check(chains('-A INPUT -i eth+ -j lan_in', '-A lan_in -p vrrp -j ACCEPT')), undefined, 'an interface wildcard');
    assert.match(check(chains('-A INPUT -j lan_in', '-A lan_in -p vrrp -j DROP'))!, /rule "-A lan_in -p vrrp -j DROP"/);
    assert.match(check(chains('-A INPUT -p tcp --dport 80 -j lan_in', '-A lan_in -j ACCEPT'))!, /policy DROP/, 'a jump for web traffic is not VRRP');
    assert.equal(check(chains('-A INPUT -j lan_in\n-A INPUT -p vrrp -j ACCEPT', '-A lan_in -j RETURN\n-A lan_in -j DROP')), undefined, 'RETURN goes back to INPUT');
    assert.match(check(chains('-A INPUT -g lan_in\n-A INPUT -p vrrp -j ACCEPT', '-A lan_in -p tcp -j ACCEPT'))!, /policy DROP/, 'after a goto INPUT does not go on');
  });
});

// IPv6 instances (VRRPv3): keepalived sends from the interface's link-local address to ff02::12, so
// the firewall must let protocol 112 from fe80::/10 in on the instance's interface. Listings from
// the lab (Debian 12: nft 1.0.6, ip6tables 1.8.9, ufw 0.36.2).
describe('firewall: IPv6 instances', () => {
  const want6 = (mode: 'manage' | 'check' | 'off', peers: string[] = [], ipv6Interfaces = ['eth0']) => ({ kind: 'firewall', task: 'fw', node: 'lb2', mode, peers, interfaces: peers.length ? ['eth0'] : [], ipv6Interfaces });
  const plan6 = (mode: 'manage' | 'check' | 'off', out: Record<string, string>, peers?: string[], ifaces?: string[]) => firewallKind.plan!(want6(mode, peers, ifaces), withOutput(out), ctx);
  const inet = (rules: string, policy = 'accept') => `table inet filter { # handle 3
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy ${policy};
${rules}
\t}
}
`;
  const ip6Table = (rules: string, policy = 'drop') => `table ip6 filter6 { # handle 4
\tchain input { # handle 1
\t\ttype filter hook input priority filter; policy ${policy};
${rules}
\t}
}
`;
  const DROP6 = '\t\tip6 nexthdr 112 drop # handle 2';
  const MANAGED6 = '\t\tmeta l4proto 112 ip6 saddr fe80::/10 iifname "eth0" accept comment "kadeploy-vrrp" # handle 3';
  const MANAGED4 = '\t\tip protocol 112 ip saddr 10.93.0.11 accept comment "kadeploy-vrrp" # handle 4';
  const INSERT6 = `nft insert rule inet filter input meta l4proto 112 ip6 saddr '{ fe80::/10 }' iifname '{ "eth0" }' accept comment '"kadeploy-vrrp"'`;

  it('nftables: ip6 and inet chains are judged for IPv6 VRRP on the interface; ip rules do not count', () => {
    const [c] = inputChains(inet(DROP6));
    assert.equal(blocksVrrp(c!, 'fe80::/64', ['eth0'], 6), 'rule "ip6 nexthdr 112 drop"');
    assert.equal(blocksVrrp(c!, '10.0.0.12', ['eth0'], 4), undefined, 'an ip6 rule does not drop IPv4 VRRP');
    const [six] = inputChains(ip6Table('\t\tiif "lo" accept # handle 2'));
    assert.equal(six!.family, 'ip6');
    assert.equal(blocksVrrp(six!, 'fe80::/64', ['eth0'], 6), 'policy drop');
    const judged = (rule: string, policy = 'drop') => blocksVrrp(inputChains(inet(rule, policy))[0]!, 'fe80::/64', ['eth0'], 6);
    assert.equal(judged('\t\tip6 saddr fe80::/10 meta l4proto vrrp accept # handle 5'), undefined);
    assert.equal(judged('\t\tip6 saddr fe80::/64 ip6 nexthdr 112 accept # handle 5'), undefined, 'fe80::/64 holds every link-local address');
    assert.equal(judged('\t\tip6 saddr fe80::1 ip6 nexthdr 112 accept # handle 5'), 'policy drop', 'one address is not every peer');
    assert.equal(judged('\t\tip6 saddr fd00:93::/64 meta l4proto 112 accept # handle 5'), 'policy drop', 'VRRPv3 does not come from the ULA');
    assert.equal(judged('\t\tiifname "eth1" ip6 nexthdr 112 accept # handle 5'), 'policy drop', 'another interface');
    assert.equal(judged('\t\tip protocol 112 accept # handle 5'), 'policy drop', 'an IPv4 rule');
    assert.equal(judged('\t\tmeta l4proto 112 accept # handle 5'), undefined, 'meta l4proto in inet: both families');
    assert.equal(judged('\t\tmeta nfproto ipv4 meta l4proto 112 drop # handle 5', 'accept'), undefined, 'an IPv4-only drop');
    assert.equal(blocksVrrp(inputChains(inet('\t\tmeta nfproto ipv6 meta l4proto 112 drop # handle 5'))[0]!, '10.0.0.12', ['eth0'], 4), undefined, 'an IPv6-only drop does not drop IPv4');
  });

  it('nftables: check names the family and the interface; manage inserts the link-local rule; idempotent; replaced when the interfaces change', () => {
    const c = plan6('check', { [NFT_RULESET]: inet(DROP6) });
    assert.match(c.blocker!, /nftables chain inet filter input drops IPv6 VRRP on eth0 \(rule "ip6 nexthdr 112 drop"\): add before it/);
    assert.ok(c.blocker!.includes(INSERT6), c.blocker);
    // The plan judges every link-local source (fe80::/64), not one the operator happened to name.
    assert.match(plan6('check', { [NFT_RULESET]: inet('\t\tip6 saddr fe80::1 meta l4proto 112 accept # handle 5', 'drop') }).blocker!, /drops IPv6 VRRP on eth0 \(policy drop\)/);
    assert.equal(plan6('check', { [NFT_RULESET]: inet('\t\tip6 saddr fe80::/64 meta l4proto 112 accept # handle 5', 'drop') }).blocker, undefined);
    const m = plan6('manage', { [NFT_RULESET]: inet(DROP6) });
    assert.deepEqual(m.steps.map((s) => s.command), [INSERT6]);
    assert.match(m.summary, /nftables: let IPv6 VRRP from link-local addresses on eth0 through/);
    assert.deepEqual(plan6('manage', { [NFT_RULESET]: inet(`${MANAGED6}\n${DROP6}`) }).actions, ['none']);
    // Both families in one inet chain: each has its own rule of kadeploy's, each found again.
    const both = inet(`${MANAGED4}\n${MANAGED6}\n${DROP6}\n\t\tip protocol 112 drop # handle 5`);
    assert.deepEqual(plan6('manage', { [NFT_RULESET]: both }, ['10.93.0.11']).actions, ['none']);
    const fresh = plan6('manage', { [NFT_RULESET]: inet(`${DROP6}\n\t\tip protocol 112 drop # handle 5`) }, ['10.93.0.11']);
    assert.deepEqual(fresh.steps.map((s) => s.title), ['let VRRP from 10.93.0.11 through nftables chain inet filter input', 'let IPv6 VRRP from link-local addresses on eth0 through nftables chain inet filter input']);
    // The IPv6 instances moved to eth1: kadeploy's rule for eth0 is replaced.
    const moved = plan6('check', { [NFT_RULESET]: inet(`${MANAGED6}\n${DROP6}`) }, [], ['eth1']);
    assert.match(moved.blocker!, /kadeploy's rule lets IPv6 VRRP on eth0 through, not on eth1 \(rule "ip6 nexthdr 112 drop"\): replace it\n {4}nft delete rule inet filter input handle 3 && nft insert rule/);
    // No IPv6 instance any more: kadeploy's IPv6 rule goes, its IPv4 rule stays.
    const gone = plan6('manage', { [NFT_RULESET]: both }, ['10.93.0.11'], []);
    assert.deepEqual(gone.steps.map((s) => s.command), ['nft delete rule inet filter input handle 3']);
    assert.match(gone.summary, /remove kadeploy's VRRP rules no longer needed/);
    // off: both rules out.
    const off = plan6('off', { [NFT_RULESET]: both });
    assert.deepEqual(off.steps.map((s) => s.command), ['nft delete rule inet filter input handle 4', 'nft delete rule inet filter input handle 3']);
  });

  it('nftables: the persisted file carries both families; an ip6 chain of its own gets its rule', () => {
    const chains = inputChains(inet(DROP6) + ip6Table('\t\tiif "lo" accept # handle 2'));
    const own = kadeployConf(chains.map((chain) => ({ chain, vrrp: { family: 6, sources: ['fe80::/10'], interfaces: ['eth0', 'eth1'] } })));
    assert.match(own, /^insert rule inet filter input meta l4proto 112 ip6 saddr \{ fe80::\/10 \} iifname \{ "eth0", "eth1" \} accept comment "kadeploy-vrrp"$/m);
    assert.match(own, /^add table ip6 filter6\nadd chain ip6 filter6 input\ninsert rule ip6 filter6 input meta l4proto 112/m);
    const m = firewallKind.plan!(want6('manage'), withFiles(withOutput({ [NFT_RULESET]: inet(DROP6) + ip6Table('\t\tiif "lo" accept # handle 2') }), { [NFT_CONF]: CONF, [NFT_KADEPLOY_CONF]: null }), ctx);
    assert.deepEqual(m.steps.slice(0, 3).map((s) => s.title), [
      'let IPv6 VRRP from link-local addresses on eth0 through nftables chain inet filter input',
      'let IPv6 VRRP from link-local addresses on eth0 through nftables chain ip6 filter6 input',
      `create ${NFT_KADEPLOY_CONF}`,
    ]);
  });

  it('ip6tables: read with ip6tables -S; a rule per interface from fe80::/10; one netfilter-persistent save for both tools', () => {
    const ip6 = (rules: string) => `ip6tables v1.8.9 (nf_tables)\n${rules}persistent: /usr/sbin/netfilter-persistent\n`;
    const ip4 = (rules: string) => `iptables v1.8.9 (nf_tables)\n${rules}persistent: /usr/sbin/netfilter-persistent\n`;
    const DROP = '-P INPUT DROP\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p ipv6-icmp -j ACCEPT\n';
    const c = plan6('check', { [IP6TABLES_RULES]: ip6(DROP) });
    assert.match(c.blocker!, /ip6tables INPUT \(nf_tables\) drops IPv6 VRRP on eth0 \(policy DROP\): add before it\n {4}ip6tables -I INPUT -s fe80::\/10 -i eth0 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT/);
    const m = plan6('manage', { [IPTABLES_RULES]: ip4('-P INPUT DROP\n'), [IP6TABLES_RULES]: ip6(DROP) }, ['10.93.0.11']);
    assert.deepEqual(m.steps.map((s) => s.command), [
      'iptables -I INPUT -s 10.93.0.11 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT',
      'ip6tables -I INPUT -s fe80::/10 -i eth0 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT',
      'netfilter-persistent save',
    ]);
    // As ip6tables lists kadeploy's rule (the lab's listing): found again.
    const listed = `${DROP}-A INPUT -s fe80::/10 -i eth0 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT\n`;
    assert.deepEqual(plan6('manage', { [IP6TABLES_RULES]: ip6(listed) }).actions, ['none']);
    assert.equal(plan6('check', { [IP6TABLES_RULES]: ip6(`${DROP}-A INPUT -s fe80::/64 -i eth+ -p vrrp -j ACCEPT\n`) }).blocker, undefined, "the operator's own rule");
    assert.ok(plan6('check', { [IP6TABLES_RULES]: ip6(`${DROP}-A INPUT -s fe80::/10 -i eth1 -p vrrp -j ACCEPT\n`) }).blocker, 'another interface');
    const off = plan6('off', { [IPTABLES_RULES]: ip4('-P INPUT ACCEPT\n-A INPUT -s 10.93.0.11/32 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT\n'), [IP6TABLES_RULES]: ip6(listed) });
    assert.deepEqual(off.steps.map((s) => s.command), [
      'iptables -D INPUT -s 10.93.0.11/32 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT',
      'ip6tables -D INPUT -s fe80::/10 -i eth0 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT',
      'netfilter-persistent save',
    ]);
    // An IPv4-only cluster: ip6tables' own rules are not judged, kadeploy's former IPv6 rule goes.
    const v4only = firewallKind.plan!(want('check', ['10.93.0.11']), withOutput({ [IP6TABLES_RULES]: ip6(DROP) }), ctx);
    assert.deepEqual(v4only.actions, ['none']);
    assert.doesNotMatch(v4only.summary, /ip6tables/, 'not judged, not named');
    assert.deepEqual(firewallKind.plan!(want('manage', ['10.93.0.11']), withOutput({ [IP6TABLES_RULES]: ip6(listed) }), ctx).steps.map((s) => s.command), [
      'ip6tables -D INPUT -s fe80::/10 -i eth0 -p vrrp -m comment --comment kadeploy-vrrp -j ACCEPT',
      'netfilter-persistent save',
    ]);
  });

  it('ufw: its IPv6 rules; manage adds `allow in on IFACE from fe80::/10 proto vrrp`, found again as ufw lists it', () => {
    const ufw6 = (rules: string, mode: 'manage' | 'check' = 'manage', peers: string[] = []) => plan6(mode, { [FIREWALL_MANAGER]: 'ufw\n', [UFW_STATUS]: UFW_ON + rules }, peers);
    assert.match(ufw6('', 'check').blocker!, /ufw drops IPv6 VRRP on eth0 \(default incoming policy deny, no rule allows VRRP\): run\n {4}ufw allow in on eth0 from fe80::\/10 proto vrrp comment kadeploy-vrrp/);
    assert.deepEqual(ufw6('').steps.map((s) => s.command), ['ufw allow in on eth0 from fe80::/10 proto vrrp comment kadeploy-vrrp']);
    assert.deepEqual(ufw6("ufw allow in on eth0 from fe80::/10 proto vrrp comment 'kadeploy-vrrp'\n").actions, ['none']);
    assert.deepEqual(ufw6('ufw allow from fe80::/10 proto vrrp\n').actions, ['none'], 'from link-local on any interface');
    assert.ok(ufw6('ufw allow in on eth1 from fe80::/10 proto vrrp\n', 'check').blocker, 'on another interface');
    assert.ok(ufw6('ufw allow from 10.0.0.0/24 proto vrrp\n', 'check').blocker, 'an IPv4 source');
    // IPv4 and IPv6 together: each its rule; off removes both with ufw delete.
    assert.deepEqual(ufw6("ufw allow from 10.93.0.11 proto vrrp comment 'kadeploy-vrrp'\n", 'manage', ['10.93.0.11']).steps.map((s) => s.command), ['ufw allow in on eth0 from fe80::/10 proto vrrp comment kadeploy-vrrp']);
    const off = plan6('off', { [UFW_STATUS]: `${UFW_ON}ufw allow from 10.93.0.11 proto vrrp comment 'kadeploy-vrrp'\nufw allow in on eth0 from fe80::/10 proto vrrp comment 'kadeploy-vrrp'\n` });
    assert.deepEqual(off.steps.map((s) => s.command), ['ufw delete allow from 10.93.0.11 proto vrrp', 'ufw delete allow in on eth0 from fe80::/10 proto vrrp']);
    // The IPv6 instance moved to eth1: the rule for eth0 goes, one for eth1 comes.
    const moved = plan6('manage', { [FIREWALL_MANAGER]: 'ufw\n', [UFW_STATUS]: `${UFW_ON}ufw allow in on eth0 from fe80::/10 proto vrrp comment 'kadeploy-vrrp'\n` }, [], ['eth1']);
    assert.deepEqual(moved.steps.map((s) => s.command), ['ufw delete allow in on eth0 from fe80::/10 proto vrrp', 'ufw allow in on eth1 from fe80::/10 proto vrrp comment kadeploy-vrrp']);
  });

  it('firewalld: a family="ipv6" rich rule from fe80::/10 in the zone of the interface; an ipv4 rule does not count', () => {
    const zones = (rich: string) => `default zone: public\n${zone(rich, '', 'public')}${zone('', '', 'internal', 'interfaces: eth0')}`;
    const fwd6 = (runtime: string, permanent: string, mode: 'manage' | 'check' = 'manage') => plan6(mode, { [FIREWALL_MANAGER]: 'firewalld\n', [FIREWALLD_ZONES]: `${runtime}\n@@permanent\n${permanent}` });
    const RULE6 = 'rule family="ipv6" source address="fe80::/10" protocol value="vrrp" accept';
    const c = fwd6(zones(''), zones(''), 'check');
    assert.match(c.blocker!, /firewalld zone internal drops IPv6 VRRP on eth0 \(zone target default, no rule accepts VRRP\)/);
    assert.ok(c.blocker!.includes(`firewall-cmd --permanent --zone=internal '--add-rich-rule=${RULE6}'`), c.blocker);
    const m = fwd6(zones(''), zones(''));
    assert.deepEqual(m.steps.map((s) => s.title), ['let IPv6 VRRP on eth0 through firewalld zone internal (permanent)', 'let IPv6 VRRP on eth0 through firewalld zone internal (now)']);
    assert.ok(m.steps[0]!.command.endsWith(`firewall-cmd --permanent --zone=internal '--add-rich-rule=${RULE6}'`), m.steps[0]!.command);
    const withRule = (rich: string) => `default zone: public\n${zone('', '', 'public')}${zone(`\t${rich}`, '', 'internal', 'interfaces: eth0')}`;
    assert.deepEqual(fwd6(withRule(RULE6), withRule(RULE6)).actions, ['none']);
    const v4 = 'rule family="ipv4" protocol value="vrrp" accept';
    assert.ok(fwd6(withRule(v4), withRule(v4), 'check').blocker, 'an ipv4 rule does not let IPv6 VRRP through');
    const any = 'rule protocol value="vrrp" accept';
    assert.deepEqual(fwd6(withRule(any), withRule(any)).actions, ['none'], 'a rule without a family holds both');
  });

  it('the want: IPv6 instances (first VIP IPv6, or native_ipv6) give ipv6Interfaces; IPv4 peers only for IPv4 instances', () => {
    const inst = (name: string, iface: string, vip: string, nativeIpv6 = false) => ({ name, interface: iface, vips: [{ address: vip }], nativeIpv6 });
    const node = (name: string, ip: string, instances: unknown[]) => ({ name, ip, instances });
    const cluster = (instances: unknown[]) => ({ firewall: 'check', nodes: [node('lb1', '10.0.0.11', instances), node('lb2', '10.0.0.12', instances)] });
    const wantFor = (instances: unknown[]) => firewallKind.want!({}, 'fw', { cluster: cluster(instances), node: cluster(instances).nodes[0], renderer: undefined } as never)[0] as { ipv6Sources?: string[] };
    assert.deepEqual(wantFor([inst('VI_1', 'eth0', '10.0.0.100/32'), inst('VI_6', 'eth1', 'fe80::93:1/64')]), { kind: 'firewall', task: 'fw', node: 'lb1', mode: 'check', peers: ['10.0.0.12'], interfaces: ['eth0'], ipv6Interfaces: ['eth1'], multicast: [4, 6] });
    assert.deepEqual(wantFor([inst('VI_6', 'eth0', '10.0.0.100/32', true)]), { kind: 'firewall', task: 'fw', node: 'lb1', mode: 'check', peers: [], interfaces: [], ipv6Interfaces: ['eth0'], multicast: [6] });
    assert.deepEqual(wantFor([inst('VI_1', 'eth0', '10.0.0.100/32')]), { kind: 'firewall', task: 'fw', node: 'lb1', mode: 'check', peers: ['10.0.0.12'], interfaces: ['eth0'], multicast: [4] }, 'IPv4 only: as before, multicast');
    // A peer's IPv6 instance told to send from its ULA (unicast_src_ip): that address too; a link-local one is covered already.
    const unicast = (src: string) => ({ ...inst('VI_6', 'eth0', 'fe80::93:1/64'), unicast: { srcIp: src, peers: [] } });
    assert.deepEqual(wantFor([unicast('fd00:93::12')]).ipv6Sources, ['fd00:93::12']);
    assert.equal(wantFor([unicast('fe80::12')]).ipv6Sources, undefined);
    assert.equal((wantFor([unicast('fe80::12')]) as { multicast?: unknown }).multicast, undefined, 'unicast: the destination is not the group');
  });

  it('a rule accepting by destination alone counts for multicast adverts (224.0.0.18, ff02::12), not for unicast ones', () => {
    const chain = (rule: string) => inputChains(ruleset(rule, 'drop'))[0]!;
    assert.equal(blocksVrrp(chain('\t\tip daddr 224.0.0.18 accept # handle 6'), '10.0.0.12', ['eth0'], 4, '224.0.0.18'), undefined);
    assert.equal(blocksVrrp(chain('\t\tiifname "eth0" ip daddr 224.0.0.0/4 counter accept # handle 6'), '10.0.0.12', ['eth0'], 4, '224.0.0.18'), undefined);
    assert.equal(blocksVrrp(chain('\t\tmeta pkttype multicast accept # handle 6'), '10.0.0.12', ['eth0'], 4, '224.0.0.18'), undefined);
    assert.equal(blocksVrrp(chain('\t\tip daddr 224.0.0.251 accept # handle 6'), '10.0.0.12', ['eth0'], 4, '224.0.0.18'), 'policy drop', 'mDNS, not VRRP');
    assert.equal(blocksVrrp(chain('\t\tip daddr 224.0.0.18 accept # handle 6'), '10.0.0.12', ['eth0'], 4), 'policy drop', 'unicast adverts: passed over');
    assert.equal(blocksVrrp(inputChains(inet('\t\tip6 daddr ff02::12 accept # handle 6', 'drop'))[0]!, 'fe80::/64', ['eth0'], 6, 'ff02::12'), undefined);
    const ipt = (rules: string, destination?: string) => iptablesBlocks(parseIptables(`iptables v1.8.9 (legacy)\n-P INPUT DROP\n${rules}persistent: \n`)!, '10.0.0.12', ['eth0'], destination);
    assert.equal(ipt('-A INPUT -i eth0 -d 224.0.0.0/8 -j ACCEPT\n', '224.0.0.18'), undefined, 'the keepalived guides\' rule');
    assert.equal(ipt('-A INPUT -m pkttype --pkt-type multicast -j ACCEPT\n', '224.0.0.18'), undefined);
    assert.equal(ipt('-A INPUT -m addrtype --dst-type MULTICAST -j ACCEPT\n', '224.0.0.18'), undefined);
    assert.equal(ipt('-A INPUT -d 224.0.0.251/32 -j ACCEPT\n', '224.0.0.18'), 'policy DROP');
    assert.equal(ipt('-A INPUT -i eth0 -d 224.0.0.0/8 -j ACCEPT\n'), 'policy DROP', 'unicast adverts: passed over');
  });

  it("a peer's explicit IPv6 source (unicast_src_ip) is judged and let through with the link-local ones", () => {
    const w = { ...want6('check'), ipv6Sources: ['fd00:93::12'] };
    const judge = (mode: 'manage' | 'check', out: Record<string, string>) => firewallKind.plan!({ ...w, mode }, withOutput(out), ctx);
    const c = judge('check', { [NFT_RULESET]: inet(`${MANAGED6}\n${DROP6}`) });
    assert.match(c.blocker!, /kadeploy's rule lets IPv6 VRRP on eth0 through, not from fd00:93::12 \(rule "ip6 nexthdr 112 drop"\)/);
    assert.ok(c.blocker!.includes(`ip6 saddr '{ fe80::/10, fd00:93::12 }' iifname '{ "eth0" }'`), c.blocker);
    const ip6 = `ip6tables v1.8.9 (nf_tables)\n-P INPUT DROP\npersistent: \n`;
    assert.deepEqual(judge('manage', { [IP6TABLES_RULES]: ip6 }).steps.map((s) => s.command), [
      'ip6tables -I INPUT -s fe80::/10 -i eth0 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT',
      'ip6tables -I INPUT -s fd00:93::12 -p 112 -m comment --comment kadeploy-vrrp -j ACCEPT',
    ]);
  });
});
