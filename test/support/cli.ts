import { execFile } from 'node:child_process';
import { Command } from 'commander';
import { vi } from 'vitest';

/** Runs `keyturn <args>` in-process with the given command modules, returning what it wrote. */
export async function runCli(register: (program: Command) => void, ...args: string[]): Promise<{ out: string; err: string }> {
  const program = new Command('keyturn').exitOverride();
  register(program);
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += chunk.toString()), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += chunk.toString()), true));
  try {
    await program.parseAsync(['node', 'keyturn', ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return { out, err };
}

/**
 * Runs `bin/keyturn.mjs <args>` as its own process against a stack. Async on purpose: the test's
 * process hosts the worker, which the CLI must not block.
 */
export function keyturnProcess(stack: { temporalAddress: string; namespace: string; databaseUrl: string; policyPath: string }, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/keyturn.mjs', ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, TEMPORAL_NAMESPACE: stack.namespace, DATABASE_URL: stack.databaseUrl, KEYTURN_POLICY: stack.policyPath },
      maxBuffer: 8 * 1024 * 1024,
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}
