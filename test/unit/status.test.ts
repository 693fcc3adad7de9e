// `kadeploy status` shows each node's systemd state (and a degraded node's failed units), read in the
// same round trip as keepalived's state and the drain marker. The fake nodes run status's real
// commands in a local sh, with a stub `systemctl` (and `ip`) first on PATH.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Connected } from '../../src/apply/session.js';
import { failedUnitsFact } from '../../src/facts/system.js';
import { loadInventory } from '../../src/inventory/load.js';
import type { SshConnection } from '../../src/ssh/connection.js';
import { formatStatus, readStatus } from '../../src/verify/status.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const cluster = loadInventory(join(ROOT, 'inventories', 'doc-two-nodes.yaml')).cluster;

/** A node whose `systemctl` answers `system` to is-system-running and lists `failed` units; `ip -o addr` prints `addrs`. */
function fakeNode(system: string, failed: string[], log: string[], addrs = ''): SshConnection {
  const bin = mkdtempSync(join(tmpdir(), 'kadeploy-status-'));
  const list = failed.map((u) => `${u} loaded failed failed test unit`).join('\n');
  writeFileSync(
    join(bin, 'systemctl'),
    `#!/bin/sh
case "$*" in
  is-system-running*) echo ${system}; [ ${system} = running ];;
  is-active*) echo active;;
  "--failed --no-legend --plain") printf '%s\\n' '${list}' | sed '/^$/d';;
  *) exit 1;;
esac
`,
  );
  writeFileSync(join(bin, 'ip'), `#!/bin/sh\nprintf '%s' '${addrs}'\n`);
  chmodSync(join(bin, 'systemctl'), 0o755);
  chmodSync(join(bin, 'ip'), 0o755);
  return {
    exec: async (command: string) => {
      log.push(command);
      try {
        const r = await run('sh', ['-c', command], { env: { PATH: `${bin}:/usr/bin:/bin` } });
        return { stdout: r.stdout, stderr: r.stderr, code: 0 };
      } catch (e) {
        const x = e as { stdout: string; stderr: string; code: number };
        return { stdout: x.stdout, stderr: x.stderr, code: x.code };
      }
    },
  } as unknown as SshConnection;
}

describe('status: the systemd state of each node', () => {
  it('failedUnitsFact reads the unit names of `systemctl --failed --no-legend --plain`', () => {
    assert.deepEqual(failedUnitsFact.parse('kadeploy-test-fail.service loaded failed failed test: fails\nx.mount  loaded failed failed X\n', 0), ['kadeploy-test-fail.service', 'x.mount']);
    assert.deepEqual(failedUnitsFact.parse('', 0), []);
  });

  it('reads running and degraded (with the failed units) in the round trip it already makes', async () => {
    const [a, b] = cluster.nodes.map((n) => n.name) as [string, string];
    const logs: Record<string, string[]> = { [a]: [], [b]: [] };
    const vip = cluster.nodes[0]!.instances[0]!.vips[0]!.address.split('/')[0]!;
    const conns = new Map([
      [a, fakeNode('running', [], logs[a]!, '2: eth0    inet 10.0.0.1/24 scope global eth0\n')],
      [b, fakeNode('degraded', ['kadeploy-test-fail.service', 'other.service'], logs[b]!, `2: eth0    inet ${vip}/32 scope global eth0\n`)],
    ]);
    const s = await readStatus({ cluster, conns } as unknown as Pick<Connected, 'cluster' | 'conns'>);
    const byNode = Object.fromEntries(s.nodes.map((n) => [n.node, n]));
    assert.equal(byNode[a]!.system, 'running');
    assert.equal(byNode[a]!.failed, undefined, 'a running node lists no failed units');
    assert.equal(byNode[b]!.system, 'degraded');
    assert.deepEqual(byNode[b]!.failed, ['kadeploy-test-fail.service', 'other.service']);
    assert.equal(byNode[a]!.keepalived, true);
    // VRRP journal, and keepalived + drain marker + systemd + failed units + addresses: 2 per node, side by side.
    assert.equal(logs[a]!.length, 2, logs[a]!.join('\n---\n'));
    assert.deepEqual(s.vips.find((v) => v.vip === vip)?.holders, [b], 'the VIP placement from the addresses read with the node facts');

    const text = formatStatus(s);
    assert.match(text, new RegExp(`^  NODE +SYSTEM +INSTANCE +STATE +SINCE$`, 'm'));
    assert.match(text, new RegExp(`^  ${a} +running +\\S+ +\\S+`, 'm'));
    assert.match(text, new RegExp(`^  ${b} +degraded +\\S+ +\\S+`, 'm'));
    assert.match(text, new RegExp(`^  ${b} is degraded: failed units: kadeploy-test-fail\\.service, other\\.service \\(systemctl --failed\\)$`, 'm'));
    assert.doesNotMatch(text, new RegExp(`${a} is degraded`));
    const json = JSON.parse(JSON.stringify(s)) as { nodes: Array<{ node: string; system: string; failed?: string[] }> };
    assert.deepEqual(json.nodes.map((n) => [n.node, n.system, n.failed ?? []]), [[a, 'running', []], [b, 'degraded', ['kadeploy-test-fail.service', 'other.service']]]);
  });
});
