// Issue 12 on the real lab: secrets masked by position (a rotated or hand-edited auth_pass never
// printed, old or new), the lock's liveness (a stale lock taken over and said; a live one with a
// colliding host name and PID respected), verify --failover taking the lock, and verify running track
// scripts as keepalived does (a check that cannot run fails; the readings after it are still taken).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const LIVE = 'labpass1'; // the lab inventory's auth_pass, deployed first
const ROTATED = 'Rot8New1';
const HAND = 'Hand3dit';
const SECRETS = [LIVE, ROTATED, HAND];

function expectCode(r: CliResult, code: number, what: string) {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** Run kadeploy and assert that no secret, old or new, is in its output. */
async function run(args: string[]): Promise<CliResult> {
  const r = await kadeploy(args);
  for (const s of SECRETS) assert.ok(!`${r.stdout}${r.stderr}`.includes(s), `kadeploy ${args.join(' ')} printed ${s}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function variant(lab: Lab, name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  edit(doc);
  const file = join(mkdtempSync(join(tmpdir(), 'kadeploy-e2e-sec-')), `${name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

/** A lock on a node as another run would leave it; `silentS`: its last sign of life, seconds ago. */
const plantLock = (lab: Lab, node: string, holder: string, silentS: number) =>
  lab.ssh(node, `mkdir /run/kadeploy.lock && printf '%s\\n' ${holder} > /run/kadeploy.lock/holder && touch -d '-${silentS} sec' /run/kadeploy.lock/alive`);

describe('issue 12 on a 2-node lab', { timeout: 900_000 }, () => {
  it('secrets by position, the lock, verify --failover under the lock, track scripts as keepalived runs them', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      expectCode(await run(['apply', inv]), 0, 'apply');
      // The lab's services may still be settling (HAProxy starting, first adverts): a few tries.
      // --adverts: this checks the stats read from the root-written file (a window), not the states.
      let ok = await run(['verify', inv, '--adverts']);
      for (let i = 0; i < 10 && ok.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 2000));
        ok = await run(['verify', inv, '--adverts']);
      }
      expectCode(ok, 0, 'verify after apply (track scripts via setpriv, stats from the root-written file)');
      assert.match(ok.stdout, /lb1\s+track script chk_haproxy\s+PASS\s+killall -0 haproxy: exit 0/);
      assert.match(ok.stdout, /lb2\s+VRRP adverts VI_1\s+PASS\s+backup: received [1-9]/);

      // Each item a subtest on the same lab: one failing does not hide the others.
      const clearLock = () => lab.ssh('lb1', 'rm -rf /run/kadeploy.lock');

      await t.test('1: a rotated or hand-edited auth_pass is never printed, old or new', async () => {
        // auth_pass rotated in the inventory: the diff hides the live (old) value and the new one.
        const rotated = variant(lab, 'rotated', (d) => d.setIn(['vrrp_instances', 'VI_1', 'authentication', 'auth_pass'], ROTATED));
        for (const args of [['apply', rotated, '--dry-run'], ['diff', rotated, '--json'], ['verify', rotated], ['verify', rotated, '--json']]) {
          const r = await run(args);
          assert.match(r.stdout, /auth_pass \*{8} \(auth_pass changed\)/, `${args.join(' ')}:\n${r.stdout}`);
        }
        // ... and edited by hand on a node (quoted, with a comment): neither value either.
        await lab.ssh('lb2', `sed -i 's/auth_pass ${LIVE}/auth_pass "${HAND}" # by hand/' ${CONF} && grep -q ${HAND} ${CONF}`);
        try {
          for (const args of [['apply', inv, '--dry-run'], ['diff', inv, '--json'], ['verify', inv], ['verify', inv, '--json'], ['status', inv], ['rollback', inv, '--dry-run']]) {
            const r = await run(args);
            if (args[0] !== 'status' && args[0] !== 'rollback') assert.match(r.stdout, /auth_pass \*{8} \(auth_pass changed\)/, `${args.join(' ')}:\n${r.stdout}`);
          }
          const drift = await run(['verify', inv]);
          assert.match(drift.stdout, /lb2\s+\/etc\/keepalived\/keepalived\.conf as rendered\s+FAIL\s+drift:/);
        } finally {
          expectCode(await kadeploy(['apply', inv]), 0, 're-apply puts the inventory\'s auth_pass back');
        }
      });

      await t.test('8: verify --failover takes the lock', async () => {
        // A live lock on lb1 stops the drill before any service is stopped.
        await clearLock();
        await plantLock(lab, 'lb1', "token=other host=ci-runner pid=7 user=ops 'command=apply prod.yaml'", 0);
        const refused = await run(['verify', inv, '--failover']);
        expectCode(refused, 1, 'verify --failover with the lock held');
        assert.match(refused.stderr, /lb1: another kadeploy run holds the lock \/run\/kadeploy\.lock: ops@ci-runner pid 7 \(apply prod\.yaml\)/);
        assert.doesNotMatch(refused.stderr, /stopping haproxy/);
        assert.equal((await lab.ssh('lb1', 'systemctl is-active haproxy')).stdout.trim(), 'active');
        expectCode(await run(['verify', inv]), 0, 'plain verify changes nothing and needs no lock');
        await clearLock();
        // With the lock free, the drill runs under it and gives it back.
        const drill = await run(['verify', inv, '--failover', '--json']);
        expectCode(drill, 0, 'verify --failover with the lock free');
        assert.equal(JSON.parse(drill.stdout).failover.outcome, 'failback');
        assert.equal((await lab.ssh('lb1', 'test -e /run/kadeploy.lock && echo held || echo free')).stdout.trim(), 'free', 'released after the drill');
      });

      await t.test('7: lock liveness is a renewed signal, not a host name and PID', async () => {
        // A live lock whose holder has our host name and a PID unknown here (another PID namespace) is respected ...
        await clearLock();
        await plantLock(lab, 'lb1', `token=ns2 host=${hostname()} pid=4000000 user=ci command=apply`, 0);
        const live = await run(['apply', inv]);
        expectCode(live, 1, 'apply with a live lock held from another PID namespace');
        assert.match(live.stderr, /another kadeploy run holds the lock/);
        assert.match((await lab.ssh('lb1', 'cat /run/kadeploy.lock/holder')).stdout, /token=ns2/, 'the live lock is kept');
        // ... and a lock whose holder stopped renewing it is taken over, saying so (PID 1 runs everywhere: no proof of life).
        await clearLock();
        await plantLock(lab, 'lb1', `token=dead host=${hostname()} pid=1 user=ci 'command=apply old.yaml'`, 300);
        const takeover = await run(['apply', inv]);
        expectCode(takeover, 0, 'apply over a stale lock');
        assert.match(takeover.stderr, /lb1: took over a stale lock of ci@\S+ pid 1 \(apply old\.yaml\), last sign of life 3\d\d s ago/);
        assert.equal((await lab.ssh('lb1', 'test -e /run/kadeploy.lock && echo held || echo free')).stdout.trim(), 'free', 'released after the run');
        await clearLock();
      });

      await t.test('11: track scripts run as keepalived runs them; a check that cannot run fails', async () => {
        // A track script keepalived cannot run ("if" is a command name without a shell) fails as
        // "could not run"; the readings taken after it (adverts, journal) are still real.
        const bad = variant(lab, 'bad-script', (d) => d.setIn(['vrrp_scripts', 'chk_haproxy', 'script'], 'if /bin/true'));
        const checks = await run(['verify', bad, '--adverts']);
        expectCode(checks, 1, 'verify with a script keepalived cannot run');
        assert.match(checks.stdout, /lb1\s+track script chk_haproxy\s+FAIL\s+if \/bin\/true: could not run \(exit 127/);
        assert.match(checks.stdout, /lb2\s+VRRP adverts VI_1\s+PASS\s+backup: received [1-9]/);
        assert.match(checks.stdout, /lb2\s+keepalived journal\s+PASS/);
      });
    });
  });
});
