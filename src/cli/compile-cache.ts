// A V8 code cache for the CLI bundle on Node 20, which has no `module.enableCompileCache` (Node
// ≥ 22.1) and cannot cache ES modules at all: the bundle is CommonJS, compiled here through
// `vm.Script` with `cachedData`, as `require()` would compile it but without parsing and compiling
// its functions again on every run (bench/README.md "Start-up" has the figures).
// The cache is per command (each compiles different functions), written once the command is done,
// and only a convenience: a missing, stale, corrupt or unwritable cache never fails a command.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Where the cache lives: `KADEPLOY_CACHE_DIR`, else `$XDG_CACHE_HOME/kadeploy`, else
 * `~/.cache/kadeploy`; undefined (no cache) when `KADEPLOY_NO_COMPILE_CACHE` is set.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.KADEPLOY_NO_COMPILE_CACHE) return undefined;
  if (env.KADEPLOY_CACHE_DIR) return env.KADEPLOY_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'kadeploy');
}

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 16);

/**
 * The cache file of `bundle` for the command `key`. Its name carries everything that makes a cache
 * unusable: the bundle's path, size and modification time, Node's version and the CPU architecture
 * (V8 checks only the source's length, so a same-length edit of the bundle must change the name).
 */
export function cacheFileFor(dir: string, bundle: string, key: string): string {
  const st = statSync(bundle);
  const where = sha1(bundle);
  const stamp = sha1([st.size, st.mtimeMs, process.version, process.arch].join('\0'));
  return join(dir, `${where}-${key}-${stamp}.v8cache`);
}

/** What `requireCached` ran: the module's exports, and whether the cache was used. */
export interface CachedModule {
  exports: unknown;
  /** The cache was read and V8 accepted it. */
  cacheUsed: boolean;
  /**
   * Writes the cache if it was missing or rejected (call when the functions worth caching have run).
   * A run that failed or only printed help (`complete` false) compiled a fraction of the command: its
   * cache is kept apart as partial, used until a complete run writes the command's cache once.
   */
  save(complete: boolean): void;
}

/** Where the cache of an incomplete run goes (same build stamp: removed with the build's others). */
export function partialCacheFile(cacheFile: string): string {
  return cacheFile.replace(/-([^-]+)$/, '.partial-$1');
}

/** Loads the CommonJS file `file` like `require()`, compiled through the code cache `cacheFile` (if any). */
export function requireCached(file: string, cacheFile: string | undefined): CachedModule {
  // ASCII only (scripts/bundle.mjs checks): latin1 reads it without decoding UTF-8.
  const source = readFileSync(file, 'latin1');
  const full = cacheFile ? readCache(cacheFile) : undefined;
  const cached = full ?? (cacheFile ? readCache(partialCacheFile(cacheFile)) : undefined);
  // The wrapper of Node's own CommonJS loader (Module.wrap), on one line so positions stay right.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new Script(wrapped, { filename: file, cachedData: cached });
  const cacheUsed = cached !== undefined && !script.cachedDataRejected;
  const module = { exports: {} as unknown, filename: file };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return {
    exports: module.exports,
    cacheUsed,
    save(complete) {
      if (!cacheFile || (cacheUsed && (full !== undefined || !complete))) return;
      // A complete run replaces a partial cache, keeping what it held: V8 serializes every function
      // compiled so far. A rejected complete cache is rewritten in place, as it always was.
      writeCache(complete || full !== undefined ? cacheFile : partialCacheFile(cacheFile), script.createCachedData());
      if (complete) removeFile(partialCacheFile(cacheFile));
    },
  };
}

// Each file starts with the SHA-1 of the V8 data after it: V8 checks a cache's header (its version,
// flags, the source's length) but not its contents, and aborts the process on a damaged one.
const DIGEST = 20;

/**
 * Whether `path` is ours alone. The cache is code this process runs: a file another user wrote (say,
 * `sudo kadeploy` keeping a user's HOME) or one in a directory others can write is never used.
 */
function ownedByUs(path: string): boolean {
  const st = statSync(path);
  return process.getuid === undefined || (st.uid === process.getuid() && (st.mode & 0o022) === 0);
}

/** The V8 data of `cacheFile` if it is there, ours and intact. */
function readCache(cacheFile: string): Buffer | undefined {
  let file: Buffer;
  try {
    if (!ownedByUs(dirname(cacheFile)) || !ownedByUs(cacheFile)) return undefined;
    file = readFileSync(cacheFile);
  } catch {
    return undefined; // none yet
  }
  const data = file.subarray(DIGEST);
  return file.length > DIGEST && createHash('sha1').update(data).digest().equals(file.subarray(0, DIGEST)) ? data : undefined;
}

/** Writes atomically (a concurrent run reads the old file or the new one, never half of one); never throws. */
function writeCache(cacheFile: string, data: Buffer): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
    if (!ownedByUs(dirname(cacheFile))) return;
    writeFileSync(tmp, Buffer.concat([createHash('sha1').update(data).digest(), data]), { mode: 0o600 });
    renameSync(tmp, cacheFile);
    removeStale(cacheFile);
  } catch {
    removeFile(tmp);
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}

/** The caches of an earlier build of the same bundle (or another Node), for every command: never read again. */
function removeStale(cacheFile: string): void {
  const name = basename(cacheFile);
  const where = name.slice(0, name.indexOf('-') + 1);
  const stamp = name.slice(name.lastIndexOf('-'));
  for (const f of readdirSync(dirname(cacheFile))) {
    if (f.startsWith(where) && f.endsWith('.v8cache') && !f.endsWith(stamp)) unlinkSync(join(dirname(cacheFile), f));
  }
}
