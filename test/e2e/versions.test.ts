// Issue 14, releases: kadeploy reads each node's keepalived version and refuses, before any change,
// a directive that version does not know. `vrrp_down_timer_adverts` came with keepalived 2.2.3:
// Debian 11's 2.1.5 would ignore it (its own `keepalived -t` exits 0 on it), 2.2.7 and 2.3 read it.
// On bullseye: refused before the install (apt's candidate version), and again once keepalived runs
// (config and PID unchanged); on bookworm and trixie the same inventory is applied.
// KADEPLOY_TEST_RELEASES=bullseye,trixie limits the releases (default: all).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { RELEASES, type Release } from '../../src/lab/index.js';
import { kadeploy, type CliResult } from '../support/cli.js';
import { withLab, type Lab } from './lab-helper.js';

const DIRECTIVE = 'vrrp_down_timer_adverts';
const CONF = '/etc/keepalived/keepalived.conf';
const releases = (process.env.KADEPLOY_TEST_RELEASES?.split(',') ?? [...RELEASES]) as Release[];
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-versions-'));

/** The lab's inventory with a keepalived 2.2.3 directive in global_defs. */
function newerInventory(lab: Lab): string {
  const doc = parseDocument(readFileSync(lab.inventoryPath, 'utf8'));
  doc.set('global_defs', doc.createNode({ verbatim: `${DIRECTIVE} 3` }));
  const file = join(dir, `${lab.name}-newer.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

const text = (r: CliResult) => `${r.stdout}\n${r.stderr}`;

/** Per node: keepalived.conf's sha256 (or "absent"), keepalived's main PID, whether the package is installed. */
async function nodeState(lab: Lab): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const n of lab.nodes) {
    const r = await lab.exec(n.name, `{ sha256sum ${CONF} 2>/dev/null || echo absent; } | cut -d' ' -f1; systemctl show -p MainPID --value keepalived; dpkg-query -W -f='\${db:Status-Status}' keepalived 2>/dev/null || echo not-installed`);
    state[n.name] = r.stdout.trim().replace(/\n/g, ' ');
  }
  return state;
}

describe('keepalived version awareness', { timeout: 600_000 * releases.length }, () => {
  for (const release of releases) {
    it(`${release}: a ${DIRECTIVE} inventory is ${release === 'bullseye' ? 'refused before any change' : 'applied'}`, async (t) => {
      await withLab(t, { nodes: 2, release }, async (lab) => {
        const newer = newerInventory(lab);
        if (release === 'bullseye') {
          // Not installed yet: apt's candidate (2.1.5) is the version checked; nothing is installed.
          const before = await nodeState(lab);
          const fresh = await kadeploy(['apply', newer]);
          assert.notEqual(fresh.code, 0, `apply must refuse:\n${text(fresh)}`);
          for (const node of ['lb1', 'lb2']) {
            assert.match(text(fresh), new RegExp(`${node}: keepalived 2\\.1\\.\\d+ does not understand a directive of its ${CONF}:\\n\\s+${DIRECTIVE} \\(line \\d+\\): keepalived 2\\.2\\.3 added it`));
          }
          assert.match(text(fresh), /Nothing was changed on any node/);
          assert.deepEqual(await nodeState(lab), before, 'nothing changed (no package, no config)');
          assert.match(before.lb1!, /not-installed/);
          t.diagnostic(`refused before the install:\n${fresh.stderr.trim()}`);

          // Running keepalived: refused again, config and PID unchanged on both nodes.
          const plain = await kadeploy(['apply', lab.inventoryPath]);
          assert.equal(plain.code, 0, text(plain));
          const running = await nodeState(lab);
          const again = await kadeploy(['apply', newer]);
          assert.notEqual(again.code, 0, text(again));
          assert.match(text(again), new RegExp(`lb1: keepalived 2\\.1\\.5 does not understand a directive.*\\n\\s+${DIRECTIVE} \\(line \\d+\\)`));
          assert.deepEqual(await nodeState(lab), running, 'config and keepalived PID unchanged');
          const r = await lab.exec('lb1', `grep -c ${DIRECTIVE} ${CONF} || true`);
          assert.equal(r.stdout.trim(), '0');
        } else {
          const r = await kadeploy(['apply', newer]);
          assert.equal(r.code, 0, text(r));
          for (const n of lab.nodes) {
            const conf = await lab.exec(n.name, `grep -c '^ *${DIRECTIVE} 3$' ${CONF}; keepalived -t -f ${CONF}; echo rc=$?`);
            assert.match(conf.stdout, /^1\nrc=0$/m, `${n.name}: ${conf.stdout}${conf.stderr}`);
          }
          const verify = await kadeploy(['verify', newer]);
          assert.equal(verify.code, 0, text(verify));
        }
      });
    });
  }
});
