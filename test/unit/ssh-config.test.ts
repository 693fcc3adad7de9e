// ssh_config parity: what kadeploy resolves for a host equals what OpenSSH's own `ssh -G` prints, for a
// config with Include (relative, globbed, inside Host) and Match (host, originalhost, user, localuser,
// exec, negation), first value wins. Also the clear errors and the bounded Match exec.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { evaluateSshConfig, expand, loadSshConfig, parseSshConfig, type SshConfigValues } from '../../src/ssh/ssh-config.js';
import { resolveTarget } from '../../src/ssh/target.js';

const me = userInfo();
// Relative Include is looked up in ~/.ssh (the passwd home, as ssh does): a scratch dir there, removed after.
const sshDir = join(me.homedir, '.ssh');
mkdirSync(sshDir, { recursive: true, mode: 0o700 });
const dir = mkdtempSync(join(sshDir, 'kadeploy-test-'));
const rel = basename(dir);
after(() => rmSync(dir, { recursive: true, force: true }));

const haveSsh = spawnSync('ssh', ['-V']).status === 0;

mkdirSync(join(dir, 'web'));
writeFileSync(
  join(dir, 'early.conf'),
  `Host early
  HostName early.example
  Port 2200
Match all
  ServerAliveCountMax 7
`,
);
writeFileSync(join(dir, 'web', '10-a.conf'), 'HostName web-a.example\nUser wa\n');
writeFileSync(join(dir, 'web', '20-b.conf'), 'HostName web-b.example\nPort 8022\nServerAliveInterval 1m30s\n');
writeFileSync(join(dir, 'web', 'skipped.txt'), 'User nope\n');
const main = join(dir, 'config');
writeFileSync(
  main,
  `# ssh -G parity fixture
Include ${rel}/early.conf
Match originalhost LB*
  Port 2444
Host lb? !lb9
  User deploy
  Port=2222
  IdentityFile ~/.ssh/lb_%h
  CertificateFile ~/.ssh/lb_%h-cert.pub
  ProxyJump bastion
Include ${rel}/nonexistent-*.conf
Host web*
  Include ${rel}/web/*.conf
Host lb1
  HostName 192.168.1.11
  User ignored
Host bastion
  HostName 10.0.0.1
  User jumper
  ProxyCommand nc -w 5 %h %p
  ProxyJump ignored-because-proxycommand-came-first
Match host 192.168.1.* user deploy
  ServerAliveInterval 15
  IdentitiesOnly yes
Match originalhost db* exec "test %n = db2"
  HostName db2.internal
  ProxyCommand ssh -W %h:%p bastion
Match !host *.internal originalhost db* exec "exit 0"
  User never
Match localuser ${me.username} originalhost other*
  ConnectTimeout 4
Match final originalhost lb1,web*
  CertificateFile ~/.ssh/final-%h-cert.pub
  IdentityFile ~/.ssh/lb_%h
Host 192.168.1.11 web-a.example
  ServerAliveInterval 42
Match canonical all
  Port 2999
Match user alice
  Port 2022
Host *
  User fallback
  IdentityFile "/keys/with space"
  ConnectTimeout 30
`,
);

const OPENSSH_DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((f) => `~/.ssh/${f}`);
const KEYS = ['hostname', 'user', 'port', 'identityfile', 'certificatefile', 'proxyjump', 'proxycommand', 'identitiesonly', 'connecttimeout', 'serveraliveinterval', 'serveralivecountmax'];

/** The keys kadeploy uses from `ssh -G` output, repeated keys as lists. */
function sshG(host: string, user?: string): Record<string, string[]> {
  const args = ['-G', '-F', main, ...(user ? ['-l', user] : []), host];
  const out = execFileSync('ssh', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const got: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    const sp = line.indexOf(' ');
    const key = line.slice(0, sp);
    if (KEYS.includes(key)) (got[key] ??= []).push(line.slice(sp + 1));
  }
  return got;
}

/** kadeploy's values printed the way `ssh -G` prints them. */
function asSshG(host: string, v: SshConfigValues): Record<string, string[]> {
  const out: Record<string, string[]> = {
    hostname: [v.hostName !== undefined ? expand(v.hostName, { h: host }) : host.toLowerCase()],
    user: [v.user ?? me.username],
    port: [v.port ?? '22'],
    identityfile: v.identityFiles.length > 0 ? v.identityFiles : OPENSSH_DEFAULT_IDENTITIES,
    identitiesonly: [v.identitiesOnly ? 'yes' : 'no'],
    connecttimeout: [v.connectTimeout !== undefined ? String(v.connectTimeout) : 'none'],
    serveraliveinterval: [String(v.serverAliveInterval ?? 0)],
    serveralivecountmax: [String(v.serverAliveCountMax ?? 3)],
  };
  if (v.certificateFiles.length > 0) out.certificatefile = v.certificateFiles;
  if (v.proxyJump !== undefined) out.proxyjump = [v.proxyJump];
  if (v.proxyCommand !== undefined) out.proxycommand = [v.proxyCommand];
  return out;
}

const sorted = (o: Record<string, string[]>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

describe('ssh_config: kadeploy resolves what `ssh -G` prints', { skip: haveSsh ? false : 'ssh (openssh-client) not installed' }, () => {
  const config = loadSshConfig(main, sshDir);
  const cases: Array<[host: string, user?: string]> = [
    ['lb1'], ['lb2'], ['lb9'], ['LB1'], ['early'], ['web1'], ['webx'], ['db1'], ['db2'], ['bastion'], ['other'], ['other', 'alice'], ['lb3', 'alice'], ['plain.example'],
  ];
  for (const [host, user] of cases) {
    it(`${user ? `-l ${user} ` : ''}${host}`, () => {
      const v = evaluateSshConfig([config], { host, localUser: me.username, home: me.homedir, ...(user ? { user } : {}) });
      assert.deepEqual(sorted(asSshG(host, v)), sorted(sshG(host, user)));
    });
  }

  it('the fixture exercises what it claims (not vacuously equal)', () => {
    const at = (host: string) => evaluateSshConfig([config], { host, localUser: me.username, home: me.homedir });
    assert.equal(at('web1').hostName, 'web-a.example', 'globbed includes in name order, first wins');
    assert.equal(at('web1').port, '8022', 'the second included file still adds what the first left unset');
    assert.equal(at('web1').serverAliveInterval, 90);
    assert.equal(at('early').port, '2200', 'relative Include from ~/.ssh');
    assert.equal(at('lb2').serverAliveCountMax, 7, '`Match all` inside an included file');
    assert.equal(at('lb1').identitiesOnly, true, 'Match host sees the HostName obtained so far');
    assert.equal(at('lb2').identitiesOnly, undefined);
    assert.equal(at('db2').hostName, 'db2.internal', 'Match exec with %n');
    assert.equal(at('db1').hostName, 'db1', 'the final pass sets HostName to the name (Match exec did not match)');
    assert.equal(at('db1').user, 'never', 'negated Match host');
    assert.equal(at('bastion').proxyJump, undefined, 'ProxyCommand first: ProxyJump ignored');
    assert.equal(at('other').connectTimeout, 4);
    assert.equal(at('LB1').port, '2444', 'Match host patterns are case-insensitive');
    assert.deepEqual(at('lb1').certificateFiles, ['~/.ssh/lb_%h-cert.pub', '~/.ssh/final-%h-cert.pub'], 'Match final: a second pass');
    assert.deepEqual(at('lb1').identityFiles, ['~/.ssh/lb_%h', '/keys/with space'], 'no duplicates from the second pass');
    assert.equal(at('lb1').serverAliveInterval, 15, 'first value still wins');
    assert.equal(at('plain.example').port, '2999', 'Match canonical all in the final pass');
    assert.equal(at('webx').serverAliveInterval, 90);
    assert.equal(at('LB1').user, 'fallback', 'Host patterns are case-sensitive');
  });
});

describe('ssh_config: resolution and errors', () => {
  const home = '/home/u';
  it('tokens in IdentityFile, CertificateFile and ProxyCommand use the final host, port and user', () => {
    const cfg = parseSshConfig(
      'Host n1\n  HostName 10.1.1.1\n  User ops\n  Port 2201\n  IdentityFile ~/.ssh/id_%h_%r\n  CertificateFile ~/c/%n-%p-cert.pub\n  ProxyCommand nc %h %p\n  IdentitiesOnly yes\n  ServerAliveInterval 20\n  ServerAliveCountMax 2\n  ConnectTimeout 3\n',
    );
    const t = resolveTarget({ name: 'n1' }, { sshConfig: cfg, home, localUser: 'u', env: {} });
    assert.deepEqual(t.identityFiles, ['/home/u/.ssh/id_10.1.1.1_ops']);
    assert.deepEqual(t.certificateFiles, ['/home/u/c/n1-2201-cert.pub']);
    assert.equal(t.proxyCommand, 'nc 10.1.1.1 2201');
    assert.deepEqual([t.identitiesOnly, t.keepaliveIntervalMs, t.keepaliveCountMax, t.connectTimeoutMs], [true, 20_000, 2, 3_000]);
    // An inventory's explicit values win: ProxyJump replaces ProxyCommand, connect timeout stays.
    const explicit = resolveTarget({ name: 'n1', proxyJump: 'none', connectTimeoutMs: 9_000 }, { sshConfig: cfg, home, localUser: 'u', env: {} });
    assert.deepEqual([explicit.proxyCommand, explicit.proxyJump, explicit.connectTimeoutMs], [undefined, undefined, 9_000]);
  });

  it('an inventory user is set before the config is read (Match user sees it, like ssh -l)', () => {
    const cfg = parseSshConfig('Match user deploy\n  Port 2022\n');
    assert.equal(resolveTarget({ name: 'x', user: 'deploy' }, { sshConfig: cfg, home, localUser: 'u', env: {} }).port, 2022);
    assert.equal(resolveTarget({ name: 'x' }, { sshConfig: cfg, home, localUser: 'u', env: {} }).port, 22);
  });

  it('unsupported Match criteria and bad values are errors naming file and line', () => {
    const resolve = (text: string) => resolveTarget({ name: 'x' }, { sshConfig: parseSshConfig(text, '/cfg'), home, localUser: 'u', env: {} });
    assert.throws(() => resolve('Host *\n  Port 1\nMatch localnetwork 10.0.0.0/8\n  User a\n'), /x: ssh config: \/cfg:3: Match localnetwork is not supported by kadeploy/);
    assert.throws(() => resolve('Match host\n'), /\/cfg:1: Match host needs an argument/);
    assert.throws(() => resolve('ConnectTimeout soon\n'), /\/cfg:1: connecttimeout: "soon" is not a time/);
    assert.throws(() => resolve('IdentitiesOnly maybe\n'), /\/cfg:1: identitiesonly: expected yes or no/);
  });

  it('Match exec is bounded in time (10 s by default)', { timeout: 30_000 }, () => {
    const started = Date.now();
    const cfg = parseSshConfig('Match exec "sleep 60"\n  User a\n', '/cfg');
    assert.throws(() => evaluateSshConfig([cfg], { host: 'x', localUser: 'u', home, execTimeoutMs: 500 }), /\/cfg:1: Match exec "sleep 60" did not finish within 0.5 s/);
    assert.ok(Date.now() - started < 5_000);
  });

  it('an Include loop is an error, not a hang', () => {
    const loop = join(dir, 'loop.conf');
    writeFileSync(loop, `Include ${loop}\n`);
    assert.throws(() => evaluateSshConfig([loadSshConfig(loop, dir)], { host: 'x', localUser: 'u', home }), /Include nested more than 16 deep/);
  });
});
