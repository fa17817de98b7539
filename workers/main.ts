/**
 * The keyturn worker process (production / docker-compose): hosts every agent's activities and
 * the workflows. Needs DATABASE_URL, TEMPORAL_ADDRESS, a KEK and an audit key from the environment.
 */
import { loadEnv, requireEnv } from '../config/env.js';
import { Lifecycle } from '../infra/lifecycle.js';
import { createLogger } from '../infra/log/logger.js';
import { bootstrap, ensureRotationSchedules, jwksUrlFor } from './bootstrap.js';
import { slackConfigured, slackNotifierFor } from './slack-wiring.js';
import { createKeyturnWorker } from './worker.js';
import { fanOut, logNotifier } from '../agents/approvals/notifier.js';

const life = new Lifecycle();

life.run(async () => {
  const env = requireEnv(loadEnv(), ['DATABASE_URL', 'TEMPORAL_ADDRESS']);
  const log = createLogger({ name: 'keyturn-worker', level: env.KEYTURN_LOG_LEVEL });
  const { pool, policy, services } = await bootstrap(env, life);
  const { worker, connection } = await createKeyturnWorker({
    temporalAddress: env.TEMPORAL_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.KEYTURN_TASK_QUEUE,
    pool,
    services,
    policy: () => policy,
    jwksUrl: jwksUrlFor(env.publicUrl),
    databaseUrl: env.DATABASE_URL,
    ...(slackConfigured(env) ? { notifier: fanOut([logNotifier(log), slackNotifierFor(env, pool, env.KEYTURN_TEMPORAL_UI_URL, log)]) } : {}),
  });
  const running = worker.run();
  life.add('worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  });
  await ensureRotationSchedules(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE, policy, env.KEYTURN_TASK_QUEUE, (l) => process.stderr.write(`${l}\n`));
  log.info({ taskQueue: env.KEYTURN_TASK_QUEUE, namespace: env.TEMPORAL_NAMESPACE }, 'keyturn worker running');
  running.catch((e: unknown) => {
    log.error({ err: (e as Error).message }, 'worker stopped with an error');
    void life.shutdown(1);
  });
});
