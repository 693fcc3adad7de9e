#!/usr/bin/env node
// kadeploy's start: runs the CLI bundle dist/cli/kadeploy.cjs (src/cli/main.ts and its
// dependencies, built by scripts/bundle.mjs) through a V8 code cache kept per command
// (src/cli/compile-cache.ts). Built twice: dist/cli/start.cjs, which the package's `bin` (the
// launcher dist/cli/kadeploy, src/cli/kadeploy.sh) runs, and dist/cli/main.js, the same as an ES
// module for `node dist/cli/main.js` (tests, scripts). Only Node's built-ins are loaded here.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optimiseOnlyHotCode } from '../apply/tiering.js';
import { cacheFileFor, compileCacheDir, requireCached } from './compile-cache.js';
import { restoreLauncherEnv } from './launcher-env.js';

restoreLauncherEnv();

// Before any compiling: V8 checks a code cache against its flags, so a flag set later in the run
// would make every cache written at exit unusable by the next run (rejected, recompiled, rewritten).
optimiseOnlyHotCode();

const bundle = join(dirname(fileURLToPath(import.meta.url)), 'kadeploy.cjs');
// The command picks the cache (as main.ts picks the modules to load); `--help` or none: all of them.
const word = process.argv.slice(2).find((a) => !a.startsWith('-'));
const key = word === undefined ? 'all' : word;
let cacheFile: string | undefined;
const dir = compileCacheDir();
if (dir && /^[a-z]{1,32}$/.test(key)) {
  try {
    cacheFile = cacheFileFor(dir, bundle, key);
  } catch {
    // the bundle's stat failed: requireCached reports it
  }
}
const cli = requireCached(bundle, cacheFile);
// Written once the command is done, with every function it compiled; a mistyped command has none.
// A failed run or a command's help compiled only part of it (say, a first `apply` with a typo in the
// inventory): its cache stays partial until a run that went through (src/cli/compile-cache.ts).
const names = (cli.exports as { COMMAND_NAMES?: readonly string[] }).COMMAND_NAMES ?? [];
const helpOnly = key !== 'all' && process.argv.some((a) => a === '--help' || a === '-h');
if (key === 'all' || names.includes(key)) process.once('exit', (code) => cli.save(code === 0 && !helpOnly));
