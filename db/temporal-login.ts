import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import { checkedLoginPassword, scramVerifier } from './runtime-login.js';
import { checkHandover, databaseRefusal, handOver, pinnedClient, type DatabaseFacts } from './temporal-handover.js';

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

function refused(message: string): KeyturnError {
  return new KeyturnError('DB_TEMPORAL_LOGIN_PRIVILEGED', message, 'Name a role that is a plain login (or none yet: keyturn creates it); nothing was changed.');
}

/**
 * Gives Temporal a login of its own: no superuser, no CREATEDB or CREATEROLE, a member of no role,
 * owning `databases` (created when missing) and nothing else. Databases an earlier setup made
 * under the admin login are handed over with the objects in their public schema. With the
 * superuser out of Temporal's containers, whoever takes them over cannot reach keyturn's tables.
 * Everything is checked before anything changes, and a database the login already owns is never
 * opened as the admin: its owner controls what a session there runs.
 */
export async function provisionTemporalLogin(adminUrl: string, o: TemporalLoginOptions): Promise<TemporalLoginResult> {
  if (o.databases.length === 0) throw new KeyturnError('DB_TEMPORAL_NAME_INVALID', 'no database was named for Temporal', 'Name its databases (default temporal,temporal_visibility); nothing was changed.');
  for (const name of [o.login, ...o.databases]) {
    if (!IDENTIFIER.test(name)) throw new KeyturnError('DB_TEMPORAL_NAME_INVALID', `"${name}" is not a plain lower-case PostgreSQL name`, 'Use letters, digits and underscores (at most 63); nothing was changed.');
  }
  const password = checkedLoginPassword(o.password, 'KEYTURN_TEMPORAL_DB_PASSWORD', 'DB_TEMPORAL_PASSWORD_WEAK');
  const admin = pinnedClient(adminUrl);
  await admin.connect();
  try {
    const adminUser = (await admin.query<{ u: string }>('SELECT session_user AS u')).rows[0]!.u;
    if (o.login === adminUser) throw refused(`the Temporal login ${o.login} is the admin login itself`);
    const facts = new Map<string, DatabaseFacts | undefined>();
    for (const name of o.databases) {
      const f = await databaseFacts(admin, name);
      const refusal = f && databaseRefusal(f, [adminUser, o.login]);
      if (refusal) throw refusal;
      facts.set(name, f);
    }
    const owned = [...facts.values()].flatMap((f) => (f ? [f.oid] : []));
    await checkLogin(admin, o.login, owned);
    const toHandOver = [...facts.values()].filter((f): f is DatabaseFacts => f !== undefined && f.owner !== o.login);
    for (const f of toHandOver) await checkHandover(adminUrl, f.name);

    const created = await createLoginIfMissing(admin, o.login, password, owned);
    const databases: TemporalDatabaseResult[] = [];
    for (const [name, f] of facts) {
      if (!f) {
        await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} OWNER ${pg.escapeIdentifier(o.login)}`);
        databases.push({ name, created: true, objectsTakenOver: 0 });
      } else {
        const objectsTakenOver = f.owner === o.login ? 0 : await handOver(admin, adminUrl, name, o.login);
        databases.push({ name, created: false, objectsTakenOver });
      }
    }
    return { login: o.login, created, databases };
  } finally {
    await admin.end().catch(() => {});
  }
}

async function databaseFacts(admin: pg.Client, name: string): Promise<DatabaseFacts | undefined> {
  return (await admin.query<DatabaseFacts>(
    `SELECT oid::text AS oid, datname AS name, pg_get_userbyid(datdba) AS owner, datistemplate AS template, datallowconn AS "allowConn",
            datname = current_database() AS current
       FROM pg_database WHERE datname = $1`,
    [name],
  )).rows[0];
}

interface RoleRow {
  rolcanlogin: boolean;
  powers: string[];
}

/**
 * An existing role must be a plain login already: no attribute beyond LOGIN, a member of no role,
 * no settings of its own, and no objects or grants outside `ownedDatabases` (the databases
 * themselves, or anything inside them).
 */
async function checkLogin(admin: pg.Client, login: string, ownedDatabases: string[]): Promise<boolean> {
  const existing = (await admin.query<RoleRow>(
    `SELECT r.rolcanlogin,
            array_remove(ARRAY[CASE WHEN r.rolsuper THEN 'superuser' END, CASE WHEN r.rolcreatedb THEN 'createdb' END,
                               CASE WHEN r.rolcreaterole THEN 'createrole' END, CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
                               CASE WHEN r.rolreplication THEN 'replication' END,
                               CASE WHEN EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setrole = r.oid) THEN 'role-settings' END], NULL)
            || ARRAY(SELECT 'member-of:' || m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.roleid WHERE a.member = r.oid ORDER BY 1)
            || ARRAY(SELECT DISTINCT CASE d.deptype WHEN 'o' THEN 'owns-objects-elsewhere' WHEN 'a' THEN 'grants-elsewhere' ELSE 'shared-dependency:' || d.deptype::text END
                       FROM pg_shdepend d
                      WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid
                        AND NOT (d.dbid = ANY($2::oid[]) OR (d.classid = 'pg_database'::regclass AND d.objid = ANY($2::oid[])))
                      ORDER BY 1) AS powers
       FROM pg_roles r WHERE r.rolname = $1`,
    [login, ownedDatabases],
  )).rows[0];
  if (existing && (!existing.rolcanlogin || existing.powers.length)) {
    throw refused(`the role ${login} already exists and is ${existing.rolcanlogin ? `more than a plain login (${existing.powers.join(', ')})` : 'not allowed to log in'}`);
  }
  return existing !== undefined;
}

/** Creates the login, or checks again (against a change since the first check) that the existing one is plain. */
async function createLoginIfMissing(admin: pg.Client, login: string, password: string, ownedDatabases: string[]): Promise<boolean> {
  if (await checkLogin(admin, login, ownedDatabases)) return false;
  // Sent as a SCRAM verifier: the server, its logs and pg_stat_activity never see the password.
  await admin.query(`CREATE ROLE ${pg.escapeIdentifier(login)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`);
  return true;
}
