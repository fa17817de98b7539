/**
 * The keyturn worker process (production / docker-compose): hosts every agent's activities and
 * the workflows. Needs DATABASE_URL, TEMPORAL_ADDRESS, a KEK and an audit key from the environment.
 */
import { loadEnv, requireEnv } from '../config/env.js';
import Fastify from 'fastify';
import { registerMetricsRoute } from '../http/metrics.js';
import { Lifecycle } from '../infra/lifecycle.js';
import { createMetrics, lastCheckpointAgeSeconds } from '../infra/metrics/registry.js';
import { metricsNotifier } from '../infra/metrics/run-events.js';
import { createLogger } from '../infra/log/logger.js';
import { bootstrap, ensureRotationSchedules, jwksUrlFor } from './bootstrap.js';
import { checkpointSigner } from './services.js';
import { slackConfigured, slackNotifierFor } from './slack-wiring.js';
import { createKeyturnWorker } from './worker.js';
import { fanOut, logNotifier } from '../agents/approvals/notifier.js';
import { CHECKPOINT_INTERVAL_MS, startCheckpointer } from '../agents/auditor/checkpoint.js';
import { loggedCheckpoints } from './checkpoint-logging.js';
import { flushTemporalLogs } from './runtime.js';

const life = new Lifecycle();

life.run(async () => {
  // Added first, so it runs last: the Temporal log lines of the shutdown itself are written too.
  life.add('temporal logs', async () => flushTemporalLogs());
  const env = requireEnv(loadEnv(), ['DATABASE_URL', 'TEMPORAL_ADDRESS']);
  const log = createLogger({ name: 'keyturn-worker', level: env.KEYTURN_LOG_LEVEL });
  const { pool, policy, services, payloadKeyring } = await bootstrap(env, life);
  // The worker's own metrics (rotation phases, revocations) on a port of its own.
  const metrics = createMetrics({ lastCheckpointAgeSeconds: () => lastCheckpointAgeSeconds(pool) });
  const metricsServer = Fastify({ logger: false });
  registerMetricsRoute(metricsServer, metrics, env.KEYTURN_METRICS_TOKEN ? { token: env.KEYTURN_METRICS_TOKEN } : {});
  await metricsServer.listen({ host: env.KEYTURN_HTTP_HOST, port: env.KEYTURN_WORKER_METRICS_PORT });
  life.add('metrics', () => metricsServer.close());
  const { worker, connection } = await createKeyturnWorker({
    temporalAddress: env.TEMPORAL_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.KEYTURN_TASK_QUEUE,
    pool,
    services,
    policy,
    jwksUrl: jwksUrlFor(env.publicUrl),
    databaseUrl: env.DATABASE_URL,
    payloadKeyring,
    notifier: fanOut([logNotifier(log), metricsNotifier(metrics), ...(slackConfigured(env) ? [slackNotifierFor(env, pool, env.KEYTURN_TEMPORAL_UI_URL, log)] : [])]),
  });
  // Signed checkpoints are what let `keyturn audit verify` catch a log rewritten by someone who
  // can bypass the database's grants and triggers; each is also logged, signed, as a copy outside the
  // database that `keyturn audit verify --witness <log>` checks the log against.
  life.add('audit checkpointer', startCheckpointer(pool, checkpointSigner(services), CHECKPOINT_INTERVAL_MS, loggedCheckpoints(log)));
  const running = worker.run();
  life.add('worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  });
  await ensureRotationSchedules(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE, payloadKeyring, policy(), env.KEYTURN_TASK_QUEUE, (l) => process.stderr.write(`${l}\n`));
  log.info({ taskQueue: env.KEYTURN_TASK_QUEUE, namespace: env.TEMPORAL_NAMESPACE }, 'keyturn worker running');
  running.catch((e: unknown) => {
    log.error({ err: (e as Error).message }, 'worker stopped with an error');
    void life.shutdown(1);
  });
});
