// Bad input gets a clear error and changes nothing (issue 12, items 9, 10 and 12): files[].path,
// inventory size and parse time, numeric command-line options. Runs the built CLI, as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadInventory } from '../../src/inventory/load.js';
import { CLI } from '../support/cli.js';
import { BASE } from '../support/inventory.js';

const MAX_INVENTORY_BYTES = 1024 * 1024; // the cap (src/inventory/load.ts)
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
let n = 0;
const write = (text: string) => {
  const file = join(dir, `inv${n++}.yaml`);
  writeFileSync(file, text);
  return file;
};
const withFiles = (entries: string[]) => `${BASE}files:\n${entries.map((p) => `  - {path: "${p}", content: "echo hi\\n"}`).join('\n')}\n`;

describe('files[].path: normalised, no "..", one owner per path', () => {
  const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  for (const [what, paths, bad, message] of [
    ['".." leaving the tree', ['/usr/local/bin/../../../etc/cron.d/x'], '/usr/local/bin/../', /must not contain "\.\."/],
    ['the keepalived.conf kadeploy writes itself', ['/etc/keepalived/keepalived.conf'], '/etc/keepalived/keepalived.conf', /already managed by keepalived\.conf/],
    ['keepalived.conf written another way', ['/etc//keepalived/./keepalived.conf'], '/etc//keepalived', /already managed by keepalived\.conf/],
    ['two entries at one path', ['/usr/local/bin/a.sh', '/usr/local/bin/./a.sh'], '/usr/local/bin/./a.sh', /\/usr\/local\/bin\/a\.sh is already managed by files\[0\]/],
    ['a directory', ['/usr/local/bin/'], '/usr/local/bin/"', /names a directory/],
  ] as const) {
    it(`refuses ${what}, naming file, line and field; render --out writes nothing`, () => {
      const text = withFiles([...paths]);
      const file = write(text);
      const r = cli(['validate', file]);
      assert.equal(r.status, 3, r.stderr);
      const i = paths.length - 1;
      assert.match(r.stderr, new RegExp(`${file}:${lineOf(text, bad)}:\\d+: error: files\\[${i}\\]\\.path: `));
      assert.match(r.stderr, message);
      const out = join(dir, `out${n}`);
      assert.equal(cli(['render', file, '--out', out]).status, 3);
      assert.equal(existsSync(out), false, 'render --out wrote nothing');
    });
  }

  it('a path with // or /./ is normalised', () => {
    const { cluster } = loadInventory(write(withFiles(['/usr//local/./bin/x.sh'])));
    assert.deepEqual(cluster.files.map((f) => f.path), ['/usr/local/bin/x.sh']);
  });
});

describe('inventory size and parse time', () => {
  it('an inventory over the cap is refused with a clear error, before parsing', () => {
    const file = write(`${BASE}# ${'x'.repeat(MAX_INVENTORY_BYTES)}\n`);
    const r = cli(['validate', file]);
    assert.equal(r.status, 3);
    assert.equal(r.stderr, `kadeploy: ${file}: error: inventory is 1 MB; kadeploy reads inventories of at most 1 MB\n`);
  });

  it('a device with no end is refused too', () => {
    const r = cli(['validate', '/dev/zero']);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /^kadeploy: \/dev\/zero: error: inventory is over 1 MB; kadeploy reads inventories of at most 1 MB\n$/);
  });

  it('parse time is linear: a mapping of 4x the keys takes well under 16x the time (it was quadratic)', () => {
    const big = (keys: number) => `vars:\n${Array.from({ length: keys }, (_, i) => `  v${i}: value${i}`).join('\n')}\n${BASE}`;
    const time = (text: string) => {
      const file = write(text);
      loadInventory(file); // warm up
      const t0 = process.hrtime.bigint();
      loadInventory(file);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const small = time(big(5_000));
    const large = time(big(20_000)); // about 400 KB: took 7 s before
    assert.ok(large < 4_000, `20,000 keys took ${large.toFixed(0)} ms`);
    assert.ok(large < small * 10, `5,000 keys: ${small.toFixed(0)} ms, 20,000 keys: ${large.toFixed(0)} ms`);
  });

  it('a duplicate key is still an error at its line', () => {
    const file = write(BASE.replace('vrrp_instances:', 'forks: 3\nforks: 4\nvrrp_instances:'));
    const r = cli(['validate', file]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, new RegExp(`${file}:6:1: error: YAML syntax: Map keys must be unique: "forks" appears twice`));
  });

  it('thousands of syntax errors are summarised, not all printed', () => {
    const r = cli(['validate', write(`a: ${'['.repeat(50_000)}\n`)]);
    assert.equal(r.status, 3);
    assert.ok(r.stderr.split('\n').length <= 25, `${r.stderr.split('\n').length} lines`);
    assert.match(r.stderr, /and \d+ more error\(s\)/);
  });
});

describe('numeric options', () => {
  const inv = join(import.meta.dirname, '..', '..', 'inventories', 'doc-two-nodes.yaml');
  for (const [args, message] of [
    [['apply', inv, '--forks', '0.5'], /^error: option '-f, --forks <n>' argument '0\.5' is invalid\. expected a whole number from 1 to 500\./],
    [['diff', inv, '-f', '0'], /argument '0' is invalid\. expected a whole number from 1 to 500/],
    [['apply', inv, '--forks', 'ten'], /argument 'ten' is invalid/],
    [['verify', inv, '--probe-port', '70000'], /--probe-port <port>' argument '70000' is invalid\. expected a whole number from 0 to 65535/],
    [['status', inv, '--watch', '0'], /--watch \[seconds\]' argument '0' is invalid\. expected a number of seconds above 0/],
  ] as const) {
    it(`${args.slice(2).join(' ')}: a usage error naming the option, before any connection`, () => {
      const r = cli([...args]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /unexpected error|connect/);
    });
  }
});
