import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { KeyturnError } from '../config/errors.js';
import type { Pool } from './pool.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Applies every pending migration under an advisory lock. Running it again, or from two processes
 * at once, is harmless: applied migrations are recorded and skipped.
 */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<string[]> {
  // Our own client, ended and awaited here: node-pg-migrate ends a client it opened without waiting,
  // and a connection still closing has no error listener if the server then drops it.
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  try {
    await client.connect();
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'keyturn_migrations',
      checkOrder: true,
      singleTransaction: true,
      log,
      logger: { debug: () => {}, info: log, warn: log, error: log },
    });
    return applied.map((m) => m.name);
  } catch (e) {
    throw new KeyturnError('MIGRATION_FAILED', `database migration failed: ${(e as Error).message}`, 'Check DATABASE_URL and that its role may create tables; nothing was half-applied (each run is one transaction).');
  } finally {
    await client.end().catch(() => {});
  }
}

/** Every migration this code base has, in order, by the name node-pg-migrate records. */
export function migrationNames(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.slice(0, -'.sql'.length))
    .sort();
}

/** The migrations not yet applied to the database `pool` reaches (all of them on an empty one). */
export async function pendingMigrations(pool: Pool): Promise<string[]> {
  let applied: Set<string>;
  try {
    applied = new Set((await pool.query<{ name: string }>('SELECT name FROM keyturn_migrations')).rows.map((r) => r.name));
  } catch (e) {
    if ((e as { code?: string }).code !== '42P01') throw e;
    applied = new Set();
  }
  return migrationNames().filter((n) => !applied.has(n));
}
