// scripts/ssh2-index.cjs, ssh2's index as the CLI bundle has it: the same exports as ssh2's own
// lib/index.js (the very same objects), but a module is evaluated only when its export is read.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const require = createRequire(join(ROOT, 'package.json'));

describe('bundled ssh2 index', () => {
  it('evaluates nothing until an export is read, then only what that export needs', () => {
    const loaded = (f: string) => Object.keys(require.cache).some((k) => k.endsWith(join('ssh2', 'lib', f)));
    const lazy = require(join(ROOT, 'scripts', 'ssh2-index.cjs')) as Record<string, unknown>;
    // (this test file must run in its own process: nothing else has required ssh2 yet)
    assert.equal(loaded('client.js'), false);
    assert.equal(typeof lazy.Client, 'function');
    assert.equal(loaded('client.js'), true);
    assert.equal(loaded('server.js'), false, 'Client does not evaluate the SSH server');
    assert.equal(loaded('http-agents.js'), false, 'nor the HTTP agents (Node http, https, tls)');
  });

  it("has every export of ssh2's index, each the same object", () => {
    const lazy = require(join(ROOT, 'scripts', 'ssh2-index.cjs')) as Record<string, unknown>;
    const real = require('ssh2') as Record<string, unknown>;
    const same = (a: Record<string, unknown>, b: Record<string, unknown>, path: string) => {
      assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${path}: the same names`);
      for (const k of Object.keys(b)) {
        const [x, y] = [a[k], b[k]];
        if (typeof y === 'object' && y !== null && (k === 'utils' || k === 'sftp')) same(x as Record<string, unknown>, y as Record<string, unknown>, `${path}.${k}`);
        else assert.equal(x, y, `${path}.${k}`);
      }
    };
    same(lazy, real, 'ssh2');
  });
});
