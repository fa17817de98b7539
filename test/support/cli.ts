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
