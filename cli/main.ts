import { Command, CommanderError } from 'commander';
import { isKeyturnError } from '../config/errors.js';
import { commandModules } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('keyturn')
    .description('Rotate and revoke JWT signing keys as durable Temporal workflows, with sign-off and a tamper-evident audit log.')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandModules) register(program);
  return program;
}

/** Runs the CLI; every failure is one line on stderr and a non-zero exit, never a stack trace. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`${isKeyturnError(e) ? e.toLine() : `error INTERNAL: ${(e as Error).message}`}\n`);
    return isKeyturnError(e) ? 2 : 1;
  }
}

process.exitCode = await runCli(process.argv);
