// One overlayfs per node on top of the shared read-only rootfs: nodes write only to their upper dir.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import { mountPoints } from './mounts.js';

export interface OverlayDirs {
  upper: string;
  work: string;
  /** The merged tree: the node's root directory. */
  root: string;
}

export function overlayDirs(nodeDir: string): OverlayDirs {
  return { upper: join(nodeDir, 'upper'), work: join(nodeDir, 'work'), root: join(nodeDir, 'root') };
}

export async function mountOverlay(rootfs: string, nodeDir: string): Promise<OverlayDirs> {
  const dirs = overlayDirs(nodeDir);
  if (mountPoints().includes(dirs.root)) return dirs;
  for (const d of [dirs.upper, dirs.work, dirs.root]) mkdirSync(d, { recursive: true });
  const opts = `lowerdir=${rootfs},upperdir=${dirs.upper},workdir=${dirs.work}`;
  await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, dirs.root]);
  return dirs;
}
