import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerPolicy } from '../../cli/commands/policy.js';
import { issuerWith, policyDoc } from './policy-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'keyturn-policy-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs `keyturn policy check ...args` on a program that has only the policy command; returns stdout. */
async function check(...args: string[]): Promise<string> {
  const program = new Command('keyturn').exitOverride();
  registerPolicy(program);
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  await program.parseAsync(['policy', 'check', ...args], { from: 'user' });
  return out.join('');
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('keyturn policy check', () => {
  it('prints the effective policy of a valid file', async () => {
    const output = await check(file('ok.md', policyDoc(issuerWith())));
    expect(output).toMatch(/^policy version [0-9a-f]{64}\n/);
    expect(output).toContain('lead / overlap     10m / 15m');
  });

  it('reads $KEYTURN_POLICY when no file is given', async () => {
    vi.stubEnv('KEYTURN_POLICY', file('env.md', policyDoc(issuerWith({ issuer: 'https://env.example.test' }))));
    expect(await check()).toContain('issuer https://env.example.test');
  });

  it('throws the refusal for an invalid file', async () => {
    await expect(check(file('bad.md', policyDoc(issuerWith({ algorithm: 'HS256' }))))).rejects.toMatchObject({ code: 'POLICY_INVALID', details: { field: 'issuers[0].algorithm', rule: 'algorithm-forbidden' } });
  });

  it('throws POLICY_NOT_FOUND for a missing file', async () => {
    await expect(check(join(dir, 'missing.md'))).rejects.toMatchObject({ code: 'POLICY_NOT_FOUND' });
  });

  it('refuses a file that is not UTF-8', async () => {
    const path = join(dir, 'latin1.md');
    writeFileSync(path, Buffer.concat([Buffer.from(policyDoc(issuerWith())), Buffer.from([0xff, 0xfe, 0x41])]));
    await expect(check(path)).rejects.toMatchObject({ details: { rule: 'not-utf8' } });
  });
});
