// Put one node back to the files of a backup run: validate the old config first, swap the files in
// atomically, reload (or restart) keepalived and check it is active; undo the swap when it is not.
// A restored backup is used up, so the next rollback steps one run further back; the files it
// replaced are kept once, as PATH.kadeploy-rollback.
import { KadeployError } from '../errors.js';
import { quote, sh } from '../shell/quote.js';
import type { SshConnection } from '../ssh/connection.js';
import type { Backup } from './backups.js';
import { activeCheckCommand, serviceCommand } from './service.js';

export const ROLLBACK_SUFFIX = '.kadeploy-rollback';

/** How the unit is driven; systemd on real nodes, replaceable where there is none (tests). */
export interface ServiceControl {
  /** Exit 0 when the unit is running (then reload, else restart). */
  isActive(unit: string): string;
  reload(unit: string): string;
  restart(unit: string): string;
  /** Exit 0 once the unit is healthy; its output says why not. */
  check(unit: string): string;
}

export const systemd: ServiceControl = {
  isActive: (unit) => sh('systemctl', 'is-active', '--quiet', unit),
  reload: (unit) => serviceCommand('reload', unit),
  restart: (unit) => serviceCommand('restart', unit),
  check: (unit) => activeCheckCommand(unit),
};

export interface RestoreOptions {
  /** The keepalived config: its backup must pass `validate` before anything changes. */
  configPath: string;
  unit: string;
  dryRun?: boolean;
  service?: ServiceControl;
  validate?: (file: string) => string;
}

export interface RestoreResult {
  restored: Backup[];
  /** What was done to the unit; undefined for a dry run or when nothing was restored. */
  action?: 'reload' | 'restart';
}

export class RollbackError extends KadeployError {}

/** Copy each backup beside its file, then rename over it: readers see the old file or the new one. */
export function swapInCommand(backups: readonly Backup[]): string {
  return backups
    .map((b) => {
      const tmp = `${b.of}.kadeploy-restore.tmp`;
      return `{ if [ -e ${quote(b.of)} ]; then ${sh('cp', '-p', b.of, b.of + ROLLBACK_SUFFIX)}; fi && ${sh('cp', '-p', b.path, tmp)} && ${sh('mv', '-f', tmp, b.of)}; }`;
    })
    .join(' && ');
}

/** Undo swapInCommand: the saved files go back. */
export function swapBackCommand(backups: readonly Backup[]): string {
  return backups.map((b) => `if [ -e ${quote(b.of + ROLLBACK_SUFFIX)} ]; then ${sh('cp', '-p', b.of + ROLLBACK_SUFFIX, b.of)}; fi`).join('; ');
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

export async function restoreNode(node: string, conn: SshConnection, backups: readonly Backup[], opts: RestoreOptions): Promise<RestoreResult> {
  if (!backups.length) return { restored: [] };
  const service = opts.service ?? systemd;
  const validate = opts.validate ?? ((file: string) => sh('keepalived', '-t', '-f', file));

  const config = backups.find((b) => b.of === opts.configPath);
  if (config) {
    const check = await conn.exec(validate(config.path), { check: false });
    if (check.code !== 0) {
      throw new RollbackError(`${node}: the backup ${config.path} fails validation, nothing changed on ${node}: ${lastLines(check.stdout + check.stderr)}`);
    }
  }
  if (opts.dryRun) return { restored: [...backups] };

  try {
    await conn.exec(swapInCommand(backups));
  } catch (e) {
    await conn.exec(swapBackCommand(backups), { check: false }).catch(() => undefined);
    throw new RollbackError(`${node}: could not put the backups in place (previous files kept): ${(e as Error).message}`);
  }
  const running = (await conn.exec(service.isActive(opts.unit), { check: false })).code === 0;
  const action = running ? 'reload' : 'restart';
  await conn.exec(service[action](opts.unit), { check: false });
  const health = await conn.exec(service.check(opts.unit), { check: false });
  if (health.code !== 0) {
    // Back to what ran before the rollback, and say so: the node must not stay without keepalived.
    await conn.exec(swapBackCommand(backups), { check: false });
    const again = await conn.exec(`${service.restart(opts.unit)} && ${service.check(opts.unit)}`, { check: false });
    throw new RollbackError(
      `${node}: ${opts.unit} is not active after ${action} with the restored files (${lastLines(health.stdout)}); ` +
        `the previous files were put back and ${opts.unit} restarted${again.code === 0 ? '' : ', BUT IT IS STILL NOT ACTIVE'}`,
    );
  }
  // Used up: the next rollback goes one run further back. Not fatal: the node is already fine.
  await conn.exec(sh('rm', '-f', '--', ...backups.map((b) => b.path)), { check: false }).catch(() => undefined);
  return { restored: [...backups], action };
}
