import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Policy } from '../agents/planner/policy-types.js';
import { keepHeldContainments } from '../agents/revocation-responder/containment-holds.js';
import { resendOwedNotices } from '../agents/revocation-responder/notice-outbox.js';
import { purgeClosedRunCalls } from '../agents/shared/activity-calls.js';
import type { Pool } from '../db/pool.js';
import { createLogger } from '../infra/log/logger.js';
import { currentRunStateIn, namespaceExists, runStateIn } from '../infra/temporal/run-state.js';
import type { Services } from './services.js';

export interface MaintenanceDeps {
  namespace: string;
  pool: Pool;
  services?: Services;
  policy?: () => Policy;
}

const log = createLogger({ name: 'keyturn-worker' });
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/**
 * The worker's background upkeep, each task now and then every period: purging the activity-call
 * ledger of closed runs (daily), keeping the containments of open revocation runs in force
 * (hourly), and resending the revocation notices runs could not deliver (every minute). The first
 * two ask Temporal about runs, and only once the namespace is confirmed to exist (a run a mistyped
 * namespace does not know would read as closed). None starts a step of any run.
 */
export function startMaintenance(deps: MaintenanceDeps, connection: NativeConnection, worker: Worker): void {
  const stateOf = runStateIn(connection, deps.namespace);
  const namespaceKnown = async (what: string, retried: string) => {
    if (await namespaceExists(connection, deps.namespace)) return true;
    log.warn({ namespace: deps.namespace }, `could not read the namespace, so ${what}; retried ${retried}`);
    return false;
  };
  whileRunning(worker, 24 * HOUR_MS, 'could not purge old activity calls; retried in a day', async () => {
    if (!(await namespaceKnown('no old activity call was purged', 'in a day'))) return;
    const report = await purgeClosedRunCalls(deps.pool, stateOf);
    if (report.purged || report.open || report.unknown) log.info(report, 'purged activity calls older than 400 days of closed runs; open runs and runs whose state could not be read keep theirs');
  });
  const { services, policy } = deps;
  if (!services || !policy) return;
  whileRunning(worker, HOUR_MS, 'could not keep the containments of open revocation runs; retried in an hour', () => alone(deps.pool, 'keyturn.containment-keeper', async () => {
    if (!(await namespaceKnown('no containment was kept', 'in an hour'))) return;
    const report = await keepHeldContainments(deps.pool, currentRunStateIn(connection, deps.namespace), { appendAudit: services.appendAudit, clock: services.clock, policyVersion: policy().version });
    if (report.kept || report.released || report.orphaned) log.info(report, 'kept the key containments of open revocation runs; those of closed runs lapse');
    if (report.orphaned) log.warn(report, 'key containments whose revocation runs all ended without lifting or confirming them will lapse, and issuance stays paused: see revocation.containment_orphaned in the audit log, and revoke the key again to settle it');
  }));
  whileRunning(worker, MINUTE_MS, 'could not resend undelivered revocation notices; retried in a minute', () => alone(deps.pool, 'keyturn.notice-outbox', async () => {
    const report = await resendOwedNotices(deps.pool, { signer: services.noticeSigner, deliver: { addresses: services.subscriberAddresses }, appendAudit: services.appendAudit, clock: services.clock, policyVersion: policy().version });
    if (report.delivered || report.superseded) log.info(report, 'resent revocation notices that runs could not deliver');
    if (report.failed) log.warn(report, 'some revocation notices are still undelivered: see keyturn subscribers deliveries <id>; they are resent with a growing pause');
    if (report.abandoned) log.error(report, 'revocation notices undelivered for 7 days were abandoned: see revocation.notice_abandoned in the audit log');
  }));
}

/** Runs `task` unless another worker of the database runs it now (a session advisory lock): one audit entry per change, not one per worker. */
async function alone(pool: Pool, name: string, task: () => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok`, [name]);
    if (!rows[0]?.ok) return;
    try {
      await task();
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [name]);
    }
  } finally {
    client.release();
  }
}

/**
 * Runs `task` now and every `periodMs` while the worker is initialised or running, one at a time
 * (a run stuck for an hour no longer counts); a failure is logged as `failed` unless the worker is
 * past running (its pool or connection closed under it).
 */
function whileRunning(worker: Worker, periodMs: number, failed: string, task: () => Promise<void>): void {
  const active = () => worker.getState() === 'INITIALIZED' || worker.getState() === 'RUNNING';
  let runningSince: number | undefined;
  const tick = async () => {
    if (!active()) return clearInterval(timer);
    if (runningSince !== undefined && Date.now() - runningSince < HOUR_MS) return;
    runningSince = Date.now();
    try {
      await task();
    } catch (e) {
      if (active()) log.warn({ err: (e as Error).message }, failed);
    } finally {
      runningSince = undefined;
    }
  };
  const timer = setInterval(() => void tick(), periodMs);
  timer.unref();
  void tick();
}
