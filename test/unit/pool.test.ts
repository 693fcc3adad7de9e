// The pool retries a connection the peer dropped during the handshake, and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '../../src/errors.js';
import type { SshConnection } from '../../src/ssh/connection.js';
import { SshPool } from '../../src/ssh/pool.js';
import type { SshTarget } from '../../src/ssh/target.js';

const target = { name: 'lb1' } as SshTarget;
const fakeConn = { closed: new Promise<void>(() => {}) } as unknown as SshConnection;

function pool(failures: string[]) {
  let calls = 0;
  const p = new SshPool({
    connect: async () => {
      const message = failures[calls++];
      if (message) throw new ConnectError('lb1', message);
      return fakeConn;
    },
  });
  return { p, calls: () => calls };
}

describe('SshPool', () => {
  it('retries a handshake the server closed', async () => {
    const { p, calls } = pool(['10.77.0.11:22 closed the connection during the SSH handshake']);
    assert.equal(await p.get(target), fakeConn);
    assert.equal(calls(), 2);
  });

  it('gives up after two retries', async () => {
    const closed = '10.77.0.11:22 closed the connection during the SSH handshake';
    const { p, calls } = pool([closed, closed, closed]);
    await assert.rejects(p.get(target), /closed the connection/);
    assert.equal(calls(), 3);
  });

  it('never retries an authentication or host-key refusal', async () => {
    for (const message of ['authentication failed for root@10.77.0.11 (tried: key file)', 'HOST KEY CHANGED for 10.77.0.11']) {
      const { p, calls } = pool([message]);
      await assert.rejects(p.get(target), new RegExp(message.slice(0, 10)));
      assert.equal(calls(), 1);
    }
  });
});
