// Issue 14, a busy package manager: another process holds apt's lists lock for 20 s (fcntl, as apt
// itself locks; `apt-get update` would fail at once on it). apply waits, its progress line names the
// holder (process name and PID, read from the node's /proc/locks), shows apt-get update's own
// progress, then succeeds, installing only after the lock was released.
// KADEPLOY_TEST_RELEASES=bullseye,trixie picks the releases (default: all).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RELEASES, type Release } from '../../src/lab/index.js';
import { LOCK_WAIT_PREFIX } from '../../src/ops/package.js';
import { kadeploy } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const LOCK = '/var/lib/apt/lists/lock';
const LOCK_SECONDS = 20;
const HOLD_LOCK =
  `setsid sh -c 'python3 -c "import fcntl, os, sys, time; f = open(sys.argv[1], \\"w\\"); fcntl.lockf(f, fcntl.LOCK_EX); ` +
  `open(\\"/run/lists-lock-holder\\", \\"w\\").write(str(os.getpid())); time.sleep(${LOCK_SECONDS})" ${LOCK}; date +%s > /run/lists-lock-released' </dev/null >/dev/null 2>&1 &`;
const releases = (process.env.KADEPLOY_TEST_RELEASES?.split(',') ?? [...RELEASES]) as Release[];

async function out(lab: Lab, node: string, cmd: string): Promise<string> {
  const r = await lab.exec(node, cmd);
  assert.equal(r.code, 0, `${node}: ${cmd} -> exit ${r.code}\n${r.stderr}`);
  return r.stdout.trim();
}

describe('apt lists lock held by another process', { timeout: 600_000 * releases.length }, () => {
  for (const release of releases) {
    it(`${release}: apply waits for ${LOCK}, naming its holder, then succeeds`, async (t) => {
      await withLab(t, { nodes: 2, release }, async (lab) => {
        await out(lab, 'lb2', `rm -f /run/lists-lock-holder /run/lists-lock-released; ${HOLD_LOCK}`);
        let pid = '';
        for (let i = 0; i < 50 && !pid; i++, await sleep(100)) pid = await out(lab, 'lb2', 'cat /run/lists-lock-holder 2>/dev/null || true');
        assert.match(pid, /^\d+$/, `${LOCK} is held on lb2`);
        // Lists older than cache_valid_time (1 h), so the install runs apt-get update first (after the
        // lock file's creation, which touched the lists' directory).
        await out(lab, 'lb2', 'rm -f /var/lib/apt/periodic/update-success-stamp; touch -d "2 hours ago" /var/lib/apt/lists');

        const t0 = Date.now();
        // --skip-preflight: preflight would install its tools first and do the waiting (on stderr).
        const r = await kadeploy(['apply', lab.inventoryPath, '--skip-preflight']);
        const took = (Date.now() - t0) / 1000;
        assert.equal(r.code, 0, `apply: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        const waits = r.stdout.split('\n').filter((l) => l.includes(LOCK_WAIT_PREFIX));
        assert.ok(waits.length >= 2, `several progress lines while waiting:\n${r.stdout}`);
        assert.match(waits[0]!, new RegExp(`install [^:]+: ${LOCK_WAIT_PREFIX} ${LOCK} is held by python3 \\(pid ${pid}\\) \\(0 s\\)`));
        // apt-get update's own lines reach the progress line too: a slow update is not silent.
        assert.match(r.stdout, /install [^:]+: (Hit|Get|Ign):\d+ /, 'apt-get update progress shown');

        const released = Number(await out(lab, 'lb2', 'cat /run/lists-lock-released'));
        const installed = Number(await out(lab, 'lb2', 'stat -c %Y /var/lib/dpkg/info/keepalived.list'));
        assert.ok(installed >= released, `keepalived installed on lb2 (${installed}) after the lock was released (${released})`);
        assert.ok(took >= LOCK_SECONDS - 5, `apply took ${took.toFixed(1)} s: it waited`);
        t.diagnostic(`${release}: apply ${took.toFixed(1)} s with ${LOCK} held ${LOCK_SECONDS} s on lb2; first wait line: ${waits[0]!.trim()}`);
        const verify = await kadeploy(['verify', lab.inventoryPath]);
        assert.equal(verify.code, 0, `verify\n${verify.stdout}\n${verify.stderr}`);
      });
    });
  }
});
