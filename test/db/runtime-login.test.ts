import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registerDb } from '../../cli/commands/db.js';
import { loadEnv } from '../../config/env.js';
import { createPool, type Pool } from '../../db/pool.js';
import { openDatabase } from '../../workers/database.js';
import { runCli } from '../support/cli.js';
import { superuserPool, unique } from '../support/db.js';
import { codeOf } from '../support/error-code.js';
import { urlAs } from '../support/login-url.js';

const su = superuserPool();
const database = unique('rtlogin').replace(/[^a-z0-9_]/gi, '_').toLowerCase();
const login = `${database}_rt`;
const password = randomBytes(24).toString('hex');
const adminUrl = urlOf(database);
const runtimeUrl = urlOf(database, { user: login, password });
let runtime: Pool;

function urlOf(db: string, as?: { user: string; password: string }): string {
  const url = new URL(inject('databaseUrl'));
  if (as) return urlAs(url.toString(), as, db);
  url.pathname = `/${db}`;
  return url.toString();
}

async function migrateCli(env: Record<string, string | undefined>): Promise<{ out: string; err: string }> {
  const saved = { DATABASE_URL: process.env.DATABASE_URL, KEYTURN_DB_ADMIN_URL: process.env.KEYTURN_DB_ADMIN_URL };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    return await runCli(registerDb, 'db', 'migrate');
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const asRuntime = { DATABASE_URL: runtimeUrl, KEYTURN_DB_ADMIN_URL: adminUrl };

beforeAll(async () => {
  await su.query(`CREATE DATABASE "${database}"`);
});

afterAll(async () => {
  await runtime?.end();
  // A session of this process still closing would get FATAL 57P01 from a forced drop: let them leave first.
  for (let i = 0; i < 50; i++) {
    const { rows } = await su.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [database]);
    if (rows[0]!.n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await su.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await su.query(`DROP ROLE IF EXISTS "${login}"`);
  await su.query(`DROP ROLE IF EXISTS "${login}_super"`);
  await su.end();
});

describe('a process started with KEYTURN_MIGRATIONS=check', () => {
  it('refuses to start while migrations are pending, and migrates nothing', async () => {
    const env = loadEnv({ DATABASE_URL: adminUrl, KEYTURN_MIGRATIONS: 'check' }) as ReturnType<typeof loadEnv> & { DATABASE_URL: string };
    expect(await codeOf(() => openDatabase(env, { say: () => {} }))).toBe('MIGRATIONS_PENDING');
    const admin = createPool(adminUrl, { max: 1, appRole: false });
    try {
      expect((await admin.query(`SELECT to_regclass('keyturn_migrations') AS t`)).rows[0].t).toBeNull();
    } finally {
      await admin.end();
    }
  });
});

describe('keyturn db migrate with KEYTURN_DB_ADMIN_URL and DATABASE_URL', () => {
  it('migrates as the owner and creates the runtime login, printing neither password', async () => {
    const { out, err } = await migrateCli(asRuntime);
    expect(out).toMatch(/^applied \d+ migration\(s\): /);
    expect(err).not.toContain(password);
    expect(out).toContain(`runtime login ${login}: created, member of keyturn_app`);
    expect(out).toContain(`runtime login ${login} is only keyturn_app: keyturn's worker and HTTP service may start with it (KEYTURN_MIGRATIONS=check)`);
    expect(out).not.toContain(password);
    expect(out).not.toContain(new URL(inject('databaseUrl')).password);
    runtime = createPool(runtimeUrl, { max: 2 });
  });

  it('run again, finds the schema current and keeps the existing login', async () => {
    const { out } = await migrateCli(asRuntime);
    expect(out).toMatch(/^the schema is up to date \(\d+ migrations\)/);
    expect(out).toContain(`runtime login ${login}: exists, member of keyturn_app`);
  });

  it('refuses a runtime login that is a superuser, granting it nothing', async () => {
    const superLogin = `${login}_super`;
    await su.query(`CREATE ROLE "${superLogin}" LOGIN SUPERUSER PASSWORD '${password}'`);
    const err = await migrateCli({ DATABASE_URL: urlOf(database, { user: superLogin, password }), KEYTURN_DB_ADMIN_URL: adminUrl }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'DB_RUNTIME_LOGIN_PRIVILEGED' });
    const member = await su.query(`SELECT pg_has_role($1, 'keyturn_app', 'MEMBER') AS m`, [superLogin]);
    const granted = await su.query(`SELECT 1 FROM pg_auth_members WHERE member = $1::regrole AND roleid = 'keyturn_app'::regrole`, [superLogin]);
    expect(member.rows[0].m).toBe(true); // a superuser is a member of every role...
    expect(granted.rowCount).toBe(0); // ...but no grant was made to it
  });

  it('refuses a DATABASE_URL that logs in as the admin itself', async () => {
    const err = await migrateCli({ DATABASE_URL: adminUrl.replace(`/${database}`, `/${database}?application_name=x`), KEYTURN_DB_ADMIN_URL: adminUrl }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'DB_RUNTIME_LOGIN_IS_ADMIN' });
  });
});

describe('the runtime login, acting as itself (SET ROLE NONE)', () => {
  it('still cannot disable the audit log triggers (only an owner can)', async () => {
    expect(await sqlStateAs(runtime, 'ALTER TABLE audit_log DISABLE TRIGGER ALL')).toBe('42501');
  });

  it('still cannot rewrite audit entries', async () => {
    expect(await sqlStateAs(runtime, `UPDATE audit_log SET action = 'rewritten'`)).toBe('42501');
  });

  it('still cannot delete or re-point approval channel keys', async () => {
    expect(await sqlStateAs(runtime, 'DELETE FROM approval_channel_keys')).toBe('42501');
    expect(await sqlStateAs(runtime, `UPDATE approval_channel_keys SET approver = 'someone'`)).toBe('42501');
  });

  it('cannot erase the record of an applied migration', async () => {
    expect(await sqlStateAs(runtime, 'DELETE FROM keyturn_migrations')).toBe('42501');
  });

  it('cannot record a migration as applied that never ran', async () => {
    expect(await sqlStateAs(runtime, `INSERT INTO keyturn_migrations (name, run_on) VALUES ('9999999999999_skipped', now())`)).toBe('42501');
  });

  it('reads the upgrade marks and may add a missing one, but cannot move or remove one (a later mark would let plain activity ids through)', async () => {
    expect(await sqlStateAs(runtime, 'SELECT at FROM upgrade_marks')).toBe('ok');
    expect(await sqlStateAs(runtime, `INSERT INTO upgrade_marks (name) VALUES ('run-bound-activity-ids') ON CONFLICT (name) DO NOTHING`)).toBe('ok');
    expect(await sqlStateAs(runtime, `UPDATE upgrade_marks SET at = now() + interval '1 year'`)).toBe('42501');
    expect(await sqlStateAs(runtime, 'DELETE FROM upgrade_marks')).toBe('42501');
    expect(await sqlStateAs(runtime, `INSERT INTO upgrade_marks (name) VALUES ('another')`)).toBe('23514');
  });

  it('records and reads activity calls, but cannot change or remove one (that would let a finished step run again)', async () => {
    expect(await sqlStateAs(runtime, `INSERT INTO activity_calls (workflow_id, run_id, activity_id, scheduled_ms) VALUES ('wf-runtime-login', 'run', 'kt1/run/1/notify', 1) ON CONFLICT DO NOTHING`)).toBe('ok');
    expect(await sqlStateAs(runtime, 'SELECT scheduled_ms FROM activity_calls LIMIT 1')).toBe('ok');
    expect(await sqlStateAs(runtime, `UPDATE activity_calls SET scheduled_ms = 2 WHERE workflow_id = 'wf-runtime-login'`)).toBe('42501');
    expect(await sqlStateAs(runtime, `DELETE FROM activity_calls WHERE workflow_id = 'wf-runtime-login'`)).toBe('42501');
    expect(await sqlStateAs(runtime, `SELECT purge_activity_calls(ARRAY['wf-runtime-login'], ARRAY['run'])`)).toBe('ok');
    expect(await sqlStateAs(runtime, 'SELECT purge_activity_calls(10)')).toBe('ok');
  });

  it('cannot make the activity-call purge, which runs with its owner\'s rights, act on a temporary table of its own', async () => {
    const decoy = `
      CREATE TEMP TABLE activity_calls (LIKE public.activity_calls INCLUDING ALL);
      CREATE FUNCTION pg_temp.took_over() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'ran as %', current_user; END $$;
      CREATE TRIGGER took_over BEFORE DELETE ON pg_temp.activity_calls FOR EACH ROW EXECUTE FUNCTION pg_temp.took_over();
      INSERT INTO pg_temp.activity_calls (workflow_id, run_id, activity_id, scheduled_ms, recorded_at) VALUES ('decoy', 'run', 'kt1/run/1/notify', 1, now() - interval '500 days');
      SELECT purge_activity_calls(ARRAY['decoy'], ARRAY['run']);`;
    expect(await sqlStateAs(runtime, decoy)).toBe('ok');
  });

  it('unlike the owner login, which can disable the audit log triggers', async () => {
    const owner = createPool(adminUrl, { max: 1 });
    try {
      expect(await sqlStateAs(owner, 'ALTER TABLE audit_log DISABLE TRIGGER ALL')).toBe('ok');
    } finally {
      await owner.end();
    }
  });
});

describe('openDatabase', () => {
  const envWith = (url: string, mode: 'apply' | 'check') => loadEnv({ DATABASE_URL: url, KEYTURN_MIGRATIONS: mode }) as ReturnType<typeof loadEnv> & { DATABASE_URL: string };

  it('in check mode refuses the superuser the migrations ran as', async () => {
    expect(await codeOf(() => openDatabase(envWith(adminUrl, 'check'), { say: () => {} }))).toBe('DB_LOGIN_PRIVILEGED');
  });

  it.each([
    ['a member of pg_write_all_data', 'GRANT pg_write_all_data TO %I', 'member-of:pg_write_all_data'],
    ['granted a table of its own', 'GRANT DELETE ON approval_channel_keys TO %I', 'own-grants'],
    ['the owner of a function', 'ALTER FUNCTION approval_channel_keys_disable_only() OWNER TO %I', 'owns-objects'],
    ['given role settings that silence triggers', 'ALTER ROLE %I SET session_replication_role = replica', 'role-settings'],
    ['an admin of keyturn_app', 'GRANT keyturn_app TO %I WITH ADMIN OPTION', 'admin-of-keyturn_app'],
    ['allowed to create objects in public', 'GRANT CREATE ON SCHEMA public TO %I', 'create-in-public'],
    ['allowed to create schemas', `GRANT CREATE ON DATABASE "${database}" TO %I`, 'create-in-database'],
  ])('in check mode refuses a login that is also %s', async (_what, grant, power) => {
    const extra = await extraLogin(grant);
    try {
      const err = await openDatabase(envWith(extra.url, 'check'), { say: () => {} }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'DB_LOGIN_PRIVILEGED', message: expect.stringContaining(power) });
    } finally {
      await extra.drop();
    }
  });

  it('in check mode refuses to start when triggers would not fire in its sessions (a database-wide session_replication_role)', async () => {
    await su.query(`ALTER DATABASE "${database}" SET session_replication_role = replica`);
    try {
      const err = await openDatabase(envWith(runtimeUrl, 'check'), { say: () => {} }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'DB_LOGIN_PRIVILEGED', message: expect.stringContaining('replica-mode') });
    } finally {
      await su.query(`ALTER DATABASE "${database}" RESET session_replication_role`);
    }
  });

  it('a login that is not keyturn_app cannot even connect to keyturn\'s database', async () => {
    const outsider = await extraLogin(`COMMENT ON ROLE %I IS 'another login on the same server'`, { member: false });
    const pool = createPool(outsider.url, { max: 1, appRole: false });
    try {
      expect(await pool.query('SELECT 1').then(() => 'connected', (e: { code?: string }) => e.code)).toBe('42501');
    } finally {
      await pool.end();
      await outsider.drop();
    }
  });

  it('keyturn db migrate refuses to make such a login a runtime login, granting it nothing', async () => {
    const extra = await extraLogin('GRANT pg_write_all_data TO %I', { member: false });
    try {
      const err = await migrateCli({ DATABASE_URL: extra.url, KEYTURN_DB_ADMIN_URL: adminUrl }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'DB_RUNTIME_LOGIN_PRIVILEGED', message: expect.stringContaining('member-of:pg_write_all_data') });
      expect((await su.query(`SELECT 1 FROM pg_auth_members WHERE member = $1::regrole AND roleid = 'keyturn_app'::regrole`, [extra.user])).rowCount).toBe(0);
    } finally {
      await extra.drop();
    }
  });

  it('in check mode starts as a login that is only keyturn_app, saying nothing', async () => {
    const said: string[] = [];
    const pool = await openDatabase(envWith(runtimeUrl, 'check'), { say: (l) => said.push(l) });
    try {
      expect((await pool.query('SELECT current_user AS r, session_user AS s')).rows[0]).toEqual({ r: 'keyturn_app', s: login });
      expect(said).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('in apply mode warns that an owner login can get around the guards', async () => {
    const said: string[] = [];
    await (await openDatabase(envWith(adminUrl, 'apply'), { say: (l) => said.push(l) })).end();
    expect(said.join('\n')).toMatch(/warning: the database login \S+ is more than keyturn_app \(superuser, .*\): .*KEYTURN_MIGRATIONS=check/);
  });

  it('in apply mode on the embedded dev database says nothing about the login', async () => {
    const said: string[] = [];
    await (await openDatabase(envWith(adminUrl, 'apply'), { embedded: true, say: (l) => said.push(l) })).end();
    expect(said).toEqual([]);
  });
});

/** A login (a member of keyturn_app unless `member` is false) with one more power (`grant`, %I for the login). */
async function extraLogin(grant: string, o: { member?: boolean } = {}): Promise<{ user: string; url: string; drop(): Promise<void> }> {
  const user = `${login}_x${Math.random().toString(36).slice(2, 6)}`;
  const owner = createPool(adminUrl, { max: 1, appRole: false });
  await owner.query(`CREATE ROLE "${user}" LOGIN PASSWORD '${password}'${o.member === false ? '' : ' IN ROLE keyturn_app'}`);
  await owner.query(grant.replace('%I', `"${user}"`));
  return {
    user,
    url: urlOf(database, { user, password }),
    drop: async () => {
      try {
        await owner.query(`REASSIGN OWNED BY "${user}" TO CURRENT_USER`);
        await owner.query(`DROP OWNED BY "${user}"`);
        await owner.query(`DROP ROLE "${user}"`);
      } finally {
        await owner.end();
      }
    },
  };
}

/** Runs `sql` as the login itself (SET ROLE NONE), in a transaction rolled back: `ok`, or the SQLSTATE it failed with. */
async function sqlStateAs(pool: Pool, sql: string): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET ROLE NONE');
    await client.query(sql);
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}
