import { Connection, type Client } from '@temporalio/client';
import { loadEnv, type Env } from '../config/env.js';
import { KeyturnError } from '../config/errors.js';
import { createPool, type Pool } from '../db/pool.js';
import { keyturnClient } from '../infra/temporal/client.js';
import { loadPayloadKeyring } from '../infra/temporal/codec/keyring.js';
import { readRuntimeInfo, type RuntimeInfo } from '../infra/runtime/runtime-file.js';

/** Connections a command needs, opened lazily and closed by `close()`. */
export class CliContext {
  readonly env: Env = loadEnv();
  /** A running `npm run dev` on this machine, used when DATABASE_URL / TEMPORAL_ADDRESS are unset. */
  readonly local: RuntimeInfo | undefined = readRuntimeInfo(this.env.dataDir);
  private pool?: Pool;
  private adminPool?: Pool;
  private connection?: Connection;

  db(): Pool {
    const url = this.env.DATABASE_URL ?? this.local?.databaseUrl;
    if (!url) {
      throw new KeyturnError('DATABASE_URL_MISSING', 'DATABASE_URL is not set and no `npm run dev` is running here', 'Start `npm run dev`, or export DATABASE_URL.');
    }
    this.pool ??= createPool(url, 2);
    return this.pool;
  }

  /**
   * The table owner's login, for changes keyturn's runtime login may not make (registering an
   * approval key): KEYTURN_DB_ADMIN_URL, or a running `npm run dev`'s own database.
   */
  adminDb(why: string): Pool {
    const url = this.env.KEYTURN_DB_ADMIN_URL ?? (this.env.DATABASE_URL ? undefined : this.local?.databaseUrl);
    if (!url) {
      throw new KeyturnError('DB_ADMIN_URL_MISSING', `${why} needs the database owner's login, and KEYTURN_DB_ADMIN_URL is not set`, 'An administrator runs this with KEYTURN_DB_ADMIN_URL (the login `keyturn db migrate` uses); nothing was changed.');
    }
    this.adminPool ??= createPool(url, { max: 2, appRole: false });
    return this.adminPool;
  }

  async temporal(): Promise<Client> {
    const address = this.env.TEMPORAL_ADDRESS ?? this.local?.temporalAddress ?? `127.0.0.1:${this.env.KEYTURN_TEMPORAL_PORT}`;
    try {
      this.connection ??= await Connection.connect({ address, connectTimeout: 3000 });
    } catch {
      throw new KeyturnError('TEMPORAL_UNREACHABLE', `cannot reach Temporal at ${address}`, 'Start it with `npm run dev` or set TEMPORAL_ADDRESS.');
    }
    return keyturnClient(this.connection, this.env.TEMPORAL_NAMESPACE, loadPayloadKeyring({ devDataDir: this.env.dataDir }));
  }

  webUiUrl(): string | undefined {
    return this.env.KEYTURN_TEMPORAL_UI_URL ?? this.local?.temporalUiUrl ?? (this.env.TEMPORAL_ADDRESS ? undefined : `http://127.0.0.1:${this.env.KEYTURN_TEMPORAL_UI_PORT}`);
  }

  async close(): Promise<void> {
    await this.pool?.end();
    await this.adminPool?.end();
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
