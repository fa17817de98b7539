import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, bundleWorkflowCode, type ActivityInterceptorsFactory, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createAuditorActivities } from '../activities/auditor.js';
import { createDoctorActivities } from '../activities/doctor.js';
import { createKeyManagerActivities } from '../activities/key-manager.js';
import { createNotifierActivities } from '../activities/notifier.js';
import { createPlannerActivities } from '../activities/planner.js';
import { createPolicyActivities } from '../activities/policy.js';
import { createRevocationActivities } from '../activities/revocation.js';
import { pgListener, RevocationCache } from '../agents/validator/revocation-list.js';
import { createSignOffActivities } from '../activities/sign-off.js';
import { createTokenIssuerActivities } from '../activities/token-issuer.js';
import { createValidatorActivities } from '../activities/validator.js';
import { channelKeyLookup } from '../agents/approvals/channel-keys.js';
import { logNotifier, type Notifier } from '../agents/approvals/notifier.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import type { Pool } from '../db/pool.js';
import { createLogger } from '../infra/log/logger.js';
import { FAILURE_CONVERTER_PATH, keyturnDataConverter } from '../infra/temporal/codec/data-converter.js';
import type { PayloadKeyring } from '../infra/temporal/codec/keyring.js';
import { ActivityCallLedger } from '../agents/shared/activity-calls.js';
import { startMaintenance } from './maintenance.js';
import { revocationFreshnessOf } from './revocation-freshness.js';
import { markCallIdUpgrade } from '../agents/shared/upgrade-marks.js';
import { checkCallIds, upgradeMarkReader } from './call-id-check.js';
import { bindActivityResults } from './result-binding.js';
import { installTemporalRuntime } from './runtime.js';
import type { Services } from './services.js';

export const WORKFLOWS_PATH = join(dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');
const WORKFLOW_INTERCEPTORS_PATH = join(dirname(fileURLToPath(import.meta.url)), '../workflows/interceptors.ts');

export interface WorkerDeps {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  /** The agents; absent for the doctor-only worker of the foundation test. */
  services?: Services;
  policy?: () => Policy;
  jwksUrl?: (issuer: string) => string;
  notifier?: Notifier;
  /** For the worker's own LISTEN/NOTIFY revocation list (the Validator's revocation check). */
  databaseUrl?: string;
  /** Encrypts every payload this worker sends to Temporal and refuses any that is not encrypted. */
  payloadKeyring: PayloadKeyring;
  /** A pre-built bundle saves the few seconds of bundling when many workers start (tests). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Around every activity; tests use it to lose an activity's reply after its effects committed. */
  activityInterceptors?: ActivityInterceptorsFactory[];
  /**
   * Before the worker binds results to their calls: stand-ins for someone outside keyturn who answers
   * an activity task (tests of the binding).
   */
  outsideAnswers?: ActivityInterceptorsFactory[];
}

let cachedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles keyturn's workflows once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  cachedBundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH], failureConverterPath: FAILURE_CONVERTER_PATH, logger: quietBundlerLogger });
  return cachedBundle;
}

const quietBundlerLogger = {
  log: () => {}, trace: () => {}, debug: () => {}, info: () => {},
  warn: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
  error: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
};

export function buildActivities(deps: WorkerDeps) {
  const doctor = createDoctorActivities({ pool: deps.pool });
  const s = deps.services;
  if (!s || !deps.policy || !deps.jwksUrl) return doctor;
  const policy = deps.policy;
  const currentPolicy = async () => policy();
  const revocation = deps.databaseUrl ? lazyRevocationCache(deps.databaseUrl, s.pool, () => policy()) : undefined;
  const channelKey = channelKeyLookup(s.pool);
  const tokenIssuer = new TokenIssuer({ pool: s.pool, signer: s.keyManager, appendAudit: s.appendAudit, clock: s.clock, policy });
  return {
    ...doctor,
    ...createPlannerActivities({ pool: s.pool, keyManager: s.keyManager, appendAudit: s.appendAudit, clock: s.clock, currentPolicy, channelKey }),
    ...createKeyManagerActivities({ keyManager: s.keyManager, pool: s.pool }),
    ...createTokenIssuerActivities({ pool: s.pool, tokenIssuer, appendAudit: s.appendAudit }),
    ...createValidatorActivities({ pool: s.pool, appendAudit: s.appendAudit, currentPolicy, jwksUrl: deps.jwksUrl, ...(revocation ? { revocation } : {}) }),
    ...createPolicyActivities({ pool: s.pool, appendAudit: s.appendAudit, clock: s.clock, channelKey }),
    ...createRevocationActivities({ pool: s.pool, appendAudit: s.appendAudit, clock: s.clock, keyManager: s.keyManager, currentPolicy, noticeSigner: s.noticeSigner, subscriberAddresses: s.subscriberAddresses, channelKey }),
    ...createAuditorActivities({ pool: s.pool, appendAudit: s.appendAudit }),
    ...createSignOffActivities({
      pool: s.pool, appendAudit: s.appendAudit, clock: s.clock, channelKey,
      currentApprovals: (issuer) => policy().issuers.find((p) => p.issuer === issuer)?.approvals,
    }),
    ...createNotifierActivities({ notifier: deps.notifier ?? logNotifier(createLogger({ name: 'keyturn-notifier' })) }),
  };
}

/** One revocation list per worker process, started on first use and kept fresh by LISTEN/NOTIFY. */
function lazyRevocationCache(databaseUrl: string, pool: Pool, policy: () => Policy): () => Promise<RevocationCache> {
  let cache: Promise<RevocationCache> | undefined;
  return () =>
    (cache ??= (async () => {
      const c = new RevocationCache({ db: pool, connectListener: pgListener(databaseUrl, 'keyturn-worker-revocations'), freshnessSeconds: revocationFreshnessOf(policy) });
      await c.start();
      return c;
    })());
}

export async function createKeyturnWorker(deps: WorkerDeps): Promise<{ worker: Worker; connection: NativeConnection }> {
  installTemporalRuntime();
  await markCallIdUpgrade(deps.pool);
  const callLedger = new ActivityCallLedger(deps.pool);
  const connection = await NativeConnection.connect({ address: deps.temporalAddress });
  // A worker that cannot be created leaves no connection open: the runtime (and its log buffer) can shut down.
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: deps.namespace,
      taskQueue: deps.taskQueue,
      workflowBundle: deps.workflowBundle ?? (await workflowBundle()),
      dataConverter: keyturnDataConverter(deps.payloadKeyring, 'worker'),
      activities: buildActivities(deps),
      interceptors: { activity: [...(deps.outsideAnswers ?? []), checkCallIds({ upgradedAt: upgradeMarkReader(deps.pool), firstScheduledMs: (c) => callLedger.firstScheduledMs(c) }), bindActivityResults, ...(deps.activityInterceptors ?? [])] },
    });
  } catch (e) {
    await connection.close().catch(() => {});
    throw e;
  }
  startMaintenance(deps, connection, worker);
  return { worker, connection };
}
