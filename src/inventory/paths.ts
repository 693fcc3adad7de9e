// files[].path: one file, one owner. A path is normalised (`//` and `/./` collapse), `..` is refused
// (a path must say where it goes: render --out would write outside its directory), and no two things
// may manage one path: two `files` entries, or a `files` entry at keepalived.conf, which kadeploy
// writes itself (the rollback would restore the wrong content and lose the original).
import { posix } from 'node:path';
import { DEFAULTS } from './defaults.js';
import type { RuleIssue } from './rules.js';
import type { RawInventory } from './schema.js';

/** Normalise every files[].path in place; the problems, each at its entry's path field. */
export function checkFilePaths(inv: RawInventory): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const owner = new Map<string, string>([[DEFAULTS.keepalived.config_path, 'keepalived.conf, which kadeploy writes itself']]);
  (inv.files ?? []).forEach((f, i) => {
    const error = (message: string) => issues.push({ path: ['files', i, 'path'], message, severity: 'error' });
    if (f.path.split('/').includes('..')) return error('must not contain ".." (write the path it means)');
    if (f.path.endsWith('/') || f.path.endsWith('/.')) return error('names a directory; expected a file path');
    const path = posix.normalize(f.path);
    f.path = path;
    const other = owner.get(path);
    if (other) return error(`${path} is already managed by ${other}`);
    owner.set(path, `files[${i}]`);
  });
  return issues;
}
