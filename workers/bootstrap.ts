import { Connection } from '@temporalio/client';
import { ensureSchedules } from '../client/schedules.js';
import { activePolicy, bootstrapPolicy, fileDiffersFromActive, pgListener, PolicyWatcher } from '../agents/planner/policy-store.js';
import { readPolicyText } from '../agents/planner/policy.js';
import { isKeyturnError } from '../config/errors.js';
import type { Policy } from '../agents/planner/policy-types.js';
import type { Env } from '../config/env.js';
import type { Pool } from '../db/pool.js';
import { openDatabase } from './database.js';
import type { Lifecycle } from '../infra/lifecycle.js';
import { keyturnClient } from '../infra/temporal/client.js';
import { loadPayloadKeyring, type PayloadKeyring } from '../infra/temporal/codec/keyring.js';
import { KekHolderReport } from '../agents/key-manager/kek-holders.js';
import { createServices, type Services } from './services.js';

export interface Bootstrapped {
  pool: Pool;
  /** The active policy version from PostgreSQL, kept current over LISTEN/NOTIFY. */
  policy: () => Policy;
  services: Services;
  /** Encrypts every payload this process sends to Temporal. */
  payloadKeyring: PayloadKeyring;
}

/** What every keyturn process does first: migrate (or check), connect, read the policy, wire the agents. */
export async function bootstrap(env: Env & { DATABASE_URL: string }, life: Lifecycle, opts: { devDataDir?: string; embeddedDatabase?: boolean; migrations?: 'apply' | 'check'; say?: (line: string) => void; signsCheckpoints?: boolean } = {}): Promise<Bootstrapped> {
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const payloadKeyring = loadPayloadKeyring({ ...(opts.devDataDir ? { devDataDir: opts.devDataDir, create: true } : {}), warn: (m) => say(`[keyturn] warning: ${m}`) });
  const pool = await openDatabase(env, { say, ...(opts.embeddedDatabase ? { embedded: true } : {}), ...(opts.migrations ? { defaultMode: opts.migrations } : {}) });
  life.add('database pool', () => pool.end());
  const services = await createServices({ pool, ...(opts.devDataDir ? { devDataDir: opts.devDataDir } : {}), ...(opts.signsCheckpoints === false ? { signsCheckpoints: false } : {}), warn: (m) => say(`[keyturn] warning: ${m}`) });
  const kekReport = new KekHolderReport(pool, services.kekIds, (e) => {
    if (!life.isStopping) say(`[keyturn] warning: could not report this process's KEK ids: ${(e as Error).message}`);
  });
  await kekReport.start();
  life.add('KEK holder report', () => kekReport.stop());
  const policy = await activePolicyWatcher(env, pool, services, life, say);
  return { pool, policy, services, payloadKeyring };
}

/**
 * The policy in force is the active version in PostgreSQL. The first start bootstraps it from the
 * policy file (audited); after that, editing the file changes nothing until `keyturn policy apply`
 * is signed off. Every process follows activations over LISTEN/NOTIFY, without a restart.
 */
async function activePolicyWatcher(env: Env & { DATABASE_URL: string }, pool: Pool, services: Services, life: Lifecycle, say: (line: string) => void): Promise<() => Policy> {
  const text = await readPolicyText(env.KEYTURN_POLICY);
  if (!(await activePolicy(pool))) {
    await bootstrapPolicy(pool, text, services.appendAudit, { role: 'Orchestrator' }).catch((e: unknown) => {
      if (!isKeyturnError(e, 'POLICY_ALREADY_BOOTSTRAPPED')) throw e;
    });
    say(`[keyturn] bootstrapped the first policy version from ${env.KEYTURN_POLICY}`);
  }
  const watcher = new PolicyWatcher({
    db: pool,
    connectListener: pgListener(env.DATABASE_URL, 'keyturn-policy'),
    onError: (e) => {
      // Ctrl-C reaches an embedded PostgreSQL too: its closing connections during shutdown are expected, not news.
      if (!life.isStopping) say(`[keyturn] warning: policy refresh failed: ${(e as Error).message}`);
    },
  });
  await watcher.start();
  life.add('policy watcher', () => watcher.close());
  const active = watcher.current();
  say(`[keyturn] policy version ${active.version.slice(0, 12)} active (${active.issuers.length} issuer(s))`);
  const cmp = await fileDiffersFromActive(pool, text);
  if (cmp.differs) say(`[keyturn] note: ${env.KEYTURN_POLICY} (version ${cmp.fileVersion.slice(0, 12)}) differs from the active version; it takes effect only through \`keyturn policy apply\` and sign-off`);
  return () => watcher.current();
}

/** Creates or updates every issuer's rotation schedule; a failure is reported, not fatal (the worker still serves runs). */
export async function ensureRotationSchedules(temporalAddress: string, namespace: string, keyring: PayloadKeyring, policy: Policy, taskQueue: string, say: (line: string) => void): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const ids = await ensureSchedules(keyturnClient(connection, namespace, keyring), policy, taskQueue);
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
