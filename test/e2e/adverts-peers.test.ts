// Issue 14 on a 3-node lab: verify says which node hears which. lb3 drops VRRP from lb1 only: lb3
// becomes master too, and verify names exactly that pair and direction (lb1 → lb3 lost) while the
// others work. Then lb2 drops lb1's adverts as well: lb2 takes over as second master, and lb3 — whose
// counter still looks right, as it hears lb2 — is shown losing lb1's adverts while hearing lb2's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kadeploy } from '../support/cli.js';
import { withLab } from './lab-helper.js';

type Run = { code: number; stdout: string; stderr: string };

// --adverts throughout: this test is about the measured window's per-peer verdicts (what each node
// hears from each sender), which the states alone never show (issue 15 infers adverts from them).
async function verifyUntil(inv: string, done: (r: Run) => boolean, tries = 8): Promise<Run> {
  let r = await kadeploy(['verify', inv, '--adverts']);
  for (let i = 1; i < tries && !done(r); i++) {
    await new Promise((ok) => setTimeout(ok, 2000));
    r = await kadeploy(['verify', inv, '--adverts']);
  }
  return r;
}

const row = (out: string, node: string) => out.split('\n').find((l) => new RegExp(`^${node}\\s+VRRP adverts VI_1\\s`).test(l)) ?? '';

describe('verify: per-peer advert verdicts on a 3-node lab', { timeout: 900_000 }, () => {
  it('names the exact pair and direction of a one-way loss', async (t) => {
    await withLab(t, { nodes: 3 }, async (lab) => {
      const inv = lab.inventoryPath;
      const apply = await kadeploy(['apply', inv]);
      assert.equal(apply.code, 0, `apply: ${apply.stdout}\n${apply.stderr}`);
      const ok = await verifyUntil(inv, (r) => r.code === 0);
      assert.equal(ok.code, 0, `verify after apply:\n${ok.stdout}\n${ok.stderr}`);
      assert.match(row(ok.stdout, 'lb2'), /PASS\s+backup: .*per peer: lb1 → lb2 works \(\d+ of \d+\)$/);
      assert.match(row(ok.stdout, 'lb3'), /PASS\s+backup: .*per peer: lb1 → lb3 works \(\d+ of \d+\)$/);
      const [lb1] = lab.nodes;

      const nft = (node: string) =>
        lab.exec(
          node,
          `command -v nft >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get -q -o Acquire::http::Proxy=${lab.proxyUrl} update >/dev/null && ` +
            `apt-get -y -q -o Acquire::http::Proxy=${lab.proxyUrl} install --no-install-recommends nftables >/dev/null; } && ` +
            `nft add table inet t && nft add chain inet t in '{ type filter hook input priority 0; }' && nft add rule inet t in ip saddr ${lb1!.ip} ip protocol 112 drop`,
        );
      const r3 = await nft('lb3');
      assert.equal(r3.code, 0, r3.stdout + r3.stderr);
      const lost3 = (r: Run) => /lb1 → lb3 lost \(0 of [1-9]/.test(row(r.stdout, 'lb3')) && /lb3 → lb2 works/.test(row(r.stdout, 'lb2'));
      const one = await verifyUntil(inv, lost3);
      assert.ok(lost3(one), one.stdout);
      assert.match(row(one.stdout, 'lb3'), /FAIL\s+lb3 receives no adverts from lb1 \(holder\)/);
      assert.match(row(one.stdout, 'lb2'), /per peer: lb1 → lb2 works \(\d+ of \d+\), lb3 → lb2 works/);
      assert.match(row(one.stdout, 'lb1'), /per peer: lb3 → lb1 works \(\d+ of \d+\)$/);
      assert.doesNotMatch(one.stdout, /lb1 → lb2 lost|lb3 → lb1 lost|lb2 → \S+ lost/, 'only lb1 → lb3 is lost');

      // lb2 drops lb1's adverts too: lb2 (140) becomes master; lb3 (130) hears lb2 and backs off.
      const r2 = await nft('lb2');
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      const two = (r: Run) => /per peer: lb1 → lb3 lost \(0 of [1-9]\d*\), lb2 → lb3 works/.test(row(r.stdout, 'lb3')) && /lb1 → lb2 lost/.test(row(r.stdout, 'lb2'));
      const both = await verifyUntil(inv, two);
      assert.ok(two(both), both.stdout);
      assert.match(row(both.stdout, 'lb1'), /per peer: lb2 → lb1 works/);
    });
  });
});
