// Does a unit run the file on disk? For keepalived (and any unit a file `notify`s): it runs an
// older configuration when the file's inode changed after the unit last finished a start or reload.
//
// Why this, and not keepalived's own dump (SIGUSR1 → /tmp/keepalived.data, or tmp_file_path):
// the dump is keepalived's parsed state in a version-specific text layout (no config text, no hash
// of it), so comparing it with the rendered file means parsing that layout for every option we
// render; it is written asynchronously (we would have to signal, then poll), into /tmp by default,
// and it contains auth_pass in clear — a secret we would create on the node and read back. The
// timestamps cost nothing and need no signal:
// - the unit's StateChangeTimestamp (systemd, µs): keepalived.service is Type=notify and keepalived
//   sends RELOADING=1 / READY=1 itself, so the stamp moves when a start or a reload *finishes* —
//   also for a `kill -HUP` by hand (checked on Debian 12's keepalived 2.2.7 and systemd 252);
// - the file's ctime (µs), not its mtime: a rename into place (ours, an editor's), `cp -p` of an old
//   file or a chmod all set it, and no tool can set it back, whereas mtime is preserved by `cp -p`,
//   `mv` and `touch -d`.
// A file that changed after the last (re)load was written but not loaded (kadeploy killed between
// the rename and the reload, a hand edit): the unit may run something else. Errors go the safe way:
// a change that keepalived did read (a chmod, a change racing a reload) at worst costs one more
// reload, which keeps the VIP where it is. Unknown timestamps (systemd < 248, an old stat) claim
// nothing. A unit that is not active runs nothing: starting it loads the file anyway.
import type { HostFacts } from './index.js';

export function runsOlderFile(facts: Pick<HostFacts, 'units' | 'files'>, unit: string, path: string): boolean {
  const u = facts.units[unit];
  const f = facts.files[path];
  if (!u?.active || u.since === undefined || f?.changed === undefined) return false;
  return f.changed > u.since;
}

/** How verify and the plan say it. */
export const runsOlderMessage = (unit: string) => `${unit} runs an older configuration than the file (changed on disk since ${unit} last loaded it)`;
