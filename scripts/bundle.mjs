// The shipped CLI, bundled: dist/cli/main.js (tsc's) is replaced by a bundle of src/cli/main.ts
// (start-up is most of a short run: a few files instead of ~60 modules and their dependencies to
// resolve, read and compile). Split at the dynamic imports of main.ts, so a command reads and
// compiles only its own chunks (bench/README.md: "Start-up" has the figures of each option).
// ssh2 stays external (its optional native crypto binding and cpu-features are addons). Every file
// sits in dist/cli/, where tsc's main.js was, so the paths resolved from import.meta.url
// (templates/, playbooks/: two levels up) are the same.
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const OUT = 'dist/cli';
for (const f of readdirSync(OUT)) if (f.startsWith('chunk-')) rmSync(`${OUT}/${f}`);

await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: OUT,
  entryNames: 'main',
  chunkNames: 'chunk-[hash]',
  splitting: true,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['ssh2', 'cpu-features'],
  // CommonJS dependencies (nunjucks, commander…) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __kadeployRequire } from 'node:module'; const require = __kadeployRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
