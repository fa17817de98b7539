import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import { inTransaction } from './pool.js';

/** What provisioning needs to know of a database before it touches it. */
export interface DatabaseFacts {
  oid: string;
  name: string;
  owner: string;
  template: boolean;
  allowConn: boolean;
  /** The admin URL's own database (keyturn's). */
  current: boolean;
}

/**
 * An admin session whose function and operator lookups cannot be steered: search_path pinned at
 * startup, which overrides any `ALTER DATABASE … SET search_path` a database's owner made, so an
 * object planted in `public` (a `format` or `to_regclass` overload) never runs as the admin.
 */
const PINNED = { connectionTimeoutMillis: 5_000, options: '-c search_path=pg_catalog,pg_temp' };

export function pinnedClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url, ...PINNED });
  client.on('error', () => {});
  return client;
}

function foreign(name: string, why: string): KeyturnError {
  return new KeyturnError('DB_TEMPORAL_DATABASE_FOREIGN', `the database ${name} ${why}, so it is not handed to Temporal`, "Name only Temporal's own databases (default temporal,temporal_visibility); nothing was changed.");
}

/** Why an existing database may not become Temporal's, from its catalog row alone. */
export function databaseRefusal(f: DatabaseFacts, mayOwn: string[]): KeyturnError | undefined {
  if (f.current) return foreign(f.name, "is KEYTURN_DB_ADMIN_URL's own database");
  if (f.template || !f.allowConn || f.name === 'postgres') return foreign(f.name, 'is a template or maintenance database');
  if (!mayOwn.includes(f.owner)) return foreign(f.name, `belongs to ${f.owner}, neither the admin login nor the Temporal login`);
  return undefined;
}

/** Runs `fn` in one transaction on database `name` as the admin login, in a pinned session (see pinnedClient). */
async function inDatabase<T>(adminUrl: string, name: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1, ...PINNED });
  pool.on('error', () => {});
  try {
    return await inTransaction(pool, fn);
  } finally {
    await pool.end();
  }
}

/** Kinds of object in a database that a hand-over would leave with their owner: refused rather than half handed over. */
const UNSUPPORTED = `
  WITH members AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
  SELECT 'schema ' || n.nspname AS what FROM pg_namespace n
   WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
     AND (n.tableoid, n.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL SELECT 'composite type ' || c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'c'
     AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL SELECT 'operator ' || o.oprname FROM pg_operator o WHERE o.oprnamespace = 'public'::regnamespace
     AND (o.tableoid, o.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL SELECT 'collation ' || c.collname FROM pg_collation c WHERE c.collnamespace = 'public'::regnamespace
     AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL SELECT 'text search configuration ' || c.cfgname FROM pg_ts_config c WHERE c.cfgnamespace = 'public'::regnamespace
     AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL SELECT 'statistics object ' || s.stxname FROM pg_statistic_ext s WHERE s.stxnamespace = 'public'::regnamespace
  UNION ALL SELECT 'event trigger ' || e.evtname FROM pg_event_trigger e
  UNION ALL SELECT 'publication ' || p.pubname FROM pg_publication p
  LIMIT 5`;

/**
 * Checks, before anything changes, that a database the admin login owns is Temporal's to take:
 * empty, or holding Temporal's `schema_version` table, never keyturn's tables, and nothing of a
 * kind the hand-over cannot move.
 */
export async function checkHandover(adminUrl: string, name: string): Promise<void> {
  const problem = await inDatabase(adminUrl, name, async (c) => {
    const marks = (await c.query<{ keyturn: boolean; temporal: boolean; relations: number }>(
      `SELECT to_regclass('public.keyturn_migrations') IS NOT NULL AS keyturn, to_regclass('public.schema_version') IS NOT NULL AS temporal,
              (SELECT count(*)::int FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) AS relations`,
    )).rows[0]!;
    if (marks.keyturn) return "holds keyturn's tables";
    if (marks.relations > 0 && !marks.temporal) return "holds tables but not Temporal's schema_version";
    const unsupported = (await c.query<{ what: string }>(UNSUPPORTED)).rows.map((r) => r.what);
    return unsupported.length ? `holds objects keyturn does not hand over (${unsupported.join(', ')})` : undefined;
  });
  if (problem) throw foreign(name, problem);
}

/**
 * ALTER … OWNER statements for what others own in `public`: relations (partitions too; a
 * sequence owned by a column follows its table), routines and free-standing types. Members of an
 * extension (btree_gin's functions, say) stay with the extension's owner.
 */
const FOREIGN_OBJECTS = `
  WITH members AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
  SELECT format('ALTER %s %s OWNER TO %I',
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass, $1::text) AS stmt
    FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND pg_get_userbyid(c.relowner) <> $1
     AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM members)
     AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  UNION ALL
  SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
    FROM pg_proc p
   WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> $1
     AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM members)
  UNION ALL
  SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, $1::text)
    FROM pg_type t
   WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e', 'r', 'm') AND pg_get_userbyid(t.typowner) <> $1
     AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM members)`;

/**
 * Hands database `name` (checked by checkHandover) to `login`: the objects in its public schema in
 * one transaction, then the database itself. Returns how many objects changed owner. A Temporal
 * server still running on the database holds locks: past 10 s the hand-over fails and changes nothing.
 */
export async function handOver(admin: pg.Client, adminUrl: string, name: string, login: string): Promise<number> {
  const moved = await inDatabase(adminUrl, name, async (c) => {
    await c.query(`SET LOCAL lock_timeout = '10s'`);
    const schemaOwner = (await c.query<{ owner: string }>(`SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'public'`)).rows[0]?.owner;
    // From PostgreSQL 15 public belongs to pg_database_owner, which the database's new owner becomes.
    if (schemaOwner !== undefined && schemaOwner !== 'pg_database_owner' && schemaOwner !== login) {
      await c.query(`ALTER SCHEMA public OWNER TO ${pg.escapeIdentifier(login)}`);
    }
    const { rows } = await c.query<{ stmt: string }>(FOREIGN_OBJECTS, [login]);
    for (const { stmt } of rows) await c.query(stmt);
    return rows.length;
  });
  await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} OWNER TO ${pg.escapeIdentifier(login)}`);
  return moved;
}
