// Fuzzing validation: 1,200 inventories mutated from BASE and the shipped examples (deleted keys,
// swapped types, hostile strings in the fields that reach keepalived.conf or a shell, huge numbers,
// unicode, deep nesting, YAML garbage), all from one seeded PRNG so a failure is reproducible by
// its case number. In-process for speed; a sample also goes through the built CLI.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { InventoryError, KadeployError } from '../../src/errors.js';
import { loadInventory, type Loaded } from '../../src/inventory/load.js';
import type { Cluster } from '../../src/inventory/model.js';
import { BUILTIN_TEMPLATES, createRenderer } from '../../src/render/render.js';
import { quote } from '../../src/shell/quote.js';
import { kadeploy } from '../support/cli.js';
import { BASE } from '../support/inventory.js';
import { prng } from '../support/prng.js';

const SEED = Number(process.env.KADEPLOY_FUZZ_SEED ?? 20250601);
const CASES = 1_200;
const CLI_SAMPLE = 20;

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const HOSTILE = [
  'eth0; reboot', '$(id)', '`id`', "'; rm -rf / #", '"quoted"', "it's", 'a\nb', 'x\r\ny', '10.0.0.100/32\nreboot',
  '} vrrp_script x {', '{', '}', '#comment', '!bang', 'a b', '\tTAB', ' lead', 'trail ', '${PATH}', '$HOME', 'a|b', 'a&&b',
  'a>b', '<(x)', '*', '~root', '-rf', '--help', '%s%n', '\\', '../../etc/passwd', 'ünïcødé', '𝔘𝔫𝔦', '\u202eevil', '\u0000nul',
  'eth0@x', 'x'.repeat(5_000), '10.0.0.1/33', '::1', 'fe80::1%eth0', '0.0.0.0/0', '10.0.0.100/32 dev eth0', 'pass\nwd',
  'p"w', 'p w', 'p#w', 'p}w', 'p$x', 'p`x`', 'killall -0 haproxy; reboot', '/bin/sh -c id', 'a\u2028b', '',
];
const NUMBERS = [0, -1, 1, 255, 256, 65_536, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, 0.5, 1e-300, Number.NaN, Infinity, -Infinity];
/** Fields whose values reach keepalived.conf, a script or a remote shell: where hostile strings matter most. */
const TARGETS: Array<Array<string | number>> = [
  ['vrrp_instances', '*', 'interface'], ['vrrp_instances', '*', 'authentication', 'auth_pass'], ['vrrp_instances', '*', 'virtual_ipaddresses', 0],
  ['vrrp_instances', '*', 'track_scripts', 0], ['vrrp_instances', '*', 'notify_master'], ['vrrp_instances', '*', 'notify'],
  ['vrrp_instances', '*', 'track_interfaces', 0], ['vrrp_instances', '*', 'lvs_sync_daemon_interface'],
  ['vrrp_scripts', '*', 'script'], ['vrrp_scripts', '*', 'user'], ['global_defs', 'router_id'], ['global_defs', 'notification_email', 0],
  ['global_defs', 'notification_email_from'], ['global_defs', 'smtp_server'], ['global_defs', 'script_user'], ['global_defs', 'lvs_sync_daemon'],
  ['nodes', 0, 'name'], ['nodes', 1, 'address'], ['nodes', 0, 'interface'], ['nodes', 0, 'ssh', 'host'], ['nodes', 1, 'ssh', 'user'],
  ['nodes', 0, 'ssh', 'proxy_jump'], ['nodes', 0, 'instances', '*', 'interface'], ['ssh', 'user'], ['ssh', 'sudo_password'],
  ['files', 0, 'path'], ['files', 0, 'mode'], ['files', 0, 'template'], ['vars', 'haproxy_check_url'], ['apt_proxy'], ['templates_dir'],
];

/** JSON with invisible characters spelled out, so a report shows what was really there. */
const show = (s: string, max = 40): string =>
  JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s).replace(/[\p{Cf}\u2028\u2029]/gu, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function deep(depth: number): Json {
  let v: Json = 'bottom';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

interface Case {
  text: string;
  env: NodeJS.ProcessEnv;
  /** Hostile strings put into the inventory or its environment: checked wherever they end up. */
  hostile: string[];
  what: string[];
}

function randomValue(c: Case): Json {
  switch (int(7)) {
    case 0:
    case 1: {
      const h = pick(HOSTILE);
      c.hostile.push(h);
      return h;
    }
    case 2:
      return pick(NUMBERS);
    case 3:
      return pick<Json>([true, false, null, [], {}, [1, 'two'], { a: 1 }]);
    case 4:
      return deep(1 + int(300));
    case 5:
      return String.fromCodePoint(...Array.from({ length: 1 + int(12) }, () => int(0x2ffff)));
    default:
      return `v${int(1000)}`;
  }
}

/** Every [parent, key] of the tree, to mutate in place. */
function slots(root: Json): Array<[Json[] | Record<string, Json>, string | number]> {
  const out: Array<[Json[] | Record<string, Json>, string | number]> = [];
  const walk = (v: Json, depth: number) => {
    if (depth > 12 || v === null || typeof v !== 'object') return;
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      out.push([v, k]);
      walk((v as Record<string, Json>)[k]!, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

const isMap = (v: Json): v is { [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

function swapType(v: Json): Json {
  if (typeof v === 'string') return /^\d+$/.test(v) ? Number(v) : pick([42, true, [v], { value: v }]);
  if (typeof v === 'number') return pick([String(v), [v], `${v}x`]);
  if (typeof v === 'boolean') return pick(['yes', 1, null]);
  if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]));
  if (v && typeof v === 'object') return Object.values(v);
  return 'null';
}

/** Set a hostile string at one of TARGETS, creating the parents ('*' is the first key there). */
function target(root: Record<string, Json>, c: Case): void {
  const path = pick(TARGETS);
  let node: Json = root;
  for (let i = 0; i < path.length; i++) {
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, Json>;
    let key = path[i]!;
    if (key === '*') key = Object.keys(obj)[0] ?? 'X';
    if (i === path.length - 1) {
      const h = pick(HOSTILE);
      c.hostile.push(h);
      obj[key] = h;
      c.what.push(`${path.join('.')}=${show(h)}`);
      return;
    }
    obj[key] ??= typeof path[i + 1] === 'number' ? [] : {};
    node = obj[key]!;
  }
}

function mutateTree(root: Json, c: Case): void {
  const all = slots(root);
  const op = int(6);
  if (op <= 1 && root && typeof root === 'object' && !Array.isArray(root)) return target(root, c);
  if (!all.length) return;
  const [parent, key] = pick(all);
  const p = parent as Record<string, Json>;
  if (op === 2) {
    c.what.push(`delete ${String(key)}`);
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete p[key];
  } else if (op === 3) {
    c.what.push(`swap type of ${String(key)}`);
    p[key] = swapType(p[key]!);
  } else if (op === 4) {
    c.what.push(`replace ${String(key)}`);
    p[key] = randomValue(c);
  } else {
    const maps = [root, ...all.map(([par, k]) => (par as Record<string, Json>)[k]!)].filter(isMap);
    const name = pick(HOSTILE);
    c.what.push(`inject key ${show(name, 30)}`);
    pick(maps)[name] = randomValue(c);
  }
}

function mutateText(text: string, c: Case): string {
  const at = int(text.length + 1);
  switch (int(9)) {
    case 0:
      c.what.push('insert garbage');
      return text.slice(0, at) + pick([': : :', '- [', '{', '"', "'", '&a *a', '!!binary x', '\t', '%YAML 9.9\n', '---\n', '? ', '|\n', '\u0000', '\ufeff']) + text.slice(at);
    case 1:
      c.what.push('truncate');
      return text.slice(0, at);
    case 2: {
      c.what.push('duplicate a line');
      const lines = text.split('\n');
      const k = int(lines.length);
      lines.splice(k, 0, lines[k] ?? '');
      return lines.join('\n');
    }
    case 3:
      c.what.push('tabs for indentation');
      return text.replace(/^ {2}/gm, '\t');
    case 4:
      c.what.push('alias bomb');
      return `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n${text}`;
    case 5:
      c.what.push('random bytes');
      return Array.from({ length: 1 + int(400) }, () => String.fromCharCode(int(0x80))).join('');
    case 6:
      c.what.push('scalar or list at the top');
      return pick(['42\n', '- a\n- b\n', 'just text\n', '~\n', '# only a comment\n', '', '[]\n', '{}\n']);
    case 7:
      c.what.push('deep flow nesting');
      return `vars: ${'['.repeat(200)}${']'.repeat(200)}\n${text}`;
    default:
      c.what.push('delete a range');
      return text.slice(0, at) + text.slice(at + int(80));
  }
}

const ENV = { KEEPALIVED_AUTH_PASS: 'envpass1', KA_PASS: 'kapass12' };

function makeCase(sources: string[]): Case {
  const c: Case = { text: '', env: { ...ENV }, hostile: [], what: [] };
  const tree = parse(pick(sources)) as Json;
  // Four in ten: one hostile value in one sensitive field of a valid inventory, nothing else wrong,
  // so that validation alone decides (and an accepted value must then render inertly).
  if (rand() < 0.4) {
    target(tree as Record<string, Json>, c);
    c.text = stringify(tree, { aliasDuplicateObjects: false });
    return c;
  }
  const treeMutations = 1 + int(3);
  for (let i = 0; i < treeMutations; i++) mutateTree(tree, c);
  // Secrets from the environment are hostile input too: they reach keepalived.conf unvalidated by the schema.
  if (rand() < 0.15) {
    const h = pick(HOSTILE);
    c.env.KEEPALIVED_AUTH_PASS = h;
    c.env.KA_PASS = h;
    c.hostile.push(h);
    c.what.push(`env secret=${show(h, 30)}`);
    if (tree && typeof tree === 'object' && !Array.isArray(tree)) {
      const inst = Object.values((tree as Record<string, Json>).vrrp_instances ?? {})[0];
      if (inst && typeof inst === 'object' && !Array.isArray(inst)) inst.authentication = { auth_pass: { env: 'KA_PASS' } };
    }
  }
  let text = stringify(tree, { aliasDuplicateObjects: false });
  if (rand() < 0.3) text = mutateText(text, c);
  c.text = text;
  return c;
}

// keepalived.conf is read word by word: whitespace splits, # and ! start comments, braces nest,
// quotes delimit, $ substitutes parameters. Only the script lines are quoted (and have no quotes).
const CONF_UNSAFE = /[\s{}"#!$`\\\p{Cc}\p{Cf}\u2028\u2029]/u;
const QUOTABLE = /^[^"$`\\\p{Cc}\p{Cf}\u2028\u2029]*$/u;
const CONF_LINE = /^\s*(?:#[^\n]*|\}|[a-z_]+ "[^"\\]*"|[^\s{}"#!$`\\]+(?: [^\s{}"#!$`\\]+)*(?: \{)?)$/u;

interface Problem {
  text: string;
  /** The hostile value found raw, when the problem is one. */
  value?: string;
}

/** Problems in one accepted inventory's rendered files; empty when every hostile value is inert. */
function unsafeRenders(cluster: Cluster, c: Case, baseline: string): Problem[] {
  const problems: Problem[] = [];
  const render = createRenderer(cluster);
  const inline = new Set(cluster.files.filter((f) => f.content !== undefined).map((f) => f.path));
  for (const node of cluster.nodes) {
    for (const f of render.nodeFiles(node)) {
      if (f.validate === 'keepalived') {
        let depth = 0;
        f.content.split('\n').forEach((line, k) => {
          if (line.trim() === '') return;
          if (!CONF_LINE.test(line)) problems.push({ text: `${node.name} keepalived.conf line ${k + 1} breaks the config grammar: ${JSON.stringify(line).slice(0, 80)}` });
          if (!line.trimStart().startsWith('#')) depth += (line.match(/\{/g)?.length ?? 0) - (line.match(/\}/g)?.length ?? 0);
          if (depth < 0) problems.push({ text: `${node.name} keepalived.conf line ${k + 1}: unbalanced }` });
        });
        if (depth !== 0) problems.push({ text: `${node.name} keepalived.conf: unbalanced braces` });
        for (const h of c.hostile) {
          // Inert: absent, or one double-quoted word that needs no escaping (script lines).
          const unquoted = QUOTABLE.test(h) ? f.content.split(`"${h}"`).join('') : f.content;
          if (h && CONF_UNSAFE.test(h) && !baseline.includes(h) && unquoted.includes(h)) {
            problems.push({ text: `${node.name} keepalived.conf holds ${show(h)} raw`, value: h });
          }
        }
      } else if (!inline.has(f.path)) {
        // Template-rendered scripts: a hostile value may appear only as one quoted shell word.
        for (const h of c.hostile) {
          if (h && quote(h) !== h && !baseline.includes(h) && f.content.split(quote(h)).join('').includes(h)) {
            problems.push({ text: `${node.name} ${f.path} holds ${show(h)} unquoted`, value: h });
          }
        }
      }
    }
  }
  return problems;
}

/** The same cluster with a harmless auth_pass: tells problems caused by the password from the rest. */
function withPlainPass(cluster: Cluster): Cluster {
  const nodes = cluster.nodes.map((n) => ({
    ...n,
    instances: n.instances.map((i) => (i.authentication ? { ...i, authentication: { ...i.authentication, pass: 'plain123' } } : i)),
  }));
  return { ...cluster, nodes };
}

/**
 * Known gaps, outside the files this test's author may change (reported to the lead):
 * - the YAML library throws a ReferenceError on an alias bomb, which load.ts does not catch
 *   (the CLI says "unexpected error", exit 1, no location);
 * - auth_pass (inline, or from the environment or a file) is not checked for keepalived-safe
 *   characters, so whitespace, quotes, #, $ or a newline reach keepalived.conf raw;
 * - script and notify commands accept control characters (NUL, ESC, DEL…) and invisible Unicode
 *   format characters (e.g. U+202E, which makes a command read differently than it runs).
 */
type Gap = 'alias bomb' | 'auth_pass' | 'control characters';
const CONTROL = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

describe('fuzzing validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kadeploy-fuzz-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const shipped = ['doc-two-nodes.yaml', 'kolla-three-controllers.yaml', 'unicast.yaml'].map((f) =>
    readFileSync(join(import.meta.dirname, '..', '..', 'inventories', f), 'utf8'),
  );
  const sources = [BASE, BASE, ...shipped];
  // Text already in the sources or the templates is no sign of injection when it shows up rendered.
  const templates = readdirSync(BUILTIN_TEMPLATES).map((f) => readFileSync(join(BUILTIN_TEMPLATES, f), 'utf8'));
  const baseline = [...sources, ...templates].join('\n');
  const rejected: Array<{ file: string; c: Case }> = [];
  const gaps: Array<{ gap: Gap; text: string }> = [];

  it(`${CASES} mutated inventories: only located InventoryErrors, and accepted values render inertly (seed ${SEED})`, (t) => {
    mkdirSync(dir, { recursive: true });
    const failures: string[] = [];
    const counts = { accepted: 0, rejected: 0, renderRejected: 0, issues: 0, hostileAccepted: 0 };
    for (let k = 0; k < CASES; k++) {
      const c = makeCase(sources);
      const file = join(dir, `case${k}.yaml`);
      writeFileSync(file, c.text);
      const label = `case ${k} [${c.what.join('; ')}]`;
      const fail = (why: string) => failures.push(`${label}: ${why}`);
      let loaded: Loaded;
      try {
        loaded = loadInventory(file, c.env);
      } catch (e) {
        if (e instanceof ReferenceError && /alias count/.test(e.message)) {
          gaps.push({ gap: 'alias bomb', text: `${label}: ${e.message}` });
          continue;
        }
        if (!(e instanceof InventoryError)) {
          fail(`threw ${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 200)}`);
          continue;
        }
        counts.rejected++;
        counts.issues += e.issues.length;
        rejected.push({ file, c });
        if (/\n\s+at /.test(e.message)) fail('stack trace in the message');
        if (!e.message.trim()) fail('empty message');
        for (const i of e.issues) {
          if (i.file !== file) fail(`issue names ${i.file}, not the file`);
          const located = i.path !== '' || i.line !== undefined || /inventory is empty|inventory file/.test(i.message);
          if (!located) fail(`issue without a field or line: ${i.message}`);
          if (!i.message.trim()) fail(`issue without a message at ${i.path}`);
        }
        continue;
      }
      counts.accepted++;
      if (c.hostile.length) counts.hostileAccepted++;
      try {
        const problems = unsafeRenders(loaded.cluster, c, baseline);
        // A problem that goes away with a plain password is the password's.
        const notPass = problems.length ? new Set(unsafeRenders(withPlainPass(loaded.cluster), c, baseline).map((p) => p.text)) : new Set();
        for (const p of problems) {
          if (!notPass.has(p.text)) gaps.push({ gap: 'auth_pass', text: `${label}: ${p.text}` });
          else if (p.value !== undefined && CONTROL.test(p.value)) gaps.push({ gap: 'control characters', text: `${label}: ${p.text}` });
          else fail(p.text);
        }
      } catch (e) {
        if (e instanceof KadeployError && !/\n\s+at /.test(e.message)) counts.renderRejected++;
        else fail(`render threw ${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 200)}`);
      }
    }
    const gapCases = (g: Gap) => new Set(gaps.filter((x) => x.gap === g).map((x) => x.text.split(':')[0])).size;
    const summary =
      `fuzz (seed ${SEED}): ${CASES} inventories, ${counts.accepted} accepted (${counts.hostileAccepted} with a hostile value somewhere, ` +
      `${counts.renderRejected} then refused by rendering), ${counts.rejected} rejected with ${counts.issues} issues; ` +
      `known gaps: ${gapCases('alias bomb')} alias bomb(s), ${gapCases('auth_pass')} unsafe auth_pass value(s), ${gapCases('control characters')} command(s) with control characters`;
    t.diagnostic(summary);
    process.stdout.write(`${summary}\n`);
    assert.ok(counts.rejected > CASES / 4 && counts.accepted > 60, `the mix exercises both outcomes: ${summary}`);
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} failure(s); files in ${dir}`);
  });

  it('alias bombs are InventoryErrors, auth_pass values are keepalived-safe, commands have no control characters', () => {
    assert.deepEqual(gaps.slice(0, 10).map((g) => g.text), []);
  });

  it(`${CLI_SAMPLE} rejected inventories through the built CLI: exit 3, no stack trace`, async () => {
    assert.ok(rejected.length >= CLI_SAMPLE);
    const step = Math.floor(rejected.length / CLI_SAMPLE);
    for (let s = 0; s < CLI_SAMPLE; s++) {
      const { file, c } = rejected[s * step]!;
      const r = await kadeploy(['validate', file], c.env, 30_000);
      const where = `${file} [${c.what.join('; ')}]`;
      assert.equal(r.code, 3, `${where}: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.stdout, '', where);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `${where}: stack trace`);
      assert.match(r.stderr, new RegExp(`^kadeploy: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:\\d+:\\d+)?: error: `), where);
    }
  });
});
