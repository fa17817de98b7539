import { KeyturnError } from '../config/errors.js';
import type { Env } from '../config/env.js';
import { migrate, pendingMigrations } from '../db/migrate.js';
import { createPool, type Pool } from '../db/pool.js';
import { describeLoginPowers, LEAST_PRIVILEGE_HINT, loginOf, loginPowers } from '../db/runtime-login.js';

export interface DatabaseOptions {
  /** The embedded PostgreSQL of `npm run dev`: one local user, so an owner login is expected there. */
  embedded?: boolean;
  /** When KEYTURN_MIGRATIONS is unset: `check` for production processes, `apply` for `npm run dev`. */
  defaultMode?: 'apply' | 'check';
  say: (line: string) => void;
}

/**
 * Readies the database for a long-running process. `apply` migrates with DATABASE_URL (which must
 * therefore own the tables, and is reported as such outside the embedded dev database); `check`
 * migrates nothing and refuses to start on a pending migration or on a login that is more than
 * keyturn_app.
 */
export async function openDatabase(env: Env & { DATABASE_URL: string }, opts: DatabaseOptions): Promise<Pool> {
  const mode = env.KEYTURN_MIGRATIONS ?? opts.defaultMode ?? 'check';
  if (mode === 'apply') {
    const applied = await migrate(env.DATABASE_URL);
    if (applied.length) opts.say(`[keyturn] applied migrations: ${applied.join(', ')}`);
  }
  const pool = createPool(env.DATABASE_URL);
  try {
    if (mode === 'check') await refuseUnlessReady(pool);
    else if (!opts.embedded) await warnIfPowerful(pool, env.DATABASE_URL, opts.say);
    return pool;
  } catch (e) {
    await pool.end();
    throw e;
  }
}

async function refuseUnlessReady(pool: Pool): Promise<void> {
  const pending = await pendingMigrations(pool);
  if (pending.length) {
    throw new KeyturnError('MIGRATIONS_PENDING', `${pending.length} database migration(s) are not applied, first ${pending[0]}`, 'Run `keyturn db migrate` with KEYTURN_DB_ADMIN_URL set to the table owner, then start this process again.');
  }
  const login = (await pool.query<{ u: string }>('SELECT session_user AS u')).rows[0]!.u;
  const powers = await loginPowers(pool);
  if (powers.length) throw new KeyturnError('DB_LOGIN_PRIVILEGED', `refusing to start: ${describeLoginPowers(login, powers)}`, LEAST_PRIVILEGE_HINT);
}

async function warnIfPowerful(pool: Pool, url: string, say: (line: string) => void): Promise<void> {
  const powers = await loginPowers(pool);
  if (powers.length) say(`[keyturn] warning: ${describeLoginPowers(loginOf(url) || 'of DATABASE_URL', powers)}. ${LEAST_PRIVILEGE_HINT}`);
}
