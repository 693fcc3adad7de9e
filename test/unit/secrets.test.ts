// Secrets never reach output: every command of the built CLI runs with known secrets (auth_pass from
// the environment and inline, sudo_password from the environment), against no node, an unreachable
// node, an untrusted node and a real sshd on loopback; none of them may print a secret.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MASK, maskSecrets } from '../../src/mask.js';
import { kadeploy, type CliResult } from '../support/cli.js';
import { BASE } from '../support/inventory.js';
import { freePort, keygen, sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';

const AUTH = 'Ka7pQ2zX'; // auth_pass from $KADEPLOY_T_AUTH (keepalived keeps 8 characters)
const INLINE = 'In1inePw'; // auth_pass written in the inventory
const SUDO = 'sudo-S3cret-9f2c'; // sudo_password from $KADEPLOY_T_SUDO
const OLD = 'Liv3Old9'; // the auth_pass live on a node (rotated since, or edited by hand): the inventory does not know it
const SECRETS = [AUTH, INLINE, SUDO, OLD];
const ENV = { KADEPLOY_T_AUTH: AUTH, KADEPLOY_T_SUDO: SUDO };

const dir = mkdtempSync(join(tmpdir(), 'kadeploy-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function inventory(name: string, ssh: Record<string, string | number | boolean>, authPass = '{env: KADEPLOY_T_AUTH}'): string {
  const file = join(dir, `${name}.yaml`);
  const sshYaml = Object.entries({ ...ssh, sudo_password: '{env: KADEPLOY_T_SUDO}' })
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
  const text = `ssh:\n${sshYaml}\n${BASE.replace('auth_pass: secret1', `auth_pass: ${authPass}`)}`;
  assert.ok(text.includes(`auth_pass: ${authPass}`));
  writeFileSync(file, text);
  return file;
}

const ran: string[] = [];

/** Run a command and assert that no secret (nor its JSON-escaped form) is in stdout or stderr. */
async function run(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  const r = await kadeploy(args, ENV, timeoutMs);
  ran.push([args[0], ...args.slice(2)].join(' '));
  for (const secret of SECRETS) {
    for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
      assert.ok(!text.includes(secret), `kadeploy ${args.join(' ')}: the secret ${secret} is in ${stream}:\n${text}`);
    }
  }
  assert.doesNotMatch(r.stderr, /^\s+at /m, `kadeploy ${args.join(' ')}: stack trace`);
  return r;
}

describe('secrets are never printed', () => {
  let offline = '';
  let inline = '';
  before(async () => {
    const closed = await freePort(); // nothing listens there: connection refused
    const ssh = { host: '127.0.0.1', port: closed, identity_file: keygen(dir, 'unused_key', 'ed25519'), use_agent: false, connect_timeout: 3 };
    offline = inventory('offline', ssh);
    inline = inventory('inline', ssh, INLINE);
  });

  it('validate, render, schema: the secret is masked where it would appear', async () => {
    for (const inv of [offline, inline]) {
      assert.equal((await run(['validate', inv])).code, 0);
      const r = await run(['render', inv]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^\\s+auth_pass \\*{8}$`, 'm'), 'the secret was there, masked');
      assert.equal((await run(['render', inv, '--node', 'b'])).code, 0);
    }
    const schema = await run(['schema']);
    assert.equal(schema.code, 0);
    assert.match(schema.stdout, /"auth_pass"/);
  });

  it('render --out writes keepalived.conf 0640 or stricter, and prints no secret', async () => {
    const out = join(dir, 'rendered');
    const r = await run(['render', offline, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const confs = readdirSync(out).map((node) => join(out, node, 'etc', 'keepalived', 'keepalived.conf'));
    assert.equal(confs.length, 2);
    for (const conf of confs) {
      const mode = statSync(conf).mode & 0o777;
      assert.equal(mode & ~0o640, 0, `${conf} is mode ${mode.toString(8)}`);
    }
  });

  it('an unreachable node: every command fails cleanly without the secret', async () => {
    for (const args of [
      ['apply', offline, '--dry-run'], ['apply', offline], ['diff', offline], ['diff', offline, '--json'],
      ['verify', offline], ['verify', offline, '--json'], ['status', offline], ['status', offline, '--json'],
      ['rollback', offline, '--dry-run'], ['rollback', offline], ['apply', inline, '--dry-run'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /connection refused/, args.join(' '));
    }
  });

  it('masks the JSON-escaped form of a secret too (a password with " or \\ in JSON output)', () => {
    const secret = 'q"w\\e';
    const json = JSON.stringify({ diff: `+ auth_pass ${secret}\n` });
    const masked = maskSecrets(json, [secret]);
    assert.ok(!masked.includes(JSON.stringify(secret).slice(1, -1)), masked);
    assert.equal(JSON.parse(masked).diff, `+ auth_pass ${MASK}\n`);
  });
});

describe('secrets are never printed, against a real sshd on loopback', { skip: sshdSkipReason() }, () => {
  let server: Sshd;
  let trusted = '';
  let untrusted = '';
  let inline = '';
  before(async () => {
    server = await startSshd(mkdtempSync(join(dir, 'sshd-')));
    const emptyKnownHosts = join(dir, 'empty_known_hosts');
    writeFileSync(emptyKnownHosts, '');
    const ssh = { host: '127.0.0.1', port: server.port, identity_file: server.clientKey, use_agent: false };
    trusted = inventory('trusted', { ...ssh, known_hosts: server.knownHosts });
    inline = inventory('trusted-inline', { ...ssh, known_hosts: server.knownHosts }, INLINE);
    untrusted = inventory('untrusted', { ...ssh, known_hosts: emptyKnownHosts });
  });
  after(() => server?.stop());

  it('an untrusted host key stops every command before any secret could be used or shown', async () => {
    for (const args of [['apply', untrusted, '--dry-run'], ['apply', untrusted], ['diff', untrusted, '--json'], ['verify', untrusted], ['status', untrusted], ['rollback', untrusted]]) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /host key for \[127\.0\.0\.1\]:\d+ not in /, args.join(' '));
    }
  });

  it('apply --dry-run and diff --json read this machine and show the config diff masked', async () => {
    // Read-only: facts (OS, packages, units, /etc/keepalived/keepalived.conf, addresses); nothing is written.
    const plan = await run(['apply', trusted, '--dry-run']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /\/etc\/keepalived\/keepalived\.conf/);
    assert.match(plan.stdout, /auth_pass \*{8}/, 'the diff shows the secret line, masked');
    const json = await run(['diff', trusted, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(JSON.parse(json.stdout).nodes.length === 2);
    assert.match(json.stdout, /auth_pass \*{8}/);
  });

  it('a password with " and \\ is masked in --json output too, not just escaped (or refused by validation)', async () => {
    const odd = 'q"w\\e1'; // JSON writes it as q\"w\\e1, which a plain search for the secret misses
    const file = inventory('odd', { host: '127.0.0.1', port: server.port, identity_file: server.clientKey, use_agent: false, known_hosts: server.knownHosts }, `'${odd}'`);
    const r = await kadeploy(['diff', file, '--json'], ENV);
    assert.ok(r.code === 0 || r.code === 3, r.stderr);
    for (const form of [odd, JSON.stringify(odd).slice(1, -1)]) assert.ok(!`${r.stdout}${r.stderr}`.includes(form), `${form} in:\n${r.stdout}`);
    if (r.code === 0) assert.match(r.stdout, /auth_pass \*{8}/);
  });

  it("the node's own (old) auth_pass, rotated or hand-edited, is hidden like the new one: \"auth_pass changed\"", async () => {
    // A playbook writing keepalived.conf into a scratch path on this machine, which holds the old password.
    const nodeDir = mkdtempSync(join(dir, 'node-'));
    const playbook = join(nodeDir, 'playbook.yaml');
    writeFileSync(playbook, `name: t\ntasks:\n  - name: conf\n    template: {src: keepalived.conf.njk, dest: ${nodeDir}/keepalived.conf, mode: "0640", secret: true}\n`);
    for (const live of [`    auth_pass ${OLD}`, `        auth_pass   "${OLD}"  # by hand`, `authentication { auth_type PASS; auth_pass ${OLD} }`]) {
      writeFileSync(join(nodeDir, 'keepalived.conf'), `vrrp_instance VI_1 {\n    authentication {\n        auth_type PASS\n${live}\n    }\n}\n`);
      for (const inv of [trusted, inline]) {
        const runs = [['apply', inv, '--dry-run'], ['diff', inv], ['diff', inv, '--json'], ['apply', inv, '--dry-run', '--json']];
        for (const args of runs) {
          const r = await run([...args, '--playbook', playbook]);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
          assert.match(r.stdout, /auth_pass \*{8} \(auth_pass changed\)/, `${args.join(' ')}: ${r.stdout}`);
        }
      }
    }
  });

  it('verify, status and rollback --dry-run against the real node print no secret', async () => {
    const verify = await run(['verify', trusted]);
    assert.equal(verify.code, 1, 'keepalived does not run here: checks fail'); // and the drift diff is masked
    assert.match(verify.stdout, /keepalived\.conf as rendered +FAIL/);
    const verifyJson = await run(['verify', trusted, '--json']);
    assert.ok(JSON.parse(verifyJson.stdout).checks.length > 0);
    assert.equal((await run(['status', trusted])).code, 0);
    assert.equal((await run(['status', trusted, '--json'])).code, 0);
    const rollback = await run(['rollback', trusted, '--dry-run']);
    assert.match(rollback.stderr, /nothing to roll back|would restore/);
  });
});

after(() => process.stdout.write(`secrets absent from the output of ${ran.length} command runs: ${[...new Set(ran)].join(', ')}\n`));
