// Bounded backups and rollback: the pure rules (parsing, pruning, which run to restore), then the
// remote parts against a real sshd on loopback, with files in a temp dir standing in for /etc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  backupStamp,
  lastRun,
  listBackups,
  listBackupsCommand,
  parseBackupList,
  prunable,
  pruneBackups,
  RUN_BACKUP_SUFFIX,
  type Backup,
} from '../../src/ops/backups.js';
import { writeDesiredFile } from '../../src/tasks/file.js';
import { describeUnitAction, restoreNode, RollbackError, type ServiceControl } from '../../src/ops/rollback.js';
import { sh } from '../../src/shell/quote.js';
import { SshConnection } from '../../src/ssh/connection.js';
import { kadeploy } from '../support/cli.js';
import { sshdSkipReason, startSshd, type Sshd } from '../support/sshd.js';
import { BASE } from '../support/inventory.js';

const skip = sshdSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'kadeploy-bak-'));
let server: Sshd | undefined;
let conn: SshConnection;

before(async () => {
  if (skip) return;
  server = await startSshd(dir);
  conn = await SshConnection.connect(server.target());
});

after(async () => {
  await conn?.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const b = (of: string, stamp: string): Backup => ({ of, path: `${of}.kadeploy-bak.${stamp}`, stamp });

describe('backup rules (pure)', () => {
  it('stamps sort as text in time order', () => {
    assert.equal(backupStamp(new Date('2025-01-31T23:59:59.123Z')), '20250131T235959Z');
    assert.match(RUN_BACKUP_SUFFIX, /^\.kadeploy-bak\.\d{8}T\d{6}Z$/);
    assert.ok(backupStamp(new Date('2025-10-01T00:00:00Z')) > backupStamp(new Date('2025-09-30T23:59:59Z')));
  });

  it('parses a listing: only exact backups of the given paths, newest first per path', () => {
    const out = [
      '/etc/k.conf.kadeploy-bak.20250101T000000Z',
      '/etc/k.conf.kadeploy-bak.20250301T000000Z',
      '/etc/k.conf.kadeploy-bak.20250201T000000Z',
      '/etc/k.conf.kadeploy-bak.20250201T000000Z.tmp',
      '/etc/k.conf.kadeploy-bak.junk',
      '/etc/k.conf.bak-test',
      '/etc/other.kadeploy-bak.20250101T000000Z',
      '/usr/local/bin/n.sh.kadeploy-bak.20240101T000000Z',
      '',
    ].join('\n');
    assert.deepEqual(parseBackupList(out, ['/etc/k.conf', '/usr/local/bin/n.sh']), [
      b('/etc/k.conf', '20250301T000000Z'),
      b('/etc/k.conf', '20250201T000000Z'),
      b('/etc/k.conf', '20250101T000000Z'),
      b('/usr/local/bin/n.sh', '20240101T000000Z'),
    ]);
  });

  it('prunes beyond `keep` per file, oldest first, never the protected one, never the last one', () => {
    const list = ['20250105T000000Z', '20250104T000000Z', '20250103T000000Z', '20250102T000000Z'].map((s) => b('/f', s));
    const other = [b('/g', '20250101T000000Z')];
    assert.deepEqual(prunable([...list, ...other], 2).map((x) => x.stamp), ['20250103T000000Z', '20250102T000000Z']);
    assert.deepEqual(prunable([...list, ...other], 2, list[3]!.path).map((x) => x.stamp), ['20250103T000000Z']);
    assert.deepEqual(prunable(list, 0).length, 3, 'keep 0 still keeps one: rollback needs it');
    assert.deepEqual(prunable(list, 5), []);
  });

  it('a rollback takes the newest run only', () => {
    const all = [b('/f', '20250102T000000Z'), b('/f', '20250101T000000Z'), b('/g', '20250101T000000Z'), b('/h', '20250102T000000Z')];
    assert.deepEqual(lastRun(all), [b('/f', '20250102T000000Z'), b('/h', '20250102T000000Z')]);
    assert.deepEqual(lastRun([]), []);
  });
});

describe('backups on a real sshd', { skip }, () => {
  const etc = join(dir, "etc $(touch pwned) it's");
  before(() => mkdirSync(etc, { recursive: true }));

  const seed = (path: string, stamps: string[]) => stamps.forEach((s, k) => writeFileSync(`${path}.kadeploy-bak.${s}`, `old ${k}\n`));
  const backupsOf = (path: string) => readdirSync(etc).filter((f) => f.startsWith(`${path.split('/').pop()}.kadeploy-bak.`)).sort();
  const stamps = (count: number, year = 2024) => Array.from({ length: count }, (_, k) => `${year}0${k + 1}01T000000Z`);

  it('lists backups of paths that need quoting, and nothing for a path without any', async () => {
    const path = join(etc, 'a.conf');
    seed(path, stamps(3));
    writeFileSync(`${path}.kadeploy-bak.20240101T000000Z.tmp`, '');
    const found = await listBackups(conn, [path, join(etc, 'none.conf')]);
    assert.deepEqual(found.map((x) => x.stamp), ['20240301T000000Z', '20240201T000000Z', '20240101T000000Z']);
    assert.equal(existsSync(join(dir, 'pwned')), false);
    assert.equal((await conn.exec(listBackupsCommand([]))).code, 0);
  });

  it('prunes to 5 backups in one command, leaving other files alone', async () => {
    const path = join(etc, 'p.conf');
    seed(path, stamps(8));
    writeFileSync(`${path}.kadeploy-bak.junk`, '');
    writeFileSync(path, 'live\n');
    const removed = await pruneBackups(conn, path);
    assert.deepEqual(removed.map((x) => x.stamp), ['20240301T000000Z', '20240201T000000Z', '20240101T000000Z']);
    assert.deepEqual(backupsOf(path), [...stamps(8).slice(3).map((s) => `p.conf.kadeploy-bak.${s}`), 'p.conf.kadeploy-bak.junk'].sort());
    assert.equal(readFileSync(path, 'utf8'), 'live\n');
  });

  it('pruning never throws (the write it follows has succeeded)', async () => {
    const broken = { exec: async () => Promise.reject(new Error('connection lost')) } as unknown as SshConnection;
    assert.deepEqual(await pruneBackups(broken, '/etc/x.conf'), []);
  });

  it('writeDesiredFile keeps the run backup and at most 5 in all', async () => {
    const path = join(etc, 'w.conf');
    seed(path, stamps(6));
    writeFileSync(path, 'before\n');
    const backup = await writeDesiredFile(conn, { kind: 'file', task: 't', path, content: 'after\n', mode: '0640', secret: true });
    assert.equal(backup, path + RUN_BACKUP_SUFFIX);
    assert.equal(readFileSync(backup!, 'utf8'), 'before\n');
    assert.equal(readFileSync(path, 'utf8'), 'after\n');
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const left = backupsOf(path);
    assert.equal(left.length, 5);
    assert.ok(left.includes(`w.conf${RUN_BACKUP_SUFFIX}`));
    assert.ok(!left.includes('w.conf.kadeploy-bak.20240101T000000Z') && !left.includes('w.conf.kadeploy-bak.20240201T000000Z'));
  });
});

describe('restoreNode on a real sshd', { skip }, () => {
  const etc = join(dir, 'restore');
  const conf = join(etc, 'keepalived.conf');
  const script = join(etc, 'notify.sh');
  // keepalived -t when installed here (it is a plain file check, no daemon); otherwise a stand-in.
  const realKeepalived = !spawnSync('keepalived', ['--version']).error;
  const validate = realKeepalived ? undefined : (f: string) => sh('grep', '-q', 'router_id', f);
  const GOOD = 'global_defs {\n    router_id GOOD\n}\n';
  const NEWER = 'global_defs {\n    router_id NEWER\n}\n';
  // A unit whose health is "the config says GOOD", driven through marker files (no systemd here).
  const mark = (name: string) => join(etc, name);
  const service: ServiceControl = {
    isActive: () => sh('test', '-f', mark('running')),
    reload: () => sh('touch', mark('reloaded')),
    restart: () => `${sh('touch', mark('restarted'))} && ${sh('touch', mark('running'))}`,
    stop: () => `${sh('touch', mark('stopped'))} && ${sh('rm', '-f', mark('running'))}`,
    check: () => sh('grep', '-q', 'GOOD', conf),
  };
  const reset = (files: Record<string, string>) => {
    rmSync(etc, { recursive: true, force: true });
    mkdirSync(etc, { recursive: true });
    for (const [name, content] of Object.entries(files)) writeFileSync(join(etc, name), content);
  };
  const opts = { configPath: conf, unit: 'keepalived', service, validate };

  it('restores the run backups atomically, reloads a running unit, uses the backups up', async () => {
    reset({ 'keepalived.conf': NEWER, 'keepalived.conf.kadeploy-bak.20250102T000000Z': GOOD, 'notify.sh': 'new\n', 'notify.sh.kadeploy-bak.20250102T000000Z': 'old\n', running: '' });
    const backups = await listBackups(conn, [conf, script]);
    const r = await restoreNode('lb1', conn, backups, opts);
    assert.equal(r.action, 'reload');
    assert.equal(readFileSync(conf, 'utf8'), GOOD);
    assert.equal(readFileSync(script, 'utf8'), 'old\n');
    assert.equal(readFileSync(`${conf}.kadeploy-rollback`, 'utf8'), NEWER, 'the replaced file is kept once');
    assert.ok(existsSync(mark('reloaded')) && !existsSync(mark('restarted')));
    assert.deepEqual(await listBackups(conn, [conf, script]), [], 'used up: the next rollback goes further back');
  });

  it('restarts a unit that was not running', async () => {
    reset({ 'keepalived.conf': NEWER, 'keepalived.conf.kadeploy-bak.20250102T000000Z': GOOD });
    const r = await restoreNode('lb1', conn, await listBackups(conn, [conf]), opts);
    assert.equal(r.action, 'restart');
    assert.ok(existsSync(mark('restarted')));
  });

  it('apply on a node where the unit was not running: the files go back and the unit is stopped again, no health demanded', async () => {
    // A first deploy started keepalived, then a later step failed: its config is removed, keepalived
    // must not keep running with what remains.
    reset({ 'keepalived.conf': NEWER, running: '' });
    const r = await restoreNode('lb1', conn, [], { ...opts, created: [conf], expectActive: false });
    assert.equal(r.action, 'stop');
    assert.deepEqual(r.removed, [conf]);
    assert.ok(!existsSync(conf) && !existsSync(mark('running')) && existsSync(mark('stopped')));
    assert.ok(!existsSync(mark('reloaded')) && !existsSync(mark('restarted')));
    assert.equal(describeUnitAction('keepalived', r), 'keepalived stopped, as it was before');
  });

  it('a backup failing validation changes nothing', async () => {
    reset({ 'keepalived.conf': GOOD, 'keepalived.conf.kadeploy-bak.20250102T000000Z': 'garbage {\n', running: '' });
    await assert.rejects(restoreNode('lb1', conn, await listBackups(conn, [conf]), opts), (err: unknown) => {
      assert.ok(err instanceof RollbackError);
      assert.match(err.message, /^lb1: the backup .*keepalived\.conf\.kadeploy-bak\.20250102T000000Z fails validation, nothing changed on lb1/);
      return true;
    });
    assert.equal(readFileSync(conf, 'utf8'), GOOD);
    assert.ok(!existsSync(mark('reloaded')) && !existsSync(mark('restarted')));
    assert.equal((await listBackups(conn, [conf])).length, 1, 'the backup is kept');
  });

  it('dry run validates and reports, changes nothing', async () => {
    reset({ 'keepalived.conf': NEWER, 'keepalived.conf.kadeploy-bak.20250102T000000Z': GOOD, running: '' });
    const r = await restoreNode('lb1', conn, await listBackups(conn, [conf]), { ...opts, dryRun: true });
    assert.equal(r.restored.length, 1);
    assert.equal(r.action, undefined);
    assert.equal(readFileSync(conf, 'utf8'), NEWER);
    assert.ok(!existsSync(mark('reloaded')));
  });

  it('a unit unhealthy after the restore gets its previous files back and is restarted', async () => {
    // The backup is valid keepalived syntax but the (stand-in) health check refuses it.
    reset({ 'keepalived.conf': GOOD, 'keepalived.conf.kadeploy-bak.20250102T000000Z': NEWER, running: '' });
    await assert.rejects(restoreNode('lb1', conn, await listBackups(conn, [conf]), opts), (err: unknown) => {
      assert.ok(err instanceof RollbackError);
      assert.match(err.message, /^lb1: keepalived is not active after reload with the restored files .*the previous files were put back and keepalived restarted$/);
      return true;
    });
    assert.equal(readFileSync(conf, 'utf8'), GOOD);
    assert.ok(existsSync(mark('restarted')));
    assert.equal((await listBackups(conn, [conf])).length, 1, 'the backup is kept');
  });
});

describe('kadeploy rollback --dry-run against the loopback sshd', { skip }, () => {
  it('names the files of the newest run on the selected nodes and changes nothing', async () => {
    const work = mkdtempSync(join(tmpdir(), 'kadeploy-rbcli-'));
    try {
      const script = join(work, 'notify.sh');
      writeFileSync(script, 'current\n');
      writeFileSync(`${script}.kadeploy-bak.20250102T000000Z`, 'newest\n');
      writeFileSync(`${script}.kadeploy-bak.20250101T000000Z`, 'older\n');
      const s = server!;
      const inv = join(work, 'inv.yaml');
      writeFileSync(
        inv,
        `ssh: {host: 127.0.0.1, port: ${s.port}, identity_file: ${s.clientKey}, known_hosts: ${s.knownHosts}, use_agent: false}\n` +
          `files:\n  - path: ${script}\n    content: "x"\n${BASE}`,
      );
      const r = await kadeploy(['rollback', inv, '--dry-run', '--node', 'b']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Would restore the files replaced by the apply of 20250102T000000Z on b\n/);
      assert.ok(r.stdout.includes(`b: would restore ${script} (from ${script}.kadeploy-bak.20250102T000000Z)`), r.stdout);
      assert.equal(readFileSync(script, 'utf8'), 'current\n');
      assert.ok(existsSync(`${script}.kadeploy-bak.20250102T000000Z`));
      // Both nodes reach this machine, so both see the backups; the order is apply's (keepalived runs
      // nowhere and no VIP is held here: a first start, highest priority first).
      const all = await kadeploy(['rollback', inv, '--dry-run']);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /on a, b\n/);
      assert.equal(all.stdout.split('\n').filter((l) => / would restore /.test(l)).length, 2);
      const unknown = await kadeploy(['rollback', inv, '--node', 'zz']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no node named zz in \S+ \(nodes: a, b\)/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
