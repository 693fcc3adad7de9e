// The shipped CLI, bundled: src/cli/main.ts and its dependencies in one CommonJS file,
// dist/cli/kadeploy.cjs, run by dist/cli/main.js (src/cli/start.ts, the package's `bin`) through a
// V8 code cache (src/cli/compile-cache.ts): on Node 20 only a CommonJS script compiled with
// `vm.Script` can use one (no cache for ES modules, no `module.enableCompileCache` before 22.1).
// Start-up is most of a short run (bench/README.md "Start-up" has the figures of each option).
// Loading stays lazy per command: esbuild keeps main.ts's dynamic imports as functions that
// evaluate a command's modules only when it runs (`validate` never evaluates ssh2), and the cache
// of each command holds only what it compiled.
// ssh2 is bundled too (loading its ~40 CommonJS files was the largest start-up cost of the commands
// that connect), but not its two native addons: cpu-features stays external, and ssh2's optional
// crypto binding is loaded from the installed ssh2 package, where npm built it (ssh2 falls back to
// pure JavaScript when either is missing, exactly as unbundled). Both files sit in dist/cli/, where
// tsc's main.js was, so the paths resolved from import.meta.url (templates/, playbooks/: two
// levels up) are the same.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import nunjucks from 'nunjucks';
import { TEMPLATE_OPTIONS } from '../dist/render/render.js'; // tsc's output, built just before

const OUT = 'dist/cli';
// The ES module chunks of earlier builds (split per command) are not used any more.
for (const f of readdirSync(OUT)) if (f.startsWith('chunk-')) rmSync(`${OUT}/${f}`);

const FOR_NODE = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };

await build({
  ...FOR_NODE,
  entryPoints: ['src/cli/main.ts'],
  outfile: `${OUT}/kadeploy.cjs`,
  format: 'cjs',
  external: ['cpu-features'],
  plugins: [
    {
      name: 'ssh2-native-binding',
      setup(b) {
        b.onResolve({ filter: /sshcrypto\.node$/ }, () => ({ path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node', external: true }));
        // `import ssh2 from 'ssh2'`: its index with each export evaluated on first use (the file says why).
        b.onResolve({ filter: /^ssh2$/ }, () => ({ path: resolve('scripts/ssh2-index.cjs') }));
      },
    },
  ],
  // kadeploy's own modules are ES modules: import.meta.url is this file's URL.
  define: { 'import.meta.url': '__kadeployUrl' },
  banner: { js: "'use strict'; var __kadeployUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
});
// main.ts's `#!` line: the bundle is compiled inside a function wrapper, where it is a syntax error.
// And ASCII only, so that src/cli/compile-cache.ts can read it as latin1 (a copy of the bytes; as
// UTF-8, 2.7 MB took ~10 ms to decode): esbuild escapes non-ASCII characters in code, not in
// the comments it keeps, which are all there is to rewrite (checked).
const bundled = readFileSync(`${OUT}/kadeploy.cjs`, 'utf8')
  .replace(/^#!/, '//')
  .split('\n')
  .map((line, i) => {
    if (!/[^\x00-\x7f]/.test(line)) return line;
    if (!/^\s*\/\//.test(line)) throw new Error(`${OUT}/kadeploy.cjs:${i + 1}: non-ASCII character outside a comment`);
    return line.replace(/[^\x00-\x7f]/g, '?');
  })
  .join('\n');
writeFileSync(`${OUT}/kadeploy.cjs`, bundled);

await build({ ...FOR_NODE, entryPoints: ['src/cli/start.ts'], outfile: `${OUT}/main.js`, format: 'esm' });
// The same start as CommonJS for the launcher (Node starts a CommonJS entry ~6 ms faster than an ES
// module one), and the launcher itself, the package's `bin` (src/cli/kadeploy.sh says why).
await build({
  ...FOR_NODE,
  entryPoints: ['src/cli/start.ts'],
  outfile: `${OUT}/start.cjs`,
  format: 'cjs',
  define: { 'import.meta.url': '__kadeployStartUrl' },
  banner: { js: "'use strict'; var __kadeployStartUrl = require('node:url').pathToFileURL(__filename).href;" },
});
copyFileSync('src/cli/kadeploy.sh', `${OUT}/kadeploy`);
chmodSync(`${OUT}/kadeploy`, 0o755);

// The built-in templates, compiled now instead of at every run (compiling keepalived.conf.njk was
// ~60 ms of each command). Each entry carries its source's sha256: src/render/render.ts uses an entry
// only while the template file still has that content, so an edited template is never run stale.
const TEMPLATES = 'templates';
const env = new nunjucks.Environment(null, TEMPLATE_OPTIONS);
const entries = readdirSync(TEMPLATES).filter((f) => f.endsWith('.njk')).sort().map((name) => {
  const source = readFileSync(`${TEMPLATES}/${name}`, 'utf8');
  const code = nunjucks.precompileString(source, { name, env, wrapper: ([t]) => t.template });
  return `${JSON.stringify(name)}: { sha256: ${JSON.stringify(createHash('sha256').update(source).digest('hex'))}, code: (function () {\n${code}\n})() }`;
});
writeFileSync('dist/templates.cjs', `// generated by scripts/bundle.mjs from templates/*.njk\nmodule.exports = {\n${entries.join(',\n')}\n};\n`);
