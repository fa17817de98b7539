import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { KeyturnError } from '../../config/errors.js';

/**
 * Refuses a secret file that is not a regular file owned by this process's user, or that anyone
 * else can read or write (anything looser than 0600): a file another user owns, they can change.
 */
function checkOwnerOnly(path: string, st: Stats): void {
  if (!st.isFile()) throw new KeyturnError('SECRET_FILE_INVALID', `${path} is not a regular file`, 'Point the *_FILE variable at the secret file itself.');
  if (process.platform === 'win32') return;
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new KeyturnError(
      'SECRET_FILE_PERMISSIONS',
      `${path} has mode ${mode.toString(8).padStart(4, '0')}; a secret file (KEK, payload key, codec token) must be readable by its owner only`,
      `Run \`chmod 600 ${path}\`, and consider rotating the secret if others could have read it.`,
    );
  }
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new KeyturnError(
      'SECRET_FILE_OWNER',
      `${path} is owned by uid ${st.uid}, not by the user keyturn runs as (uid ${uid}); its owner could change it`,
      `Run \`chown ${uid} ${path}\`, or run keyturn as the file's owner.`,
    );
  }
}

/**
 * The text of an owner-only secret file (KEK, payload key, codec token, approver key…). The checks
 * are made on the opened file itself, so the file read is the file checked even if the path is
 * swapped meanwhile.
 */
export function readSecretFile(path: string): string {
  let fd: number;
  try {
    // Non-blocking, so a FIFO at the path is refused by the checks below instead of hanging the open.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new KeyturnError('SECRET_FILE_UNREADABLE', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'Check the path and that this user may read it.');
  }
  try {
    checkOwnerOnly(path, fstatSync(fd));
    return readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof KeyturnError) throw e;
    throw new KeyturnError('SECRET_FILE_UNREADABLE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'Check the path and that this user may read it.');
  } finally {
    closeSync(fd);
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
