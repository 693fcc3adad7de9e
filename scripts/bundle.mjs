// The shipped CLI, bundled: dist/cli/main.js (tsc's) is replaced by a bundle of src/cli/main.ts
// (start-up is most of a short run: a few files instead of ~60 modules and their dependencies to
// resolve, read and compile). Split at the dynamic imports of main.ts, so a command reads and
// compiles only its own chunks (bench/README.md: "Start-up" has the figures of each option).
// ssh2 is bundled too (loading its ~40 CommonJS files was the largest start-up cost of the commands
// that connect), but not its two native addons: cpu-features stays external, and ssh2's optional
// crypto binding is loaded from the installed ssh2 package, where npm built it (ssh2 falls back to
// pure JavaScript when either is missing, exactly as unbundled). Every file
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
  external: ['cpu-features'],
  plugins: [
    {
      name: 'ssh2-native-binding',
      setup(b) {
        b.onResolve({ filter: /sshcrypto\.node$/ }, () => ({ path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node', external: true }));
      },
    },
  ],
  // CommonJS dependencies (nunjucks, commander, ssh2…) call require() for Node's built-ins
  // (and ssh2's poly1305 module reads __dirname).
  banner: {
    js: [
      "import { createRequire as __kadeployRequire } from 'node:module';",
      "import { fileURLToPath as __kadeployPath } from 'node:url';",
      'const require = __kadeployRequire(import.meta.url);',
      'const __filename = __kadeployPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join(' '),
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});
