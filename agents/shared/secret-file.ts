import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeyturnError } from '../../config/errors.js';

/** Refuses a secret file that anyone but its owner can read or write (anything looser than 0600). */
export function assertOwnerOnly(path: string): void {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new KeyturnError('SECRET_FILE_INVALID', `${path} is not a regular file`, 'Point the *_FILE variable at the secret file itself.');
    mode = st.mode & 0o777;
  } catch (e) {
    if (e instanceof KeyturnError) throw e;
    throw new KeyturnError('SECRET_FILE_UNREADABLE', `cannot stat ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'Check the path and that this user may read it.');
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KeyturnError(
      'SECRET_FILE_PERMISSIONS',
      `${path} has mode ${mode.toString(8).padStart(4, '0')}; a secret file (KEK, payload key, codec token) must be readable by its owner only`,
      `Run \`chmod 600 ${path}\`, and consider rotating the secret if others could have read it.`,
    );
  }
}

/** The text of an owner-only secret file (KEK, payload key, codec token…). */
export function readSecretFile(path: string): string {
  assertOwnerOnly(path);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new KeyturnError('SECRET_FILE_UNREADABLE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'Check the path and that this user may read it.');
  }
}

/**
 * Development only: writes `text` to a new 0600 file (its directory 0700) unless the file exists;
 * never overwrites. True when this call created it.
 */
export function createSecretFileOnce(path: string, text: string): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new KeyturnError('SECRET_FILE_UNREADABLE', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'Check that the data directory is writable.');
  }
}
