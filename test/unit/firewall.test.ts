// The firewall task on real `nft -a list ruleset` listings (as nft 1.0 prints them): which input
// chains drop VRRP, what `check` says (before any change) and what `manage` inserts, idempotently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostFacts } from '../../src/facts/index.js';
import { blocksVrrp, firewallKind, inputChains, NFT_RULESET } from '../../src/tasks/firewall.js';
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
const want = (mode: 'manage' | 'check' | 'off', peers = ['10.0.0.12']) => ({ kind: 'firewall', task: 'fw', node: 'lb1', mode, peers });
const ctx = { notified: new Map<string, string>(), backupSuffix: '.bak', runId: 'R', secrets: [] };
const plan = (mode: 'manage' | 'check' | 'off', nft: string, peers?: string[]) => firewallKind.plan!(want(mode, peers), facts(nft), ctx);

describe('firewall (nftables)', () => {
  it('finds the input base chains only', () => {
    const chains = inputChains(ruleset(DROP_VRRP));
    assert.deepEqual(chains.map((c) => [c.family, c.table, c.chain, c.policy, c.rules.length]), [['inet', 'filter', 'input', 'accept', 1]]);
  });

  it('says which rule or policy drops VRRP, and sees an accept before it', () => {
    assert.equal(blocksVrrp(inputChains(ruleset(DROP_VRRP))[0]!), 'rule "ip protocol 112 drop"');
    assert.equal(blocksVrrp(inputChains(ruleset('\t\tiif "lo" accept # handle 6', 'drop'))[0]!), 'policy drop');
    assert.equal(blocksVrrp(inputChains(ruleset('\t\tct state established accept # handle 6\n\t\tcounter drop # handle 8'))[0]!), 'rule "counter drop"');
    assert.equal(blocksVrrp(inputChains(ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`))[0]!), undefined);
    assert.equal(blocksVrrp(inputChains(ruleset('\t\ttcp dport 22 accept # handle 6'))[0]!), undefined);
  });

  it('check: a blocker (apply refuses the plan before any change; verify reports it), naming node, chain, rule and the exact rule to add', () => {
    const c = plan('check', ruleset(DROP_VRRP));
    assert.deepEqual(c.steps, [], 'nothing would run');
    const message = c.blocker ?? '';
    assert.match(message, /^lb1: VRRP from the other nodes would be dropped/);
    assert.match(message, /nftables chain inet filter input drops VRRP \(rule "ip protocol 112 drop"\)/);
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
    const moved = plan('manage', ruleset(`${MANAGED('10.0.0.12')}\n${DROP_VRRP}`), ['10.0.0.12', '10.0.0.13']);
    assert.deepEqual(moved.steps.map((s) => s.command), [
      'nft delete rule inet filter input handle 7',
      `nft insert rule inet filter input ip protocol 112 ip saddr '{ 10.0.0.12, 10.0.0.13 }' accept comment '"kadeploy-vrrp"'`,
    ]);
  });

  it('nothing to do without nft, with an open ruleset, or with firewall: off', () => {
    assert.deepEqual(plan('check', '').summary, 'no nftables input chain');
    assert.deepEqual(plan('check', ruleset('\t\ttcp dport 22 accept # handle 6')).summary, 'nftables lets VRRP through');
    assert.deepEqual(plan('off', ruleset(DROP_VRRP)), noop(want('off'), 'firewall: off (not read)'));
    assert.deepEqual(firewallKind.needs!(want('off')), {});
  });
});
