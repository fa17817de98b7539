import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** The role keyturn's processes act as; see db/migrations/*_app-role.sql. */
export const APP_ROLE = 'keyturn_app';

export interface PoolOptions {
  max?: number;
  /** Act as the least-privileged application role (default). `false` keeps the login role: migrations and admin tools only. */
  appRole?: boolean;
}

/** A connection pool; callers own it and must `end()` it. */
export function createPool(databaseUrl: string, opts: PoolOptions | number = {}): pg.Pool {
  const o = typeof opts === 'number' ? { max: opts } : opts;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: o.max ?? 10,
    connectionTimeoutMillis: 5_000,
    // The role is a startup parameter, so no query ever runs as the login role.
    ...(o.appRole !== false ? { options: `-c role=${APP_ROLE}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Runs `fn` in one transaction, rolling back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
