import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import { APP_ROLE, type Pool } from './pool.js';

/**
 * Why a runtime login is more than keyturn_app. A login that owns keyturn's tables (or their
 * schema, or is a superuser) can `SET ROLE NONE` and then drop the audit log's triggers, rewrite
 * approval channel keys, or grant itself anything: the guards in the migrations hold only for a
 * login whose whole power is membership of keyturn_app.
 */
export type LoginPower = 'superuser' | 'createrole' | 'owns-tables' | 'owns-schema';

/** What the session's login role (not the role it acts as) may do beyond keyturn_app. */
export async function loginPowers(pool: Pool): Promise<LoginPower[]> {
  const res = await pool.query<{ rolsuper: boolean; rolcreaterole: boolean; owns_tables: boolean; owns_schema: boolean }>(
    `SELECT r.rolsuper, r.rolcreaterole,
            EXISTS (SELECT 1 FROM pg_class c
                     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
                       AND pg_has_role(session_user, c.relowner, 'MEMBER')) AS owns_tables,
            pg_has_role(session_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'MEMBER') AS owns_schema
       FROM pg_roles r WHERE r.rolname = session_user`,
  );
  const row = res.rows[0];
  if (!row) throw new KeyturnError('DB_LOGIN_UNKNOWN', 'the database login role could not be read from pg_roles', 'Check DATABASE_URL.');
  const powers: LoginPower[] = [];
  if (row.rolsuper) powers.push('superuser');
  if (row.rolcreaterole) powers.push('createrole');
  if (row.owns_tables) powers.push('owns-tables');
  if (row.owns_schema) powers.push('owns-schema');
  return powers;
}

export function describeLoginPowers(login: string, powers: LoginPower[]): string {
  return `the database login ${login} is more than keyturn_app (${powers.join(', ')}): whoever holds this process's DATABASE_URL can SET ROLE NONE and get around the append-only audit log and the channel-key guards`;
}

export const LEAST_PRIVILEGE_HINT =
  'Give the processes a login that is only a member of keyturn_app: run `keyturn db migrate` with KEYTURN_DB_ADMIN_URL (the owner) and DATABASE_URL (the runtime login, created if missing), then start them with KEYTURN_MIGRATIONS=check (deploy/README.md).';

export interface ProvisionResult {
  login: string;
  created: boolean;
}

/**
 * Makes DATABASE_URL's user a login whose only power is keyturn_app: created (with the URL's
 * password, sent as a SCRAM verifier so the server never sees it in clear) when missing, and
 * granted keyturn_app. An existing role is never altered beyond that grant; one that is more than
 * a plain login is refused before anything changes.
 */
export async function provisionRuntimeLogin(admin: Pool, runtimeUrl: string): Promise<ProvisionResult> {
  const user = loginOf(runtimeUrl);
  if (!user) throw new KeyturnError('DB_RUNTIME_LOGIN_INCOMPLETE', 'DATABASE_URL names no login to provision', 'Use postgres://<login>:<password>@host:port/db; nothing was changed.');
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    const adminUser = (await client.query<{ u: string }>('SELECT session_user AS u')).rows[0]!.u;
    if (user === adminUser) {
      throw new KeyturnError('DB_RUNTIME_LOGIN_IS_ADMIN', `DATABASE_URL logs in as ${user}, the same role as KEYTURN_DB_ADMIN_URL`, 'Name a separate role in DATABASE_URL (for example keyturn_runtime); keyturn creates it.');
    }
    const existing = await client.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcanlogin: boolean; member_of_admin: boolean }>(
      `SELECT rolsuper, rolcreaterole, rolcanlogin, pg_has_role(rolname, session_user, 'MEMBER') AS member_of_admin FROM pg_roles WHERE rolname = $1`,
      [user],
    );
    const row = existing.rows[0];
    if (row && (row.rolsuper || row.rolcreaterole || row.member_of_admin || !row.rolcanlogin)) {
      const why = row.rolsuper ? 'a superuser' : row.rolcreaterole ? 'allowed to create roles' : row.member_of_admin ? `a member of ${adminUser}` : 'not allowed to log in';
      throw new KeyturnError('DB_RUNTIME_LOGIN_PRIVILEGED', `the role ${user} named by DATABASE_URL already exists and is ${why}`, 'Name a role that is a plain login (or none yet: keyturn creates it); nothing was changed.');
    }
    if (!row) await client.query(`CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${pg.escapeLiteral(scramVerifier(newLoginPassword(runtimeUrl)))}`);
    await client.query(`GRANT ${APP_ROLE} TO ${pg.escapeIdentifier(user)}`);
    await client.query('COMMIT');
    return { login: user, created: !row };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

/** The user a connection URL logs in as. */
export function loginOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

function newLoginPassword(url: string): string {
  const password = decodeURIComponent(new URL(url).password);
  // SCRAM normalises passwords with SASLprep; printable ASCII is unchanged by it.
  if (!/^[\x21-\x7e]{16,}$/.test(password)) {
    throw new KeyturnError('DB_RUNTIME_PASSWORD_WEAK', 'the runtime login password in DATABASE_URL must be at least 16 printable ASCII characters, without spaces', 'Generate one, for example `openssl rand -hex 24`; nothing was changed.');
  }
  return password;
}

/** A SCRAM-SHA-256 password verifier in PostgreSQL's stored format (RFC 5802, RFC 7677). */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
