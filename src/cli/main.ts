#!/usr/bin/env node
// kadeploy command-line entry: one file per command under src/cli/, registered here.
import { Command, CommanderError } from 'commander';
import { KadeployError } from '../errors.js';
type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs (start-up is most of a short run's
 * cost: `validate` never loads ssh2, `diff` never loads the lab). In help order; `--help`, no
 * command or an unknown one loads them all (commander lists them, or suggests the closest).
 */
const COMMANDS: Array<[names: string[], load: () => Promise<Register[]>]> = [
  [['validate'], async () => [(await import('./validate.js')).registerValidate]],
  [['render'], async () => [(await import('./render.js')).registerRender]],
  [['apply', 'diff', 'plan', 'show'], async () => {
    const m = await import('./apply.js');
    return [m.registerApply, m.registerDiff, m.registerPlan];
  }],
  [['verify'], async () => [(await import('./verify.js')).registerVerify]],
  [['status'], async () => [(await import('./status.js')).registerStatus]],
  [['preflight'], async () => [(await import('./preflight.js')).registerPreflight]],
  [['drain', 'undrain'], async () => [(await import('./drain.js')).registerDrain]],
  [['rollback'], async () => [(await import('./rollback.js')).registerRollback]],
  [['import'], async () => [(await import('./import.js')).registerImport]],
  [['schema'], async () => [(await import('./schema.js')).registerSchema]],
  [['lab'], async () => [(await import('./lab.js')).registerLab]],
];

/** Every command's name (the start-up code cache is kept per command: src/cli/start.ts). */
export const COMMAND_NAMES: readonly string[] = COMMANDS.flatMap(([names]) => names);

/** The program with the commands `argv` needs (all of them when `argv` names none we know). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('kadeploy')
    .description('Deploy and verify keepalived (VRRP) + HAProxy load-balancer clusters over SSH')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  const name = argv.find((a) => !a.startsWith('-'));
  const wanted = COMMANDS.filter(([names]) => name !== undefined && names.includes(name));
  // `kadeploy --version` alone needs no command (commander prints it before looking at any).
  const versionOnly = argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
  for (const [, load] of versionOnly ? [] : wanted.length ? wanted : COMMANDS) for (const register of await load()) register(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await (await buildProgram(process.argv.slice(2))).exitOverride().parseAsync(process.argv);
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
