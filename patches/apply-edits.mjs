// Apply exact-text edits to the installed ssh2 (shared by the postinstall patches). Each edit is
// found by its exact text; an edit already applied is skipped, so running twice changes nothing.
// Returns false (changing nothing in the file concerned) when ssh2 is not the version the edits
// were written for or a text is not found.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export function applyEdits(edits, { expectedVersion, what }) {
  const root = dirname(createRequire(import.meta.url).resolve('ssh2/package.json'));
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const byFile = new Map();
  for (const e of edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  let changed = 0;
  for (const [file, list] of byFile) {
    const path = join(root, file);
    let text = readFileSync(path, 'utf8');
    for (const e of list) {
      if (text.includes(e.replace)) continue;
      if (version !== expectedVersion || !text.includes(e.find)) {
        console.error(`kadeploy: cannot ${what} in ssh2 ${version} (${file}): expected ssh2 ${expectedVersion}`);
        return false;
      }
      text = text.replace(e.find, e.replace);
      changed++;
    }
    writeFileSync(path, text);
  }
  if (changed > 0) console.log(`kadeploy: ssh2 ${version}: ${what} (${changed} edits)`);
  return true;
}
