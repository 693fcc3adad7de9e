import { closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { formatIssue, KadeployError } from '../errors.js';
import { loadFleet } from '../inventory/load.js';
import { parseLimit, selectFleet } from '../inventory/select.js';
import { maskSecrets } from '../mask.js';
import { createRenderer } from '../render/render.js';

interface RenderOptions {
  node?: string;
  limit?: string;
  out?: string;
}

/**
 * A directory of ours: created 0700, or already there as a real directory (not a link) owned by
 * this user and writable by no one else. Anything else could be read or swapped by another user.
 */
function ownDirectory(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new KadeployError(`render --out: cannot create ${dir}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory()) throw new KadeployError(`render --out: ${dir} exists and is not a directory`);
  if (st.uid !== uid) throw new KadeployError(`render --out: ${dir} is owned by uid ${st.uid}, not by you (uid ${uid}): refusing to write secrets into it`);
  if (st.mode & 0o022) throw new KadeployError(`render --out: ${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}): refusing to write secrets into it`);
}

/**
 * The directories above the output directory: each that exists must be owned by root or by this
 * user, and writable by no one else unless sticky (as /tmp is); otherwise another user could swap
 * the output directory for one of theirs. Missing ones are created 0700.
 */
function safeParents(out: string): void {
  const uid = process.getuid?.();
  for (let dir = dirname(resolve(out)); ; dir = dirname(dir)) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      if (dir !== dirname(dir)) continue; // missing: created below
      break;
    }
    const foreign = uid !== undefined && st.uid !== 0 && st.uid !== uid;
    if (foreign || (st.mode & 0o022 && !(st.mode & 0o1000))) {
      throw new KadeployError(`render --out: ${dir} is ${foreign ? `owned by uid ${st.uid}` : 'writable by other users'}: refusing to write secrets below it`);
    }
    if (dir === dirname(dir)) break;
  }
  mkdirSync(dirname(resolve(out)), { recursive: true, mode: 0o700 });
}

/** Write a new file only (never into one that exists, never through a link), owner-only. */
function writeNew(target: string, content: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KadeployError(code === 'EEXIST' ? `render --out: ${target} already exists; render --out writes new files only (remove it, or use an empty directory)` : `render --out: cannot create ${target}: ${code}`);
  }
  try {
    fchmodSync(fd, mode); // the open's mode is reduced by the umask
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description("Render each node's keepalived.conf and scripts locally (no SSH)")
    .argument('<inventory>', 'inventory YAML file')
    .option('-n, --node <name>', 'only this node')
    .option('-l, --limit <names>', 'only these clusters and nodes (comma-separated names or globs like \'edge-*\')')
    .option('-o, --out <dir>', 'write files to DIR/<node>/<path> (new files only, owner-only modes; secrets included) instead of printing')
    .addHelpText(
      'after',
      `
Printed output masks secrets (auth_pass). Files written with --out contain them: they are created
new (never written into an existing file), readable by you only (0600, scripts 0700), in
directories of mode 0700; an output directory owned by another user is refused.

Examples:
  $ kadeploy render inventories/doc-two-nodes.yaml --node lb-master
  $ kadeploy render inventories/kolla-three-controllers.yaml --out /tmp/rendered`,
    )
    .action((file: string, opts: RenderOptions) => {
      const { fleet, warnings } = loadFleet(file);
      for (const w of warnings) process.stderr.write(`${formatIssue(w)}\n`);
      const limit = [...(parseLimit(opts.limit) ?? []), ...(opts.node ? [opts.node] : [])];
      // Render everything first (each cluster with its own settings): a template error writes nothing.
      const rendered = selectFleet(fleet, limit).flatMap(({ cluster, targets }) => {
        const render = createRenderer(cluster);
        return targets.map((node) => ({ node, cluster, files: render.nodeFiles(node) }));
      });
      if (opts.out) safeParents(opts.out);
      for (const { node, cluster, files } of rendered) {
        for (const f of files) {
          if (!opts.out) {
            process.stdout.write(`# ---- ${node.name}: ${f.path} (mode ${f.mode})\n${maskSecrets(f.content, cluster.secrets)}\n`);
            continue;
          }
          const target = join(opts.out, node.name, f.path);
          const rel = relative(opts.out, target).split(sep);
          if (rel[0] === '..' || rel.includes('..')) throw new KadeployError(`render --out: ${f.path} would be written outside ${opts.out}`);
          // Every directory from the output directory down is ours (created, or checked).
          for (let i = 0; i < rel.length; i++) ownDirectory(join(opts.out, ...rel.slice(0, i)));
          writeNew(target, f.content, parseInt(f.mode, 8) & 0o700);
          process.stdout.write(`wrote ${target}\n`);
        }
      }
    });
}
