import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import { inTransaction, type Pool } from './pool.js';
import { checkedLoginPassword, scramVerifier } from './runtime-login.js';

/** Temporal's two SQL databases, as the compose file and Temporal's samples name them. */
export const TEMPORAL_DATABASES = ['temporal', 'temporal_visibility'] as const;

export interface TemporalLoginOptions {
  login: string;
  password: string;
  databases: readonly string[];
}

export interface TemporalDatabaseResult {
  name: string;
  created: boolean;
  /** Objects in its public schema that another role owned and the login now owns. */
  objectsTakenOver: number;
}

export interface TemporalLoginResult {
  login: string;
  created: boolean;
  databases: TemporalDatabaseResult[];
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function refused(code: string, message: string): KeyturnError {
  return new KeyturnError(code, message, 'Name a role that is a plain login (or none yet: keyturn creates it); nothing was changed.');
}

/**
 * Gives Temporal a login of its own: no superuser, no CREATEDB or CREATEROLE, a member of no role,
 * owning `databases` (created when missing) and nothing else. Databases made by an earlier setup
 * under the superuser are handed over with the objects in their public schema. With the superuser
 * out of Temporal's containers, whoever takes them over cannot reach keyturn's tables.
 */
export async function provisionTemporalLogin(adminUrl: string, o: TemporalLoginOptions): Promise<TemporalLoginResult> {
  for (const name of [o.login, ...o.databases]) {
    if (!IDENTIFIER.test(name)) throw new KeyturnError('DB_TEMPORAL_NAME_INVALID', `"${name}" is not a plain lower-case PostgreSQL name`, 'Use letters, digits and underscores (at most 63); nothing was changed.');
  }
  const password = checkedLoginPassword(o.password, 'KEYTURN_TEMPORAL_DB_PASSWORD', 'DB_TEMPORAL_PASSWORD_WEAK');
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const adminUser = (await admin.query<{ u: string }>('SELECT session_user AS u')).rows[0]!.u;
    // Everything is checked before anything changes.
    await checkLogin(admin, adminUser, o.login);
    const owners = new Map<string, string | undefined>();
    for (const name of o.databases) owners.set(name, await checkDatabase(admin, adminUrl, name, [adminUser, o.login]));
    const created = await createLoginIfMissing(admin, o.login, password);
    const databases: TemporalDatabaseResult[] = [];
    for (const [name, owner] of owners) databases.push(await ensureOwnedDatabase(admin, adminUrl, name, owner, o.login));
    return { login: o.login, created, databases };
  } finally {
    await admin.end().catch(() => {});
  }
}

interface RoleRow {
  rolcanlogin: boolean;
  powers: string[];
}

async function checkLogin(admin: pg.Client, adminUser: string, login: string): Promise<void> {
  if (login === adminUser) throw refused('DB_TEMPORAL_LOGIN_IS_ADMIN', `the Temporal login ${login} is the admin login itself`);
  const existing = (await admin.query<RoleRow>(
    `SELECT r.rolcanlogin,
            array_remove(ARRAY[CASE WHEN r.rolsuper THEN 'superuser' END, CASE WHEN r.rolcreatedb THEN 'createdb' END,
                               CASE WHEN r.rolcreaterole THEN 'createrole' END, CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
                               CASE WHEN r.rolreplication THEN 'replication' END], NULL)
            || ARRAY(SELECT 'member-of:' || m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.roleid WHERE a.member = r.oid ORDER BY 1) AS powers
       FROM pg_roles r WHERE r.rolname = $1`,
    [login],
  )).rows[0];
  if (existing && (!existing.rolcanlogin || existing.powers.length)) {
    throw refused('DB_TEMPORAL_LOGIN_PRIVILEGED', `the role ${login} already exists and is ${existing.rolcanlogin ? `more than a plain login (${existing.powers.join(', ')})` : 'not allowed to log in'}`);
  }
}

/** The database's owner (undefined when it does not exist yet), once it is known to be Temporal's to take. */
async function checkDatabase(admin: pg.Client, adminUrl: string, name: string, mayOwn: string[]): Promise<string | undefined> {
  const foreign = (why: string) =>
    new KeyturnError('DB_TEMPORAL_DATABASE_FOREIGN', `the database ${name} ${why}, so it is not handed to Temporal`, 'Name only Temporal\'s own databases (default temporal,temporal_visibility); nothing was changed.');
  const row = (await admin.query<{ owner: string; current: boolean }>('SELECT pg_get_userbyid(datdba) AS owner, datname = current_database() AS current FROM pg_database WHERE datname = $1', [name])).rows[0];
  if (!row) return undefined;
  if (row.current) throw foreign("is KEYTURN_DB_ADMIN_URL's own database");
  if (!mayOwn.includes(row.owner)) throw foreign(`belongs to ${row.owner}, neither the admin login nor the Temporal login`);
  const holdsKeyturn = await inDatabase(adminUrl, name, async (c) => (await c.query<{ t: string | null }>(`SELECT to_regclass('public.keyturn_migrations')::text AS t`)).rows[0]!.t !== null);
  if (holdsKeyturn) throw foreign("holds keyturn's tables");
  return row.owner;
}

async function createLoginIfMissing(admin: pg.Client, login: string, password: string): Promise<boolean> {
  if ((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [login])).rowCount) return false;
  // Sent as a SCRAM verifier: the server, its logs and pg_stat_activity never see the password.
  await admin.query(`CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`);
  return true;
}

async function ensureOwnedDatabase(admin: pg.Client, adminUrl: string, name: string, owner: string | undefined, login: string): Promise<TemporalDatabaseResult> {
  if (owner === undefined) {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} OWNER ${pg.escapeIdentifier(login)}`);
    return { name, created: true, objectsTakenOver: 0 };
  }
  const objectsTakenOver = await inDatabase(adminUrl, name, (c) => takeOverPublicSchema(c, login));
  if (owner !== login) await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} OWNER TO ${pg.escapeIdentifier(login)}`);
  return { name, created: false, objectsTakenOver };
}

/** Runs `fn` in one transaction on database `name`, as the admin login. */
async function inDatabase<T>(adminUrl: string, name: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool: Pool = new pg.Pool({ connectionString: url.toString(), max: 1, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => {});
  try {
    return await inTransaction(pool, fn);
  } finally {
    await pool.end();
  }
}

/**
 * ALTER … OWNER statements for what others own in `public`: relations, routines and free-standing
 * types. Members of an extension (btree_gin's functions, say) stay with the extension's owner.
 */
const FOREIGN_OBJECTS = `
  WITH extension_members AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
  SELECT format('ALTER %s %s OWNER TO %I',
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass, $1::text) AS stmt
    FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND pg_get_userbyid(c.relowner) <> $1
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
  UNION ALL
  SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
    FROM pg_proc p
   WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> $1
     AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM extension_members)
  UNION ALL
  SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, $1::text)
    FROM pg_type t
   WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e', 'r', 'm') AND pg_get_userbyid(t.typowner) <> $1
     AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM extension_members)`;

async function takeOverPublicSchema(client: pg.PoolClient, login: string): Promise<number> {
  const schemaOwner = (await client.query<{ owner: string }>(`SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'public'`)).rows[0]?.owner;
  // From PostgreSQL 15 public belongs to pg_database_owner, which the database's new owner becomes.
  if (schemaOwner !== undefined && schemaOwner !== 'pg_database_owner' && schemaOwner !== login) {
    await client.query(`ALTER SCHEMA public OWNER TO ${pg.escapeIdentifier(login)}`);
  }
  const { rows } = await client.query<{ stmt: string }>(FOREIGN_OBJECTS, [login]);
  for (const { stmt } of rows) await client.query(stmt);
  return rows.length;
}
