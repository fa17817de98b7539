import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerDb } from '../../cli/commands/db.js';
import { provisionTemporalLogin } from '../../db/temporal-login.js';
import { runCli } from '../support/cli.js';
import { superuserPool, unique } from '../support/db.js';
import { codeOf } from '../support/error-code.js';
import { urlAs } from '../support/login-url.js';

const su = superuserPool();
const base = unique('tl').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
const adminUrl = inject('databaseUrl');
const password = randomBytes(24).toString('hex');
const roles: string[] = [];
const databases: string[] = [];

/** A login name and database names of this test's own, dropped afterwards. */
function names(tag: string): { login: string; dbs: string[] } {
  const login = `${base}_${tag}`;
  const dbs = [`${login}_main`, `${login}_vis`];
  roles.push(login);
  databases.push(...dbs);
  return { login, dbs };
}

async function as<T>(login: string, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlAs(adminUrl, { user: login, password }, database) });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** 'ok', or the SQLSTATE the statement (or, on a database the login may not connect to, the connection) failed with. */
async function sqlState(login: string, database: string, sql: string): Promise<string> {
  const codeOf = (e: unknown) => (e as { code?: string }).code ?? String(e);
  return as(login, database, async (c) => {
    try {
      await c.query(sql);
      return 'ok';
    } catch (e) {
      return codeOf(e);
    }
  }).catch(codeOf);
}

async function ownerOf(database: string): Promise<string | undefined> {
  return (await su.query<{ o: string }>('SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = $1', [database])).rows[0]?.o;
}

async function roleExists(login: string): Promise<boolean> {
  return ((await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [login])).rowCount ?? 0) > 0;
}

async function withAdminOn(database: string, fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const db of databases) await su.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  for (const r of roles) await su.query(`DROP ROLE IF EXISTS "${r}"`);
  await su.end();
});

describe('keyturn db temporal-login', () => {
  it('creates a plain login that owns both of Temporal’s databases, printing no password', async () => {
    const { login, dbs } = names('fresh');
    const saved = { ...process.env };
    Object.assign(process.env, { KEYTURN_DB_ADMIN_URL: adminUrl, KEYTURN_TEMPORAL_DB_USER: login, KEYTURN_TEMPORAL_DB_PASSWORD: password });
    let printed: { out: string; err: string };
    try {
      printed = await runCli(registerDb, 'db', 'temporal-login', '--databases', dbs.join(','));
    } finally {
      process.env = saved;
    }
    expect(printed.out).toContain(`Temporal login ${login}: created, a plain login`);
    for (const db of dbs) expect(printed.out).toContain(`database ${db}: created, owned by ${login}`);
    expect(printed.out + printed.err).not.toContain(password);
    expect(await ownerOf(dbs[0]!)).toBe(login);
    expect(await ownerOf(dbs[1]!)).toBe(login);
    const role = (await su.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication FROM pg_roles WHERE rolname = $1', [login])).rows[0];
    expect(role).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolbypassrls: false, rolreplication: false });
    expect((await su.query('SELECT 1 FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.member WHERE r.rolname = $1', [login])).rowCount).toBe(0);
  });

  it('refuses to run without KEYTURN_TEMPORAL_DB_PASSWORD', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { KEYTURN_DB_ADMIN_URL: adminUrl });
    delete process.env.KEYTURN_TEMPORAL_DB_PASSWORD;
    try {
      expect(await codeOf(() => runCli(registerDb, 'db', 'temporal-login'))).toBe('DB_TEMPORAL_PASSWORD_MISSING');
    } finally {
      process.env = saved;
    }
  });
});

describe('the Temporal login', () => {
  const guest = names('guest');
  beforeAll(() => provisionTemporalLogin(adminUrl, { login: guest.login, password, databases: guest.dbs }));

  it('can create Temporal’s schema in its own database', async () => {
    const { login, dbs } = guest;
    expect(await sqlState(login, dbs[0]!, 'CREATE TABLE cluster_metadata (id int PRIMARY KEY)')).toBe('ok');
  });

  it('can install btree_gin in its visibility database, as Temporal’s visibility schema does', async () => {
    const { login, dbs } = guest;
    expect(await sqlState(login, dbs[1]!, 'CREATE EXTENSION IF NOT EXISTS btree_gin')).toBe('ok');
  });

  it('cannot connect to keyturn’s database at all', async () => {
    const { login } = guest;
    const keyturnDb = new URL(adminUrl).pathname.slice(1);
    await expect(as(login, keyturnDb, async () => 'connected')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('permission denied for database') });
  });

  it('cannot read or rewrite keyturn’s audit log', async () => {
    const { login } = guest;
    const keyturnDb = new URL(adminUrl).pathname.slice(1);
    expect(await sqlState(login, keyturnDb, 'SELECT * FROM audit_log')).toBe('42501');
    expect(await sqlState(login, keyturnDb, `UPDATE audit_log SET action = 'rewritten'`)).toBe('42501');
  });

  it('cannot disable the audit log’s triggers', async () => {
    const { login } = guest;
    expect(await sqlState(login, new URL(adminUrl).pathname.slice(1), 'ALTER TABLE audit_log DISABLE TRIGGER ALL')).toBe('42501');
  });

  it('cannot act as keyturn_app', async () => {
    const { login } = guest;
    expect(await sqlState(login, new URL(adminUrl).pathname.slice(1), 'SET ROLE keyturn_app')).toBe('42501');
  });
});

describe('databases an earlier setup made as the superuser', () => {
  it('are handed over to the Temporal login with everything in their public schema', async () => {
    const { login, dbs } = names('legacy');
    for (const db of dbs) await su.query(`CREATE DATABASE "${db}"`);
    await withAdminOn(dbs[0]!, (legacy) =>
      legacy.query(`CREATE TABLE executions (id serial PRIMARY KEY, state text);
        CREATE SEQUENCE shard_seq; CREATE VIEW open_executions AS SELECT id FROM executions;
        CREATE TYPE exec_state AS ENUM ('open', 'closed');
        CREATE TABLE tasks (shard int, id int) PARTITION BY RANGE (shard);
        CREATE TABLE tasks_0 PARTITION OF tasks FOR VALUES FROM (0) TO (100);
        CREATE TABLE schema_version (version_partition int, db_name text);
        CREATE EXTENSION btree_gin;
        CREATE FUNCTION convert_ts(s varchar) RETURNS timestamp LANGUAGE sql IMMUTABLE AS 'SELECT s::timestamptz AT TIME ZONE ''UTC'''`),
    );
    const result = await provisionTemporalLogin(adminUrl, { login, password, databases: dbs });
    expect(result.databases).toEqual([
      { name: dbs[0], created: false, objectsTakenOver: 8 },
      { name: dbs[1], created: false, objectsTakenOver: 0 },
    ]);
    expect(await ownerOf(dbs[0]!)).toBe(login);
    expect(await sqlState(login, dbs[0]!, 'ALTER TABLE executions ADD COLUMN shard int')).toBe('ok');
    expect(await sqlState(login, dbs[0]!, "COMMENT ON TABLE tasks_0 IS 'owned by Temporal'")).toBe('ok');
    expect(await sqlState(login, dbs[0]!, 'DROP VIEW open_executions; DROP FUNCTION convert_ts(varchar); DROP TYPE exec_state; DROP SEQUENCE shard_seq')).toBe('ok');
  });

  it('are left as they are on a second run', async () => {
    const { login, dbs } = names('again');
    await provisionTemporalLogin(adminUrl, { login, password, databases: dbs });
    const again = await provisionTemporalLogin(adminUrl, { login, password, databases: dbs });
    expect(again).toEqual({ login, created: false, databases: dbs.map((name) => ({ name, created: false, objectsTakenOver: 0 })) });
  });
});

describe('a database the Temporal login already owns', () => {
  it('is never opened by the admin, so objects its owner planted there never run as the admin', async () => {
    const { login, dbs } = names('hostile');
    await provisionTemporalLogin(adminUrl, { login, password, databases: dbs });
    // What a Temporal container's holder could do as the owner: steer name lookups to a trap.
    expect(await sqlState(login, dbs[0]!, `CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$
      BEGIN EXECUTE 'ALTER ROLE ${login} SUPERUSER'; RETURN NULL; END $$`)).toBe('ok');
    expect(await sqlState(login, dbs[0]!, `ALTER DATABASE "${dbs[0]}" SET search_path = public, pg_catalog`)).toBe('ok');
    await provisionTemporalLogin(adminUrl, { login, password, databases: dbs });
    expect((await su.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [login])).rows[0]).toEqual({ rolsuper: false });
  });
});

describe('provisioning refuses, changing nothing', () => {
  it('an existing role that may create databases', async () => {
    const { login, dbs } = names('createdb');
    await su.query(`CREATE ROLE "${login}" LOGIN CREATEDB`);
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_LOGIN_PRIVILEGED');
    expect(await ownerOf(dbs[0]!)).toBeUndefined();
  });

  it('an existing role that is a member of keyturn_app', async () => {
    const { login, dbs } = names('member');
    await su.query(`CREATE ROLE "${login}" LOGIN IN ROLE keyturn_app`);
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_LOGIN_PRIVILEGED');
  });

  it('keyturn’s own database', async () => {
    const { login } = names('keyturndb');
    const keyturnDb = new URL(adminUrl).pathname.slice(1);
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: [keyturnDb] }))).toBe('DB_TEMPORAL_DATABASE_FOREIGN');
    expect(await roleExists(login)).toBe(false);
    expect(await ownerOf(keyturnDb)).not.toBe(login);
  });

  it('a database that belongs to some other role', async () => {
    const { login, dbs } = names('foreign');
    const other = `${login}_other`;
    roles.push(other);
    await su.query(`CREATE ROLE "${other}"`);
    await su.query(`CREATE DATABASE "${dbs[0]}" OWNER "${other}"`);
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_DATABASE_FOREIGN');
    expect(await ownerOf(dbs[0]!)).toBe(other);
    expect(await ownerOf(dbs[1]!)).toBeUndefined();
  });

  it('an existing role that holds grants outside Temporal’s databases', async () => {
    const { login, dbs } = names('granted');
    await su.query(`CREATE ROLE "${login}" LOGIN`);
    await su.query(`GRANT SELECT ON audit_log TO "${login}"`);
    try {
      expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_LOGIN_PRIVILEGED');
      expect(await ownerOf(dbs[0]!)).toBeUndefined();
    } finally {
      await su.query(`REVOKE SELECT ON audit_log FROM "${login}"`);
    }
  });

  it('a template or maintenance database', async () => {
    const { login } = names('template');
    for (const db of ['template1', 'postgres']) {
      expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: [db] }))).toBe('DB_TEMPORAL_DATABASE_FOREIGN');
    }
    expect(await roleExists(login)).toBe(false);
  });

  it('a database with tables but no Temporal schema_version', async () => {
    const { login, dbs } = names('stranger');
    await su.query(`CREATE DATABASE "${dbs[0]}"`);
    await withAdminOn(dbs[0]!, (c) => c.query('CREATE TABLE invoices (id int)'));
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_DATABASE_FOREIGN');
    expect(await roleExists(login)).toBe(false);
  });

  it('a database holding a kind of object the hand-over would leave behind', async () => {
    const { login, dbs } = names('extra');
    await su.query(`CREATE DATABASE "${dbs[0]}"`);
    await withAdminOn(dbs[0]!, (c) => c.query('CREATE SCHEMA side'));
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: dbs }))).toBe('DB_TEMPORAL_DATABASE_FOREIGN');
    expect(await ownerOf(dbs[0]!)).not.toBe(login);
  });

  it('a password shorter than 16 characters', async () => {
    const { login, dbs } = names('weak');
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password: 'short', databases: dbs }))).toBe('DB_TEMPORAL_PASSWORD_WEAK');
    expect(await roleExists(login)).toBe(false);
  });

  it('an empty list of databases', async () => {
    const { login } = names('nodb');
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login, password, databases: [] }))).toBe('DB_TEMPORAL_NAME_INVALID');
    expect(await roleExists(login)).toBe(false);
  });

  it('a name that is not a plain lower-case identifier', async () => {
    const { dbs } = names('badname');
    expect(await codeOf(() => provisionTemporalLogin(adminUrl, { login: 'Temporal"; DROP', password, databases: dbs }))).toBe('DB_TEMPORAL_NAME_INVALID');
  });
});
