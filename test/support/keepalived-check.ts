// Run the real `keepalived -t -f FILE` on rendered files, as a node would: inside a scratch network
// namespace that has the interfaces the config names (veth pairs; the dummy link type is missing
// here), and a private mount namespace where the rendered scripts sit at their real paths
// (keepalived -t fails when a track script is missing).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeSpec } from '../../src/inventory/model.js';
import type { DesiredFile } from '../../src/render/render.js';
import { quote, sh } from '../../src/shell/quote.js';

export const canRunKeepalived = (): string | undefined => {
  if (process.getuid?.() !== 0) return 'needs root (network and mount namespaces)';
  if (spawnSync('keepalived', ['--version']).error) return 'keepalived is not installed (apt-get install -y keepalived)';
  return undefined;
};

/** Every interface name the node's config refers to. */
export function interfacesOf(node: NodeSpec, lvsSyncDaemon?: string): string[] {
  const names = node.instances.flatMap((i) => [
    i.interface,
    ...i.vips.flatMap((v) => (v.dev ? [v.dev] : [])),
    ...i.trackInterfaces.map((t) => t.name),
    ...(i.lvsSyncDaemonInterface ? [i.lvsSyncDaemonInterface] : []),
  ]);
  return [...new Set([...names, ...(lvsSyncDaemon ? [lvsSyncDaemon] : [])])];
}

let counter = 0;

/** Shell lines that create network namespace `ns` with each interface up (veth pairs). */
function namespaceSetup(ns: string, interfaces: string[]): string[] {
  const lines = ['set -e', `ip netns add ${quote(ns)}`];
  interfaces.forEach((name, k) => {
    lines.push(`ip -n ${quote(ns)} link add ${quote(name)} type veth peer name ${quote(`kpeer${k}`)}`);
    lines.push(`ip -n ${quote(ns)} link set ${quote(name)} up`);
  });
  return lines;
}

export function keepalivedCheck(files: DesiredFile[], interfaces: string[]): { code: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-kt-'));
  const ns = `kdt${process.pid}x${counter++}`;
  try {
    const lines = namespaceSetup(ns, interfaces);
    // Scripts land in an overlay of /usr (and /etc), visible only to this private mount namespace.
    const inner = ['set -e'];
    for (const top of ['usr', 'etc']) {
      mkdirSync(join(dir, `${top}.upper`));
      mkdirSync(join(dir, `${top}.work`));
      inner.push(sh('mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=/${top},upperdir=${dir}/${top}.upper,workdir=${dir}/${top}.work`, `/${top}`));
    }
    let config = '';
    files.forEach((f, k) => {
      const local = join(dir, `file${k}`);
      writeFileSync(local, f.content);
      chmodSync(local, parseInt(f.mode, 8));
      if (f.validate === 'keepalived') config = local;
      else inner.push(sh('install', '-D', '-o', 'root', '-g', 'root', '-m', f.mode, local, f.path));
    });
    inner.push(sh('ip', 'netns', 'exec', ns, 'keepalived', '-t', '-f', config));
    lines.push(`set +e; unshare -m --propagation private sh -c ${quote(inner.join('\n'))} 2>&1; rc=$?`);
    lines.push(`ip netns del ${quote(ns)}; exit $rc`);
    const r = spawnSync('sh', ['-c', lines.join('\n')], { encoding: 'utf8' });
    return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `keepalived -t` on many configurations at once, for the property test: one scratch network namespace
 * with every interface any of them names, then one keepalived -t per config in a single shell. The
 * configs may only call scripts that exist on this machine (no managed files are installed).
 */
export function keepalivedCheckBatch(configs: string[], interfaces: string[]): Array<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-ktb-'));
  const ns = `kdb${process.pid}x${counter++}`;
  try {
    const lines = namespaceSetup(ns, interfaces);
    const inner = configs.map((c, k) => {
      writeFileSync(join(dir, `c${k}.conf`), c);
      return `keepalived -t -f ${quote(join(dir, `c${k}.conf`))} >${quote(join(dir, `c${k}.out`))} 2>&1; echo $? >${quote(join(dir, `c${k}.rc`))}`;
    });
    writeFileSync(join(dir, 'run.sh'), inner.join('\n'));
    lines.push('set +e', sh('ip', 'netns', 'exec', ns, 'sh', join(dir, 'run.sh')), `ip netns del ${quote(ns)}`);
    const r = spawnSync('sh', ['-c', lines.join('\n')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`keepalived batch failed: ${r.stdout}${r.stderr}`);
    return configs.map((_, k) => ({
      code: Number(readFileSync(join(dir, `c${k}.rc`), 'utf8').trim()),
      output: readFileSync(join(dir, `c${k}.out`), 'utf8'),
    }));
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
