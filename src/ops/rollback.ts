// The one rollback, used by `kadeploy rollback` and by apply when a step fails on a node: validate
// the old config first, swap the files in atomically (a file the apply created is removed), reload
// keepalived (restart when not running or when the reload fails) and check it is active; undo the
// swap when it is not. A restored backup is used up, so the next rollback steps one run further
// back; the files it replaced are kept once, as PATH.kadeploy-rollback.
import { RollbackError } from '../errors.js';
import { restoreTemp } from '../facts/files.js';
import { quote, sh } from '../shell/quote.js';
import type { Runner } from '../shell/runner.js';
import type { Backup } from './backups.js';
import { activeCheckCommand, serviceCommand } from './service.js';

export const ROLLBACK_SUFFIX = '.kadeploy-rollback';

/** How the unit is driven; systemd on real nodes, replaceable where there is none (tests). */
export interface ServiceControl {
  /** Exit 0 when the unit is running (then reload, else restart). */
  isActive(unit: string): string;
  reload(unit: string): string;
  restart(unit: string): string;
  stop(unit: string): string;
  /** Exit 0 once the unit is healthy; its output says why not. */
  check(unit: string): string;
}

export const systemd: ServiceControl = {
  isActive: (unit) => sh('systemctl', 'is-active', '--quiet', unit),
  reload: (unit) => serviceCommand('reload', unit),
  restart: (unit) => serviceCommand('restart', unit),
  stop: (unit) => sh('systemctl', 'stop', unit),
  check: (unit) => activeCheckCommand(unit),
};

export interface RestoreOptions {
  /** The keepalived config: its backup must pass `validate` before anything changes. */
  configPath: string;
  unit: string;
  dryRun?: boolean;
  /** Files that did not exist before (apply created them): removed. */
  created?: readonly string[];
  /**
   * Default true: the unit must be active afterwards. False (apply on a node where the unit was not
   * running before): the unit is stopped again, as it was (apply started it: a first deploy whose later
   * step failed must not leave keepalived running with whatever config remains).
   */
  expectActive?: boolean;
  service?: ServiceControl;
  validate?: (file: string) => string;
}

export interface RestoreResult {
  restored: Backup[];
  /** Files removed (they did not exist before). */
  removed: string[];
  /** What was done to the unit; undefined for a dry run, when nothing was restored, or a unit left stopped. */
  action?: 'reload' | 'restart' | 'stop';
  /** The reload failed, so the unit was restarted. */
  reloadFailed?: boolean;
}

/** "keepalived reloaded", "keepalived restarted (its reload failed)"… for recaps and messages. */
export function describeUnitAction(unit: string, r: RestoreResult): string {
  if (!r.action) return `${unit} left stopped`;
  if (r.action === 'stop') return `${unit} stopped, as it was before`;
  return r.action === 'reload' ? `${unit} reloaded` : `${unit} restarted${r.reloadFailed ? ' (its reload failed)' : ''}`;
}

export { RollbackError };

const keep = (of: string) => `if [ -e ${quote(of)} ]; then ${sh('cp', '-p', of, of + ROLLBACK_SUFFIX)}; fi`;

/** Copy each backup beside its file, then rename over it: readers see the old file or the new one. Created files go. */
export function swapInCommand(backups: readonly Backup[], created: readonly string[] = []): string {
  return [
    ...backups.map((b) => {
      const tmp = restoreTemp(b.of);
      return `{ ${keep(b.of)} && ${sh('cp', '-p', b.path, tmp)} && ${sh('mv', '-f', tmp, b.of)}; }`;
    }),
    ...created.map((of) => `{ ${keep(of)} && ${sh('rm', '-f', of)}; }`),
  ].join(' && ');
}

/** Undo swapInCommand: the saved files go back. */
export function swapBackCommand(paths: readonly string[]): string {
  return paths.map((of) => `if [ -e ${quote(of + ROLLBACK_SUFFIX)} ]; then ${sh('cp', '-p', of + ROLLBACK_SUFFIX, of)}; fi`).join('; ');
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

export async function restoreNode(node: string, conn: Runner, backups: readonly Backup[], opts: RestoreOptions): Promise<RestoreResult> {
  const created = opts.created ?? [];
  if (!backups.length && !created.length) return { restored: [], removed: [] };
  const service = opts.service ?? systemd;
  const validate = opts.validate ?? ((file: string) => sh('keepalived', '-t', '-f', file));
  const paths = [...backups.map((b) => b.of), ...created];

  const config = backups.find((b) => b.of === opts.configPath);
  if (config) {
    const check = await conn.exec(validate(config.path), { check: false });
    if (check.code !== 0) {
      throw new RollbackError(`${node}: the backup ${config.path} fails validation, nothing changed on ${node}: ${lastLines(check.stdout + check.stderr)}`);
    }
  }
  const result: RestoreResult = { restored: [...backups], removed: [...created] };
  if (opts.dryRun) return result;

  try {
    const swap = await conn.exec(swapInCommand(backups, created), { check: false });
    if (swap.code !== 0) throw new Error(lastLines(swap.stdout + swap.stderr) || `exit ${swap.code}`);
  } catch (e) {
    await conn.exec(swapBackCommand(paths), { check: false }).catch(() => undefined);
    throw new RollbackError(`${node}: could not put the backups in place (previous files kept): ${(e as Error).message}`);
  }
  const mustBeActive = opts.expectActive !== false;
  if (!mustBeActive) {
    // Not running before apply: back to stopped (a no-op when apply never started it).
    result.action = 'stop';
    await conn.exec(service.stop(opts.unit), { check: false });
  } else if ((await conn.exec(service.isActive(opts.unit), { check: false })).code === 0) {
    result.action = 'reload';
    if ((await conn.exec(service.reload(opts.unit), { check: false })).code !== 0) {
      result.action = 'restart';
      result.reloadFailed = true;
      await conn.exec(service.restart(opts.unit), { check: false });
    }
  } else {
    result.action = 'restart';
    await conn.exec(service.restart(opts.unit), { check: false });
  }
  const health = mustBeActive ? await conn.exec(service.check(opts.unit), { check: false }) : { code: 0, stdout: '' };
  if (health.code !== 0) {
    // Back to what ran before the rollback, and say so: the node must not stay without keepalived.
    await conn.exec(swapBackCommand(paths), { check: false });
    const again = await conn.exec(`${service.restart(opts.unit)} && ${service.check(opts.unit)}`, { check: false });
    throw new RollbackError(
      `${node}: ${opts.unit} is not active after ${result.action} with the restored files (${lastLines(health.stdout)}); ` +
        `the previous files were put back and ${opts.unit} restarted${again.code === 0 ? '' : ', BUT IT IS STILL NOT ACTIVE'}`,
    );
  }
  // Used up: the next rollback goes one run further back. Not fatal: the node is already fine.
  if (backups.length) await conn.exec(sh('rm', '-f', '--', ...backups.map((b) => b.path)), { check: false }).catch(() => undefined);
  return result;
}
