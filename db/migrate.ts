import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import { KeyturnError } from '../config/errors.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Applies every pending migration under an advisory lock. Running it again, or from two processes
 * at once, is harmless: applied migrations are recorded and skipped.
 */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<string[]> {
  try {
    const applied = await runner({
      databaseUrl,
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
  }
}
