// The package's bin (dist/cli/kadeploy, src/cli/kadeploy.sh: a sh launcher, the bundle's ssh2 index
// evaluated lazily) against the real lab: a no-op apply and a dry-run print what
// `node dist/cli/main.js` prints, with real SSH, keepalived and HAProxy.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { kadeploy, type CliResult } from '../support/cli.js';
import { withLab } from './lab-helper.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'kadeploy');

function viaBin(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: '1', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

// Nodes finish in either order: compare the lines, not their order.
const lines = (s: string) => s.split('\n').sort();

describe('the bin on a 2-node lab', { timeout: 900_000 }, () => {
  it('no-op apply and dry-run print the same as node dist/cli/main.js', async (t) => {
    await withLab(t, { nodes: 2 }, async (lab) => {
      const inv = lab.inventoryPath;
      const deploy = await viaBin(['apply', inv]);
      assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
      for (const args of [['apply', inv], ['apply', '--dry-run', inv], ['diff', inv]]) {
        const direct = await kadeploy(args);
        const launched = await viaBin(args);
        assert.equal(direct.code, 0, `${args.join(' ')}: ${direct.stdout}\n${direct.stderr}`);
        assert.equal(launched.code, direct.code, `${args.join(' ')} via the bin: ${launched.stdout}\n${launched.stderr}`);
        assert.deepEqual(lines(launched.stdout), lines(direct.stdout), args.join(' '));
        assert.deepEqual(lines(launched.stderr), lines(direct.stderr), args.join(' '));
      }
      const noop = await viaBin(['apply', inv]);
      assert.match(noop.stdout, /No changes: 2 node\(s\) up to date\./);
    });
  });
});
