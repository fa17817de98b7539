import { Client, Connection } from '@temporalio/client';
import { ensureSchedules } from '../client/schedules.js';
import { loadPolicy } from '../agents/planner/policy.js';
import type { Policy } from '../agents/planner/policy-types.js';
import type { Env } from '../config/env.js';
import { migrate } from '../db/migrate.js';
import { createPool, type Pool } from '../db/pool.js';
import type { Lifecycle } from '../infra/lifecycle.js';
import { createServices, type Services } from './services.js';

export interface Bootstrapped {
  pool: Pool;
  policy: Policy;
  services: Services;
}

/** What every keyturn process does first: migrate, connect, read the policy, wire the agents. */
export async function bootstrap(env: Env & { DATABASE_URL: string }, life: Lifecycle, opts: { devDataDir?: string; say?: (line: string) => void } = {}): Promise<Bootstrapped> {
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const applied = await migrate(env.DATABASE_URL);
  if (applied.length) say(`[keyturn] applied migrations: ${applied.join(', ')}`);
  const pool = createPool(env.DATABASE_URL);
  life.add('database pool', () => pool.end());
  const policy = await loadPolicy(env.KEYTURN_POLICY);
  say(`[keyturn] policy ${env.KEYTURN_POLICY} version ${policy.version.slice(0, 12)} (${policy.issuers.length} issuer(s))`);
  const services = await createServices({ pool, ...(opts.devDataDir ? { devDataDir: opts.devDataDir } : {}), warn: (m) => say(`[keyturn] warning: ${m}`) });
  return { pool, policy, services };
}

/** Creates or updates every issuer's rotation schedule; a failure is reported, not fatal (the worker still serves runs). */
export async function ensureRotationSchedules(temporalAddress: string, namespace: string, policy: Policy, taskQueue: string, say: (line: string) => void): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const ids = await ensureSchedules(new Client({ connection, namespace }), policy, taskQueue);
    say(`[keyturn] rotation schedules: ${ids.join(', ')}`);
  } catch (e) {
    say(`[keyturn] warning: could not create the rotation schedules: ${(e as Error).message}`);
  } finally {
    await connection.close();
  }
}

export function jwksUrlFor(publicUrl: string): (issuer: string) => string {
  return (issuer) => `${publicUrl}/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`;
}
