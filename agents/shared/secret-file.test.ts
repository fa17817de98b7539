import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecretFile } from './secret-file.js';

const dir = mkdtempSync(join(tmpdir(), 'keyturn-secret-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function secretFile(mode: number, text = 'secret-value'): string {
  const path = join(dir, `secret-${n++}`);
  writeFileSync(path, text, { mode });
  return path;
}

const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'read';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('reading a secret file', () => {
  it('reads a 0600 file owned by this user', () => {
    expect(readSecretFile(secretFile(0o600))).toBe('secret-value');
  });

  it('checks the file a symbolic link leads to, as mounted secrets are: an owner-only target is read', () => {
    const link = join(dir, `link-${n++}`);
    symlinkSync(secretFile(0o600), link);
    expect(readSecretFile(link)).toBe('secret-value');
  });

  it('refuses through a symbolic link a target others may read, with SECRET_FILE_PERMISSIONS', () => {
    const link = join(dir, `link-${n++}`);
    symlinkSync(secretFile(0o644), link);
    expect(codeOf(() => readSecretFile(link))).toBe('SECRET_FILE_PERMISSIONS');
  });

  it.skipIf(process.geteuid?.() !== 0)('refuses a 0600 file owned by another user, who could change it, with SECRET_FILE_OWNER', () => {
    const path = secretFile(0o600);
    chownSync(path, 65534, 65534);
    expect(codeOf(() => readSecretFile(path))).toBe('SECRET_FILE_OWNER');
  });

  it('refuses a named pipe with SECRET_FILE_INVALID instead of waiting on it', () => {
    const fifo = join(dir, `fifo-${n++}`);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(codeOf(() => readSecretFile(fifo))).toBe('SECRET_FILE_INVALID');
  });

  it('refuses a directory with SECRET_FILE_INVALID and a missing file with SECRET_FILE_UNREADABLE', () => {
    expect(codeOf(() => readSecretFile(dir))).toBe('SECRET_FILE_INVALID');
    expect(codeOf(() => readSecretFile(join(dir, 'missing')))).toBe('SECRET_FILE_UNREADABLE');
  });
});
