import { Client, Connection } from '@temporalio/client';
import { loadEnv, type Env } from '../config/env.js';
import { KeyturnError } from '../config/errors.js';
import { createPool, type Pool } from '../db/pool.js';

/** Connections a command needs, opened lazily and closed by `close()`. */
export class CliContext {
  readonly env: Env = loadEnv();
  private pool?: Pool;
  private connection?: Connection;

  db(): Pool {
    if (!this.env.DATABASE_URL) {
      throw new KeyturnError('DATABASE_URL_MISSING', 'DATABASE_URL is not set', 'Export the URL that `npm run dev` prints, or your own server\'s.');
    }
    this.pool ??= createPool(this.env.DATABASE_URL, 2);
    return this.pool;
  }

  async temporal(): Promise<Client> {
    const address = this.env.TEMPORAL_ADDRESS ?? `127.0.0.1:${this.env.KEYTURN_TEMPORAL_PORT}`;
    try {
      this.connection ??= await Connection.connect({ address, connectTimeout: 3000 });
    } catch {
      throw new KeyturnError('TEMPORAL_UNREACHABLE', `cannot reach Temporal at ${address}`, 'Start it with `npm run dev` or set TEMPORAL_ADDRESS.');
    }
    return new Client({ connection: this.connection, namespace: this.env.TEMPORAL_NAMESPACE });
  }

  async close(): Promise<void> {
    await this.pool?.end();
    await this.connection?.close();
  }
}

export async function withContext<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = new CliContext();
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
