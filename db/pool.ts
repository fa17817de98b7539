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
  const pool = new pg.Pool({ connectionString: databaseUrl, max: o.max ?? 10, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  if (o.appRole !== false) {
    // Queued before any caller's query on the same client, so no query ever runs as the login role.
    pool.on('connect', (client) => void client.query(`SET ROLE ${APP_ROLE}`).catch(() => {}));
  }
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
