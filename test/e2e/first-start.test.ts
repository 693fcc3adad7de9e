// Issue 14, safe first start: keepalived never runs, even for a moment, with a configuration kadeploy
// did not write. A distribution may ship an active sample config (example VIPs): we plant one on lb1
// the way a package would, before the first apply, and poll lb1 every 50 ms during the apply: the
// sample's VIP never appears, and keepalived starts exactly once — with kadeploy's config.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kadeploy } from '../support/cli.js';
import { vipHolders, withLab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const STOP = '/run/first-start-poll.stop';

/** A sample as a distribution might ship it: MASTER at priority 255, so it would take its VIP at once. */
const sample = (vip: string) =>
  ['! Sample configuration shipped with the package', 'vrrp_instance VI_SAMPLE {', '    state MASTER', '    interface eth0',
    '    virtual_router_id 77', '    priority 255', '    advert_int 1', '    virtual_ipaddress {', `        ${vip}/32`, '    }', '}'].join('\n');

describe('safe first start', { timeout: 600_000 }, () => {
  it('a sample config planted before the install never runs: its VIP never appears, keepalived starts once, with our config', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const sampleVip = lab.vip.replace(/\.\d+$/, '.200');
      assert.notEqual(sampleVip, lab.vip);
      const plant = await lab.exec('lb1', `mkdir -p /etc/keepalived && cat > ${CONF} <<'EOF'\n${sample(sampleVip)}\nEOF\ntest -s ${CONF}`);
      assert.equal(plant.code, 0, plant.stderr);

      // Every 50 ms: is the sample's VIP there, and which keepalived the unit runs (its main
      // process: the config test kadeploy runs, `keepalived -t`, is not the unit and is not counted).
      const poll = lab.exec(
        'lb1',
        `rm -f ${STOP}; n=0; while [ ! -e ${STOP} ]; do ip -o addr show | grep -q ' ${sampleVip}/' && echo "vip"; ` +
          `p=$(systemctl show -p MainPID --value keepalived 2>/dev/null); [ "\${p:-0}" != 0 ] && echo "pid $p"; n=$((n+1)); sleep 0.05; done; echo "polls $n"`,
      );
      const apply = await kadeploy(['apply', lab.inventoryPath]);
      const stop = await lab.exec('lb1', `touch ${STOP}`);
      assert.equal(stop.code, 0);
      const lines = (await poll).stdout.trim().split('\n');
      assert.equal(apply.code, 0, `apply: exit ${apply.code}\n${apply.stdout}\n${apply.stderr}`);
      assert.match(apply.stdout + apply.stderr, /mask keepalived/);

      const polls = Number(lines.find((l) => l.startsWith('polls '))?.split(' ')[1]);
      assert.ok(polls > 20, `the poller ran during the apply (${polls} polls)`);
      assert.equal(lines.filter((l) => l === 'vip').length, 0, `the sample's VIP ${sampleVip} never appeared on lb1`);
      const pids = [...new Set(lines.filter((l) => l.startsWith('pid ')))];
      assert.equal(pids.length, 1, `keepalived started once on lb1 during the apply: ${pids.join(', ')}`);

      // That one keepalived runs now, with kadeploy's config (the lab VIP, not the sample's).
      const now = await lab.exec('lb1', `systemctl show -p MainPID --value keepalived; systemctl is-enabled keepalived; grep -c VI_SAMPLE ${CONF}; ip -o addr show`);
      const [mainPid, enabled, sampleLines] = now.stdout.trim().split('\n');
      assert.equal(`pid ${mainPid}`, pids[0], 'the keepalived seen during the apply is the one running now');
      assert.equal(enabled, 'enabled', 'unmasked and enabled after the apply');
      assert.equal(sampleLines, '0', 'the sample config is replaced');
      assert.ok(!now.stdout.includes(` ${sampleVip}/`), 'no sample VIP after the apply');
      let holders: string[] = [];
      for (let i = 0; i < 40 && holders.length !== 1; i++) {
        holders = await vipHolders(lab);
        if (holders.length !== 1) await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(holders, ['lb1'], `the lab VIP ${lab.vip} on lb1 only`);

      // Re-apply: nothing to mask or unmask any more.
      const again = await kadeploy(['apply', lab.inventoryPath]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.doesNotMatch(again.stdout, /mask keepalived/);
    });
  });
});
