// Issue 12, items 4 and 5, on the real lab. kadeploy is SIGKILLed after it renamed a new
// keepalived.conf into place on a node and before it reloaded keepalived there (a command task
// between the two blocks until the test has killed it): verify then reports that keepalived runs an
// older configuration than the file, the next apply reloads it — though the file is already as
// rendered — and the VIP follows the new priorities. A temp file an interrupted upload left behind
// (holding auth_pass) is removed by that apply, by name: its content is never printed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { kadeploy, type CliResult } from '../support/cli.js';
import { HELD, HOLD, spawnHeld, vipHolders, waitHolder, withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const LEFTOVER = '/etc/keepalived/.keepalived.conf.kadeploy-0badc0de.tmp';
const LEFTOVER_SECRET = 'oldpassX';
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-converge-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lab's inventory, every node BACKUP (so that only priorities decide), with `prio` per node. */
function inventory(lab: Lab, name: string, prio: Record<string, number>): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  lab.nodes.forEach((n, k) => {
    doc.setIn(['nodes', k, 'state'], 'BACKUP');
    doc.setIn(['nodes', k, 'priority'], prio[n.name]);
  });
  const file = join(dir, name);
  writeFileSync(file, doc.toString());
  return file;
}

const expectOk = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
const noSecret = (r: CliResult, what: string) => {
  for (const s of ['labpass1', LEFTOVER_SECRET]) assert.ok(!(r.stdout + r.stderr).includes(s), `${what}: ${s} printed`);
};

describe('convergence after kadeploy is killed on a 2-node lab', { timeout: 900_000 }, () => {
  it('a config written but never reloaded is seen by verify, reloaded by the next apply; leftover temp files go', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const [lb1, lb2] = lab.nodes.map((n) => n.name) as [string, string];
      const before = inventory(lab, 'before.yaml', { [lb1]: 150, [lb2]: 140 });
      const after = inventory(lab, 'after.yaml', { [lb1]: 150, [lb2]: 160 });
      expectOk(await kadeploy(['apply', before]), 'first apply');
      await waitHolder(lab, lb1, 'after the first apply');

      // Kill kadeploy on lb2 between the rename of keepalived.conf and the reload.
      const child = await spawnHeld(lab, lb2, ['apply', after], 'apply');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await lab.exec(lb2, `rm -f ${HOLD} ${HELD}`);
      assert.match((await lab.exec(lb2, `cat ${CONF}`)).stdout, /priority 160/, 'the new file is in place on lb2');
      await sleep(3000);
      assert.deepEqual(await vipHolders(lab), [lb1], 'keepalived on lb2 still runs priority 140: the VIP stays on lb1');

      // An upload cut short on lb1 left its temp file, holding a secret.
      await lab.exec(lb1, `umask 077; printf '        auth_pass ${LEFTOVER_SECRET}\\n' > ${LEFTOVER}`);

      const verify = await kadeploy(['verify', after, '--json']);
      noSecret(verify, 'verify');
      assert.equal(verify.code, 1, `verify fails: ${verify.stdout}`);
      const results = (JSON.parse(verify.stdout) as { checks: Array<{ node: string; check: string; ok: boolean; detail: string }> }).checks;
      const runs = results.find((r) => r.node === lb2 && r.check === `keepalived runs ${CONF}`);
      assert.ok(runs && !runs.ok, `verify reports lb2's keepalived running an older config: ${JSON.stringify(runs)}`);
      assert.match(runs.detail, /keepalived runs an older configuration than the file/);
      assert.ok(results.find((r) => r.node === lb2 && r.check === `${CONF} as rendered`)?.ok, 'the file itself is as rendered');

      const dry = await kadeploy(['apply', after, '--dry-run', '--detailed-exitcode']);
      noSecret(dry, 'dry-run');
      assert.equal(dry.code, 2, `changes pending: ${dry.stdout}${dry.stderr}`);
      assert.match(dry.stdout, /keepalived: reload \(\/etc\/keepalived\/keepalived\.conf changed on disk since keepalived last loaded it\)/);
      assert.match(dry.stdout, /remove 1 leftover temp file\(s\)/);

      const apply = await kadeploy(['apply', after]);
      noSecret(apply, 'apply');
      expectOk(apply, 'the apply after the kill');
      assert.match(apply.stdout + apply.stderr, new RegExp(`VIP ${lab.vip.replace(/\./g, '\\.')} on ${lb2} \\(expected ${lb2}\\)`));
      await waitHolder(lab, lb2, 'the VIP follows the new priorities');
      assert.equal((await lab.exec(lb1, `ls -a /etc/keepalived`)).stdout.includes('kadeploy-0badc0de'), false, 'the leftover temp file is gone');

      const again = await kadeploy(['apply', after, '--dry-run', '--detailed-exitcode']);
      assert.equal(again.code, 0, `converged: nothing left to do\n${again.stdout}`);
      const verified = await kadeploy(['verify', after]);
      expectOk(verified, 'verify after the apply');
    });
  });
});
