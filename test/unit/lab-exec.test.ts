// `lab exec NODE WORD…`: the command line the node's /bin/sh -c gets. Several words are one program's
// arguments, each quoted (so `sh -c "a; b"` gives sh its script whole); one word is a shell command
// line. Each line is also run by a local sh, to show what the node would do with it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detachedExits, nodeCommandLine, spawnDetached } from '../../src/lab/exec.js';
import { isAlive } from '../../src/lab/procs.js';

const runLocally = (line: string) => execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8' });

describe('lab exec: the command line built from its words', () => {
  it('sh -c "a; b": both commands run (joined, sh -c would get only "echo")', () => {
    const words = ['sh', '-c', 'echo a; echo b'];
    assert.equal(nodeCommandLine(words), `sh -c 'echo a; echo b'`);
    assert.equal(runLocally(nodeCommandLine(words)), 'a\nb\n');
    assert.equal(runLocally(words.join(' ')), '\nb\n', 'joined: sh -c runs only echo, the shell then b');
  });

  it('one word is a command line for the shell, as it is', () => {
    assert.equal(nodeCommandLine(['echo a; echo b']), 'echo a; echo b');
    assert.equal(runLocally(nodeCommandLine(['echo a; echo b'])), 'a\nb\n');
  });

  it('plain words stay as they are; quotes, spaces and $ reach the program literally', () => {
    assert.equal(nodeCommandLine(['systemctl', 'show', '-p', 'Id', '--value', 'haproxy']), 'systemctl show -p Id --value haproxy');
    assert.equal(runLocally(nodeCommandLine(['printf', '%s|', "it's", 'two words', '$HOME'])), "it's|two words|$HOME|");
  });
});

describe("lab: how a detached process ended is kept (said when a node's systemd-nspawn dies early)", () => {
  it('records the exit code, and the signal that killed one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-detached-'));
    const exited = spawnDetached('sh', ['-c', 'sleep 0.3; exit 3'], join(dir, 'a.log')); // alive long enough to be recorded as started
    const killed = spawnDetached('sleep', ['30'], join(dir, 'b.log'));
    process.kill(killed.pid, 'SIGKILL');
    for (let i = 0; i < 100 && !(detachedExits.has(exited.pid) && detachedExits.has(killed.pid)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(detachedExits.get(exited.pid), 'exit 3');
    assert.equal(detachedExits.get(killed.pid), 'killed by SIGKILL');
  });

  it('a process just started is alive to isAlive at once (its command line is the one started, not a racy read of /proc)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kadeploy-detached-'));
    const refs = Array.from({ length: 30 }, (_, i) => spawnDetached('sleep', ['30'], join(dir, `${i}.log`)));
    try {
      for (const ref of refs) {
        assert.equal(ref.cmdline, 'sleep 30');
        assert.ok(isAlive(ref), `pid ${ref.pid} taken for gone`);
      }
    } finally {
      for (const ref of refs) process.kill(ref.pid, 'SIGKILL');
    }
  });
});
