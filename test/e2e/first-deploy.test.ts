// Issue 15, a first deploy's costs on the real lab: preflight installs nothing (perl-base probes), the
// packages are downloaded while preflight listens, and the install then refreshes nothing and
// downloads nothing more. An APT hook on each node records every `apt-get update` and every dpkg run
// with the time; the timings (--json --timings) say what ran when. keepalived's first start: the
// highest priority node starts first and is the only one ever MASTER (the VIP moves once, onto it),
// seen both by sampling who holds the VIP during the run and in each node's keepalived journal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kadeploy } from '../support/cli.js';
import { vipHolders, withLab } from './lab-helper.js';

type Timing = { name: string; ms: number };
const LOG = '/root/kadeploy-test-apt.log';
const HOOK = '/etc/apt/apt.conf.d/99kadeploy-test-first-deploy';

describe('first deploy on a 2-node lab', { timeout: 900_000 }, () => {
  it('preflight installs nothing; packages download during preflight; one update, one dpkg run per node', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      // As a node found idle for a while: lists 2 hours old (refreshed by the first deploy, as Ansible's
      // cache_valid_time would), no success stamp; the hooks log each update and each dpkg run.
      for (const n of lab.nodes) {
        const hook = `APT::Update::Pre-Invoke {"echo update $(date +%s.%N) >> ${LOG}";}; DPkg::Pre-Invoke {"echo dpkg $(date +%s.%N) >> ${LOG}";};`;
        const setup = await lab.exec(n.name, `printf '%s\\n' '${hook}' > ${HOOK} && rm -f ${LOG} /var/lib/apt/periodic/update-success-stamp && touch -d '2 hours ago' /var/lib/apt/lists && ` +
          '! dpkg -s socat >/dev/null 2>&1 && ! dpkg -s iputils-arping >/dev/null 2>&1');
        assert.equal(setup.code, 0, `${n.name}: ${setup.stderr}`);
      }
      const started = Date.now() / 1000;
      // Who holds the VIP, sampled until the deploy ends (each sample reads every node through nsenter).
      let deploying = true;
      const seen: string[][] = [];
      const sampling = (async () => {
        while (deploying) seen.push(await vipHolders(lab));
      })();
      const first = await kadeploy(['apply', lab.inventoryPath, '--json', '--timings']);
      deploying = false;
      await sampling;
      assert.equal(first.code, 0, `first deploy: exit ${first.code}\n${first.stdout}\n${first.stderr}`);
      assert.match(first.stderr, /preflight: first deploy of inventory\.yaml/);
      assert.match(first.stderr, /preflight passed/);
      assert.doesNotMatch(first.stderr, /installing/, 'preflight installs nothing');
      const entries = (JSON.parse(first.stdout) as { timings: { entries: Timing[] } }).timings.entries;
      const names = entries.map((e) => e.name);
      const at = (re: RegExp) => names.findIndex((n) => re.test(n));
      for (const n of ['lb1', 'lb2']) {
        assert.ok(at(new RegExp(`^${n}: download keepalived(, psmisc)? \\(during preflight\\)$`)) >= 0, `${n}: download timed: ${names.join(' | ')}`);
        assert.ok(at(new RegExp(`^${n}: install keepalived`)) > at(/^preflight$/), `${n}: installed after the preflight`);
      }
      // The expected holder (lb1, priority 150) is configured and started first; its enable after its start.
      const steps = (n: string) => names.filter((x) => x.startsWith(`${n}: `)).map((x) => x.slice(n.length + 2));
      assert.ok(names.indexOf('lb1: start keepalived') < names.indexOf('lb2: upload /etc/keepalived/keepalived.conf'), `lb1 started before lb2 is configured: ${names.join(' | ')}`);
      for (const n of ['lb1', 'lb2']) assert.deepEqual(steps(n).slice(-3), ['start keepalived', 'keepalived active after start', 'enable keepalived'], n);
      assert.ok(at(/^preflight$/) >= 0, 'preflight timed');

      for (const n of lab.nodes) {
        const r = await lab.exec(n.name, `cat ${LOG}; dpkg-query -W -f '\${Status}' keepalived; echo; dpkg -s socat >/dev/null 2>&1 && echo socat; dpkg -s iputils-arping >/dev/null 2>&1 && echo arping; rm -f ${HOOK} ${LOG}`);
        const lines = r.stdout.trim().split('\n');
        const updates = lines.filter((l) => l.startsWith('update ')).map((l) => Number(l.split(' ')[1]));
        const dpkgs = lines.filter((l) => l.startsWith('dpkg ')).map((l) => Number(l.split(' ')[1]));
        assert.equal(updates.length, 1, `${n.name}: one apt-get update (the download's; the install finds the lists fresh): ${r.stdout}`);
        assert.equal(dpkgs.length, 1, `${n.name}: one dpkg run, the install: ${r.stdout}`);
        assert.ok(updates[0]! > started && updates[0]! < dpkgs[0]!, `${n.name}: the update before the install`);
        assert.ok(lines.includes('install ok installed'), `${n.name}: keepalived installed`);
        assert.ok(!lines.includes('socat') && !lines.includes('arping'), `${n.name}: no socat, no arping`);
      }
      let holders: string[] = [];
      for (let i = 0; i < 40 && holders.length !== 1; i++) {
        holders = await vipHolders(lab);
        if (holders.length !== 1) await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(holders, ['lb1'], `the VIP ${lab.vip} on lb1 only`);
      // The VIP moved once: from nowhere onto lb1, never on lb2 on the way (apply's VIP check ends on lb1 alone).
      const moves = seen.filter((h, i) => h.join() !== (seen[i - 1] ?? []).join()).map((h) => h.join('+') || 'none');
      assert.ok(seen.length >= 10, `sampled often enough: ${seen.length} samples`);
      assert.deepEqual(moves.filter((m) => m !== 'none'), ['lb1'], `VIP holders during the deploy: ${moves.join(' → ')}`);
      // keepalived's own account: one MASTER transition in the cluster, lb1's.
      const masters: string[] = [];
      for (const n of lab.nodes) {
        const j = await lab.exec(n.name, 'journalctl -u keepalived -o cat --no-pager');
        for (const l of j.stdout.split('\n')) if (/Entering MASTER STATE/.test(l)) masters.push(n.name);
      }
      assert.deepEqual(masters, ['lb1'], 'keepalived entered MASTER once, on lb1');

      // The next apply is no first deploy: no preflight, no download.
      const again = await kadeploy(['apply', lab.inventoryPath, '--timings']);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.doesNotMatch(again.stderr, /preflight|download/);
    });
  });
});
