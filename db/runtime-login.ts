import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import { APP_ROLE, inTransaction, type Pool } from './pool.js';

/**
 * Why a login is more than keyturn_app. The guards in the migrations (append-only audit log,
 * disable-only channel keys) are grants and triggers on keyturn_app; a login with any power of its
 * own can `SET ROLE NONE` and use it: a superuser or role creator; a member of another role (the
 * table owner, pg_write_all_data, pg_database_owner, pg_execute_server_program…); an owner of any
 * object (a table, a trigger function, the database); or a holder of grants of its own.
 */
export type LoginPower =
  | 'superuser' | 'createrole' | 'bypassrls' | 'replication' | `member-of:${string}` | 'admin-of-keyturn_app'
  | 'owns-objects' | 'own-grants' | `shared-dependency:${string}` | 'role-settings' | 'create-in-public' | 'create-in-database' | 'replica-mode';

/** Where to ask: a pool or a client inside a transaction. */
type Queryable = pg.Pool | pg.PoolClient;

interface PowersRow {
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolbypassrls: boolean;
  rolreplication: boolean;
  member_of: string[];
  admin_of_app: boolean;
  dependencies: string[];
  role_settings: boolean;
  create_in_public: boolean;
  create_in_database: boolean;
  replica_mode: boolean;
}

/**
 * What the role `login` (default: the session's login, not the role it acts as) may do beyond
 * keyturn_app. For the session's own login it also checks that triggers fire in this session
 * (`session_replication_role`, which a database-wide setting could change).
 */
export async function loginPowers(db: Queryable, login?: string): Promise<LoginPower[]> {
  const res = await db.query<PowersRow>(
    `SELECT r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolreplication,
            ARRAY(SELECT m.rolname::text FROM pg_roles m
                   WHERE NOT r.rolsuper AND m.oid <> r.oid AND m.rolname <> $2 AND pg_has_role(r.oid, m.oid, 'MEMBER')
                   ORDER BY 1) AS member_of,
            EXISTS (SELECT 1 FROM pg_auth_members a WHERE a.member = r.oid AND a.roleid = (SELECT oid FROM pg_roles WHERE rolname = $2) AND a.admin_option) AS admin_of_app,
            ARRAY(SELECT DISTINCT d.deptype::text FROM pg_shdepend d
                   WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid ORDER BY 1) AS dependencies,
            EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setrole = r.oid) AS role_settings,
            has_schema_privilege(r.oid, 'public', 'CREATE') AS create_in_public,
            has_database_privilege(r.oid, current_database(), 'CREATE') AS create_in_database,
            ($1::name IS NULL AND current_setting('session_replication_role') <> 'origin') AS replica_mode
       FROM pg_roles r WHERE r.rolname = coalesce($1::name, session_user)`,
    [login ?? null, APP_ROLE],
  );
  const row = res.rows[0];
  if (!row) throw new KeyturnError('DB_LOGIN_UNKNOWN', `the database role ${login ?? '(session user)'} is not in pg_roles`, 'Check DATABASE_URL.');
  const powers: LoginPower[] = [];
  if (row.rolsuper) powers.push('superuser');
  if (row.rolcreaterole) powers.push('createrole');
  if (row.rolbypassrls) powers.push('bypassrls');
  if (row.rolreplication) powers.push('replication');
  for (const m of row.member_of) powers.push(`member-of:${m}`);
  if (row.admin_of_app) powers.push('admin-of-keyturn_app');
  // pg_shdepend: 'o' the role owns an object (in any database, or a database), 'a' an ACL names it.
  for (const d of row.dependencies) powers.push(d === 'o' ? 'owns-objects' : d === 'a' ? 'own-grants' : `shared-dependency:${d}`);
  // ALTER ROLE … SET session_replication_role = replica, for one, would silence every trigger.
  if (row.role_settings) powers.push('role-settings');
  // Objects planted in public could shadow what the owner's migrations call (CVE-2018-1058).
  if (row.create_in_public && !row.rolsuper) powers.push('create-in-public');
  if (row.create_in_database && !row.rolsuper) powers.push('create-in-database');
  if (row.replica_mode) powers.push('replica-mode');
  return powers;
}

export function describeLoginPowers(login: string, powers: LoginPower[]): string {
  return `the database login ${login} is more than keyturn_app (${powers.join(', ')}): whoever holds this process's DATABASE_URL can SET ROLE NONE and get around the append-only audit log and the channel-key guards`;
}

export const LEAST_PRIVILEGE_HINT =
  'Give the processes a login that is only a member of keyturn_app: run `keyturn db migrate` with KEYTURN_DB_ADMIN_URL (the owner) and DATABASE_URL (the runtime login, created if missing), then start them with KEYTURN_MIGRATIONS=check, their default (deploy/README.md). Grant anything the login needs (CONNECT on a locked-down database, say) to keyturn_app, not to the login; on a database from PostgreSQL 14 or older, REVOKE CREATE ON SCHEMA public FROM PUBLIC.';

export interface ProvisionResult {
  login: string;
  created: boolean;
}

/**
 * Makes DATABASE_URL's user a login whose only power is keyturn_app: created (with the URL's
 * password, sent as a SCRAM verifier so the server never sees it in clear) when missing, and
 * granted keyturn_app. An existing role is never altered beyond that grant; one that is more than
 * a plain login (anything {@link loginPowers} reports) is refused, and nothing changes.
 */
export async function provisionRuntimeLogin(admin: Pool, runtimeUrl: string): Promise<ProvisionResult> {
  const user = loginOf(runtimeUrl);
  if (!user) throw new KeyturnError('DB_RUNTIME_LOGIN_INCOMPLETE', 'DATABASE_URL names no login to provision', 'Use postgres://<login>:<password>@host:port/db; nothing was changed.');
  return inTransaction(admin, async (client) => {
    const adminUser = (await client.query<{ u: string }>('SELECT session_user AS u')).rows[0]!.u;
    if (user === adminUser) {
      throw new KeyturnError('DB_RUNTIME_LOGIN_IS_ADMIN', `DATABASE_URL logs in as ${user}, the same role as KEYTURN_DB_ADMIN_URL`, 'Name a separate role in DATABASE_URL (for example keyturn_runtime); keyturn creates it.');
    }
    const existing = (await client.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [user])).rows[0];
    if (existing && !existing.rolcanlogin) {
      throw new KeyturnError('DB_RUNTIME_LOGIN_PRIVILEGED', `the role ${user} named by DATABASE_URL already exists and is not allowed to log in`, 'Name a role that is a plain login (or none yet: keyturn creates it); nothing was changed.');
    }
    if (!existing) await client.query(`CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${pg.escapeLiteral(scramVerifier(newLoginPassword(runtimeUrl)))}`);
    await client.query(`GRANT ${APP_ROLE} TO ${pg.escapeIdentifier(user)}`);
    // Checked with the grant in place, inside the transaction: a refusal rolls the grant back, and a
    // power given to the role meanwhile cannot ride on it.
    const powers = await loginPowers(client, user);
    if (powers.length) {
      throw new KeyturnError('DB_RUNTIME_LOGIN_PRIVILEGED', `the role ${user} named by DATABASE_URL ${existing ? 'already exists and ' : ''}is more than keyturn_app (${powers.join(', ')})`, 'Name a role that is a plain login (or none yet: keyturn creates it); nothing was changed.');
    }
    return { login: user, created: !existing };
  });
}

/** The user a connection URL logs in as. */
export function loginOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

function newLoginPassword(url: string): string {
  return checkedLoginPassword(decodeURIComponent(new URL(url).password), 'the runtime login password in DATABASE_URL', 'DB_RUNTIME_PASSWORD_WEAK');
}

/** A new login's password, refused (naming `what`) unless 16+ printable ASCII characters without spaces. */
export function checkedLoginPassword(password: string, what: string, code: string): string {
  // SCRAM normalises passwords with SASLprep; printable ASCII is unchanged by it.
  if (!/^[\x21-\x7e]{16,}$/.test(password)) {
    throw new KeyturnError(code, `${what} must be at least 16 printable ASCII characters, without spaces`, 'Generate one, for example `openssl rand -hex 24`; nothing was changed.');
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
