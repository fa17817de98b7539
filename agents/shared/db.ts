import pg from 'pg';
import { inTransaction } from '../../db/pool.js';

/** Anything that can run a parameterised query: a pg Pool, or a PoolClient inside a transaction. */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** Runs `fn` in a transaction: a fresh one when given a Pool, the caller's own otherwise. */
export function withTransaction<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db instanceof pg.Pool ? inTransaction(db, fn) : fn(db);
}
