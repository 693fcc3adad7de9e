// The first deploy's floor: what any tool pays on the lab, done by hand as plainly as it can be.
// One OpenSSH session per node, all at once: write keepalived.conf (the rendered bytes both tools
// deploy), `apt-get update`, `apt-get install` the same packages, start keepalived; the expected
// holder's session then waits until it holds the VIP (its first election: master-down, 3 × advert_int
// + skew, after its start). No safety (no mask, no validation, no lock, no check of the others): a
// lower bound for a deploy that installs keepalived with dpkg and waits for its election, not a tool.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../../src/shell/quote.js';
import type { BenchLab } from './lab.js';

export interface FloorSample {
  /** From spawning the ssh sessions until the last one exits (the holder's, once it holds the VIP). */
  wallS: number;
  /** Until the slower node's install and start ended. */
  installS: number;
  /** The holder's first election: from its keepalived's start (BACKUP) until MASTER, from its journal. */
  electionS: number;
}

const CONF = '/etc/keepalived/keepalived.conf';

function nodeScript(lab: BenchLab, holder: boolean): string {
  const apt = (...args: string[]) => sh('apt-get', '-o', `Acquire::http::Proxy=${lab.proxyUrl}`, '-q', ...args);
  return [
    'set -e',
    'export DEBIAN_FRONTEND=noninteractive',
    `mkdir -p /etc/keepalived && cat > ${CONF} && chmod 0640 ${CONF}`,
    `${apt('update')} >/dev/null`,
    `${apt('-y', 'install', '--no-install-recommends', 'keepalived', 'psmisc')} >/dev/null`,
    // The package starts it itself (its config is there): this start is for a package that would not.
    'systemctl start keepalived',
    'echo "started $(date +%s.%N)"',
    ...(holder
      ? [
          `i=0; until ip -o addr show | grep -q ${sh(` ${lab.vip}/`)}; do i=$((i + 1)); [ $i -lt 600 ] || exit 3; sleep 0.02; done`,
          // keepalived's own account of its first election (the package may have started it before our start).
          `journalctl -u keepalived -o short-unix --no-pager | awk '/Entering BACKUP STATE/ && !b { b = $1 } /Entering MASTER STATE/ && !m { m = $1 } END { print "election", m - b }'`,
        ]
      : []),
  ].join('\n');
}

function ssh(lab: BenchLab, ip: string, script: string, stdinFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const fd = openSync(stdinFile, 'r');
  return new Promise((resolve) => {
    const args = ['-i', lab.keyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${ip}`, script];
    const child = spawn('ssh', args, { stdio: [fd, 'pipe', 'pipe'], timeout: 300_000 });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = (code: number) => {
      closeSync(fd);
      resolve({ code, stdout, stderr });
    };
    child.on('error', () => done(127));
    child.on('close', (code) => done(code ?? 1));
  });
}

/** One floor deploy on a fresh lab; `rendered`: `kadeploy render --out` of its inventory; the holder is the first node. */
export async function floorDeploy(lab: BenchLab, rendered: string): Promise<FloorSample> {
  const t0 = Date.now() / 1000;
  const results = await Promise.all(
    lab.nodes.map((n, i) => ssh(lab, n.ip, nodeScript(lab, i === 0), join(rendered, n.name, CONF))),
  );
  const wallS = Date.now() / 1000 - t0;
  results.forEach((r, i) => {
    if (r.code !== 0) throw new Error(`floor deploy on ${lab.nodes[i]!.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  });
  const mark = (out: string, what: string) => Number(out.split('\n').find((l) => l.startsWith(`${what} `))?.split(' ')[1]);
  const started = results.map((r) => mark(r.stdout, 'started'));
  return { wallS, installS: Math.max(...started) - t0, electionS: mark(results[0]!.stdout, 'election') };
}
