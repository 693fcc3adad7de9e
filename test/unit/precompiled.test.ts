// The build compiles the built-in templates (scripts/bundle.mjs → dist/templates.cjs): the compiled code
// renders exactly what compiling the template at run time renders, and an edited template is never run
// from stale compiled code.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadFleet } from '../../src/inventory/load.js';
import { BUILTIN_TEMPLATES, builtinLoader, createRenderer } from '../../src/render/render.js';

const ROOT = join(import.meta.dirname, '..', '..');
const COMPILED = join(ROOT, 'dist', 'templates.cjs');
const ENV = { KEEPALIVED_AUTH_PASS: 'unicast1', KEEPALIVED_PRIV_PASS: 'private1' }; // the examples' secrets, as test/unit/render.test.ts sets them
const tmp = mkdtempSync(join(tmpdir(), 'kadeploy-precompiled-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('precompiled built-in templates', () => {
  it('every built-in template is compiled, and used while its source is unchanged', () => {
    const loader = builtinLoader();
    for (const name of readdirSync(BUILTIN_TEMPLATES).filter((f) => f.endsWith('.njk'))) {
      const src = loader.getSource(name).src as unknown as { type?: string };
      assert.equal(src.type, 'code', `${name} comes from ${COMPILED}`);
    }
  });

  it('renders byte for byte what the template compiled at run time renders, for every example node', () => {
    // The same templates as a user directory: compiled at run time, first in the lookup order.
    const copy = join(tmp, 'runtime');
    cpSync(BUILTIN_TEMPLATES, copy, { recursive: true });
    let files = 0;
    for (const inv of readdirSync(join(ROOT, 'inventories')).filter((f) => f.endsWith('.yaml'))) {
      for (const cluster of loadFleet(join(ROOT, 'inventories', inv), ENV).fleet.clusters) {
        const [compiled, runtime] = [createRenderer(cluster), createRenderer({ ...cluster, templatesDir: copy })];
        for (const node of cluster.nodes) {
          const [a, b] = [compiled.nodeFiles(node), runtime.nodeFiles(node)];
          assert.deepEqual(a, b, `${inv} ${node.name}`);
          files += a.length;
        }
      }
    }
    assert.ok(files > 20, `${files} files compared`);
  });

  it('an edited template is compiled afresh, never run from the stale compiled code', () => {
    const dir = join(tmp, 'edited');
    cpSync(BUILTIN_TEMPLATES, dir, { recursive: true });
    writeFileSync(join(dir, 'notify.sh.njk'), '#!/bin/sh\n# edited\n');
    const loader = builtinLoader(dir, COMPILED);
    assert.equal(loader.getSource('notify.sh.njk').src, '#!/bin/sh\n# edited\n');
    assert.equal((loader.getSource('keepalived.conf.njk').src as unknown as { type?: string }).type, 'code');
    assert.equal(loader.getSource('no-such.njk'), null);
  });
});
