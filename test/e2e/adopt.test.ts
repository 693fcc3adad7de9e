// Adoption on the lab (issue 11, item 5): nodes configured by hand the way the document does it
// (keepalived installed with apt, a config with a sync group, tracking weights and notify scripts,
// started with systemctl), then `kadeploy import --ssh` writes the inventory, `apply --dry-run` shows
// nothing but formatting for keepalived.conf, `apply` converges with a reload at most while a 100 ms
// prober sees no gap on the VIP, and `verify` passes.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sameStatements } from '../../src/import/compare.js';
import { parseText } from '../../src/import/parse.js';
import { loadInventory } from '../../src/inventory/load.js';
import { createRenderer, KEEPALIVED_TEMPLATE } from '../../src/render/render.js';
import { kadeploy, type CliResult } from '../support/cli.js';
import { startProber } from '../support/prober.js';
import { vipHolders, withLab, type Lab } from './lab-helper.js';

const CONF = '/etc/keepalived/keepalived.conf';
const PASS = 'adopt-pw'; // 8 characters: the whole of it is used
const scratch = mkdtempSync(join(tmpdir(), 'kadeploy-adopt-'));

const NOTIFY = `#!/bin/sh
# Written by hand: logs VRRP transitions of the sync group.
logger -t lb-notify "VRRP group $1 $2 $3"
`;

/** The configuration an operator writes by hand on each node (indentation and order of their own). */
function handConfig(lab: Lab, k: number): string {
  const me = lab.nodes[k]!;
  const peer = lab.nodes[1 - k]!;
  const vip2 = lab.vip.replace(/\.(\d+)$/, (_m, d: string) => `.${Number(d) + 1}`);
  const instance = (name: string, vrid: number, vip: string) => `vrrp_instance ${name} {
   state ${k === 0 ? 'MASTER' : 'BACKUP'}
   interface eth0
   virtual_router_id ${vrid}
   priority ${k === 0 ? 150 : 140}
   advert_int 1
   unicast_src_ip ${me.ip}
   unicast_peer {
      ${peer.ip}
   }
   authentication {
      auth_type PASS
      auth_pass ${PASS}
   }
   virtual_ipaddress {
      ${vip}/32 dev eth0
   }
   track_script {
      chk_haproxy weight -30
   }
}
`;
  return `! Configuration File for keepalived (by hand)
global_defs {
   router_id ${me.name}
   enable_script_security
   script_user root
}

vrrp_script chk_haproxy {
   script "/usr/bin/killall -0 haproxy"   # is haproxy alive?
   interval 1
   fall 2
   rise 2
}

vrrp_sync_group VG_LB {
   group {
      VI_WEB
      VI_ADMIN
   }
   sync_group_tracking_weight
   notify_master "/usr/local/bin/lb-notify.sh GROUP MASTER"
   notify_backup "/usr/local/bin/lb-notify.sh GROUP BACKUP"
   notify_fault "/usr/local/bin/lb-notify.sh GROUP FAULT"
}

${instance('VI_WEB', 61, lab.vip)}
${instance('VI_ADMIN', 62, vip2)}`;
}

function expectOk(r: CliResult, what: string) {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
}

async function nodeState(lab: Lab) {
  const out: Record<string, { sum: string; pid: string; conf: string }> = {};
  for (const n of lab.nodes) {
    const r = await lab.ssh(n.name, `systemctl show -p MainPID --value keepalived; sha256sum ${CONF} | cut -d' ' -f1; cat ${CONF}`);
    const [pid = '', sum = '', ...conf] = r.stdout.split('\n');
    out[n.name] = { pid, sum, conf: conf.join('\n') };
  }
  return out;
}

describe('adopt a cluster configured by hand', { timeout: 900_000 }, () => {
  it('import --ssh, dry-run shows formatting only, apply reloads without a VIP gap, verify passes', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      // 1. By hand, as the document does it: apt, files, systemctl.
      for (const [k, n] of lab.nodes.entries()) {
        const apt = `apt-get -o Acquire::http::Proxy=${lab.proxyUrl} -q`;
        const r = await lab.ssh(
          n.name,
          [
            'set -e',
            `${apt} update >/dev/null && DEBIAN_FRONTEND=noninteractive ${apt} install -y keepalived psmisc >/dev/null`,
            `cat > /usr/local/bin/lb-notify.sh <<'EOF'\n${NOTIFY}EOF`,
            'chmod 0755 /usr/local/bin/lb-notify.sh',
            `cat > ${CONF} <<'EOF'\n${handConfig(lab, k)}EOF`,
            'systemctl enable keepalived >/dev/null 2>&1 || true',
            'systemctl restart keepalived',
            'systemctl is-active keepalived',
          ].join('\n'),
        );
        assert.equal(r.code, 0, `configuring ${n.name} by hand: ${r.stdout}${r.stderr}`);
      }
      for (let i = 0; i < 50 && !(await vipHolders(lab)).includes('lb1'); i++) await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await vipHolders(lab), ['lb1'], 'the hand-made cluster holds its VIP on lb1');
      const before = await nodeState(lab);

      // 2. Import from the live nodes.
      const inv = join(scratch, 'adopted.yaml');
      const imp = await kadeploy(['import', '--ssh', '-i', lab.keyPath, '--known-hosts', lab.knownHostsPath, ...lab.nodes.map((n) => `${n.name}=root@${n.ip}`), '-o', inv]);
      expectOk(imp, 'import --ssh');
      assert.doesNotMatch(imp.stdout + imp.stderr + readFileSync(inv, 'utf8'), new RegExp(PASS), 'auth_pass never written or printed');
      const text = readFileSync(inv, 'utf8');
      assert.match(text, /vrrp_sync_groups:\n\s+VG_LB:/);
      assert.match(text, /- name: chk_haproxy\n\s+weight: -30/);
      assert.match(text, /path: \/usr\/local\/bin\/lb-notify.sh/, 'the notify script became a managed file');
      assert.match(text, /unicast: true/, 'unicast derived from the node addresses');
      appendFileSync(inv, `apt_proxy: ${lab.proxyUrl}\n`);
      const env = { KA_AUTH_PASS_VI_WEB: PASS, KA_AUTH_PASS_VI_ADMIN: PASS };
      expectOk(await kadeploy(['validate', inv], env), 'validate');

      // 3. What kadeploy would write says what the hand-written file says: formatting only.
      const { cluster } = loadInventory(inv, env);
      const render = createRenderer(cluster);
      for (const node of cluster.nodes) {
        const rendered = render.template(KEEPALIVED_TEMPLATE, node);
        assert.ok(sameStatements(parseText(before[node.name]!.conf, `${node.name}:${CONF}`), parseText(rendered)), `${node.name}: rendered config says the same as the hand-written one`);
      }
      const dry = await kadeploy(['apply', '--dry-run', inv], env);
      expectOk(dry, 'apply --dry-run');
      assert.doesNotMatch(dry.stdout + dry.stderr, new RegExp(PASS));
      assert.doesNotMatch(dry.stdout, /keepalived\.conf \((create|update)(, mode [^)]*)?\)/, 'keepalived.conf: nothing but formatting changes');
      assert.deepEqual(await nodeState(lab), before, 'dry-run changed nothing');

      // 4. Apply under a 100 ms prober: a reload at most (same keepalived PID), the VIP never moves.
      const probe = startProber(lab.vip);
      await new Promise((r) => setTimeout(r, 1000));
      const applied = await kadeploy(['apply', inv], env);
      await new Promise((r) => setTimeout(r, 1500));
      const stats = await probe.stop();
      expectOk(applied, 'apply');
      process.stderr.write(`  adoption: ${stats.sent} probes, ${stats.failed} failed, longest gap ${stats.longestGapMs} ms\n`);
      const after = await nodeState(lab);
      for (const n of lab.nodes) assert.equal(after[n.name]!.pid, before[n.name]!.pid, `${n.name}: keepalived reloaded, not restarted`);
      assert.equal(stats.failed, 0, 'no probe failed');
      assert.ok(stats.longestGapMs < 1000, `longest gap ${stats.longestGapMs} ms`);
      assert.deepEqual(await vipHolders(lab), ['lb1'], 'the VIP never left lb1');

      // 5. verify passes; a second apply changes nothing.
      expectOk(await kadeploy(['verify', inv], env), 'verify');
      const again = await kadeploy(['apply', '--detailed-exitcode', inv], env);
      assert.equal(again.code, 0, `re-apply changes nothing:\n${again.stdout}${again.stderr}`);
    });
  });
});
