#!/usr/bin/env node
// kadeploy command-line entry: one file per command under src/cli/, registered here.
import { Command, CommanderError } from 'commander';
import { KadeployError } from '../errors.js';
import { registerValidate } from './validate.js';
import { registerRender } from './render.js';
import { registerSchema } from './schema.js';
import { registerApply, registerDiff, registerPlan } from './apply.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';
import { registerLab } from './lab.js';
import { registerRollback } from './rollback.js';
import { registerImport } from './import.js';

export function buildProgram(): Command {
  const program = new Command('kadeploy')
    .description('Deploy and verify keepalived (VRRP) + HAProxy load-balancer clusters over SSH')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  registerValidate(program);
  registerRender(program);
  registerApply(program);
  registerDiff(program);
  registerPlan(program);
  registerVerify(program);
  registerStatus(program);
  registerRollback(program);
  registerImport(program);
  registerSchema(program);
  registerLab(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().exitOverride().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
    } else if (err instanceof KadeployError) {
      process.stderr.write(`kadeploy: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      const e = err as Error;
      process.stderr.write(`kadeploy: unexpected error: ${e?.message ?? String(err)}\n`);
      if (process.env.KADEPLOY_DEBUG) process.stderr.write(`${e?.stack}\n`);
      process.exitCode = 1;
    }
  }
}

void main();
