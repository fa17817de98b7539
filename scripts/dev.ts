/**
 * `npm run dev`: PostgreSQL, Temporal with its Web UI, the keyturn worker and HTTP service, all on
 * embedded defaults (or DATABASE_URL / TEMPORAL_ADDRESS when set). Ctrl-C stops every part.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { fanOut, logNotifier } from '../agents/approvals/notifier.js';
import { CHECKPOINT_INTERVAL_MS, startCheckpointer } from '../agents/auditor/checkpoint.js';
import { loadEnv } from '../config/env.js';
import { Lifecycle } from '../infra/lifecycle.js';
import { createLogger } from '../infra/log/logger.js';
import { createMetrics, lastCheckpointAgeSeconds } from '../infra/metrics/registry.js';
import { metricsNotifier } from '../infra/metrics/run-events.js';
import { pendingApprovals } from '../infra/metrics/temporal-readings.js';
import { startEmbeddedPostgres } from '../infra/postgres/embedded.js';
import { removeRuntimeInfo, writeRuntimeInfo } from '../infra/runtime/runtime-file.js';
import { keyturnClient } from '../infra/temporal/client.js';
import { devCodecTokenPath } from '../infra/temporal/codec/operator-token.js';
import { startDevServer } from '../infra/temporal/dev-server.js';
import { bootstrap, ensureRotationSchedules, jwksUrlFor } from '../workers/bootstrap.js';
import { checkpointSigner } from '../workers/services.js';
import { createKeyturnHttp } from '../workers/http-app.js';
import { codecRoutesFor, withCodec } from '../workers/codec-wiring.js';
import { slackAppFor, slackConfigured, slackNotifierFor } from '../workers/slack-wiring.js';
import { loggedCheckpoints } from '../workers/checkpoint-logging.js';
import { flushTemporalLogs } from '../workers/runtime.js';
import { createKeyturnWorker } from '../workers/worker.js';

const say = (line: string) => process.stderr.write(`${line}\n`);
const life = new Lifecycle(say);

life.run(async () => {
  // Added first, so it runs last: the Temporal log lines of the shutdown itself are written too.
  life.add('temporal logs', async () => flushTemporalLogs());
  const started = Date.now();
  const env = loadEnv();
  const log = createLogger({ name: 'keyturn-dev', level: env.KEYTURN_LOG_LEVEL });
  mkdirSync(env.dataDir, { recursive: true, mode: 0o755 });

  let databaseUrl = env.DATABASE_URL;
  const embeddedDatabase = !databaseUrl;
  if (!databaseUrl) {
    say(`[keyturn] starting embedded PostgreSQL on 127.0.0.1:${env.KEYTURN_PG_PORT} (data in ${join(env.dataDir, 'pg')})`);
    const pg = await startEmbeddedPostgres({ dataDir: join(env.dataDir, 'pg', 'data'), port: env.KEYTURN_PG_PORT });
    life.add('PostgreSQL', pg.stop);
    databaseUrl = pg.url;
  }
  const { pool, policy, services, payloadKeyring } = await bootstrap({ ...env, DATABASE_URL: databaseUrl }, life, { devDataDir: env.dataDir, embeddedDatabase, migrations: 'apply', say });
  life.add('audit checkpointer', startCheckpointer(pool, checkpointSigner(services), CHECKPOINT_INTERVAL_MS, loggedCheckpoints(log)));

  let temporalAddress = env.TEMPORAL_ADDRESS;
  let uiUrl = env.KEYTURN_TEMPORAL_UI_URL;
  if (!temporalAddress) {
    say(`[keyturn] starting Temporal dev server on 127.0.0.1:${env.KEYTURN_TEMPORAL_PORT} (history in ${join(env.dataDir, 'temporal.db')})`);
    const server = await startDevServer({
      port: env.KEYTURN_TEMPORAL_PORT,
      uiPort: env.KEYTURN_TEMPORAL_UI_PORT,
      namespace: env.TEMPORAL_NAMESPACE,
      dbFilename: join(env.dataDir, 'temporal.db'),
      say,
    });
    life.add('Temporal', server.stop);
    temporalAddress = server.address;
    uiUrl = server.uiUrl;
  }

  const client = await Connection.connect({ address: temporalAddress });
  life.add('Temporal client', () => client.close());

  const temporalClient = keyturnClient(client, env.TEMPORAL_NAMESPACE, payloadKeyring);
  const metrics = createMetrics({ pendingApprovals: () => pendingApprovals(temporalClient), lastCheckpointAgeSeconds: () => lastCheckpointAgeSeconds(pool) });
  const slack = slackConfigured(env);
  const { worker, connection } = await createKeyturnWorker({
    temporalAddress,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.KEYTURN_TASK_QUEUE,
    pool,
    services,
    policy,
    jwksUrl: jwksUrlFor(env.publicUrl),
    databaseUrl,
    payloadKeyring,
    notifier: fanOut([logNotifier(log), metricsNotifier(metrics), ...(slack ? [slackNotifierFor(env, pool, uiUrl, log)] : [])]),
  });
  const workerRun = worker.run();
  life.add('worker', async () => {
    // The SDK already begins draining on SIGINT/SIGTERM; only ask when it has not.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
    await connection.close();
  });

  await ensureRotationSchedules(temporalAddress, env.TEMPORAL_NAMESPACE, payloadKeyring, policy(), env.KEYTURN_TASK_QUEUE, say);

  const slackApp = slack
    ? await slackAppFor(env, { pool, client: temporalClient, policy, uiUrl, log })
    : undefined;
  if (slackApp) life.add('Slack app', () => slackApp.app.stop());
  const http = await createKeyturnHttp({
    ...(slackApp ? { routes: [slackApp.routes] } : {}),
    metrics,
    ...withCodec(codecRoutesFor(env, payloadKeyring, pool, { devDataDir: env.dataDir, warn: (m) => say(`[keyturn] warning: ${m}`) })),
    ...(env.KEYTURN_METRICS_TOKEN ? { metricsToken: env.KEYTURN_METRICS_TOKEN } : {}),
    listenHost: env.KEYTURN_HTTP_HOST,
    ...(env.KEYTURN_TRUST_PROXY ? { trustProxy: env.KEYTURN_TRUST_PROXY } : {}),
    services,
    databaseUrl,
    policy,
    publicUrl: env.publicUrl,
    temporalHealthy: async () => void (await client.workflowService.getSystemInfo({})),
    log,
  });
  await http.app.listen({ host: env.KEYTURN_HTTP_HOST, port: env.KEYTURN_HTTP_PORT });
  life.add('HTTP', () => http.close());

  const httpUrl = env.publicUrl;
  writeRuntimeInfo(env.dataDir, { databaseUrl, temporalAddress, ...(uiUrl ? { temporalUiUrl: uiUrl } : {}), httpUrl, pid: process.pid });
  life.add('runtime file', async () => removeRuntimeInfo(env.dataDir));
  process.stdout.write(
    [
      '',
      `keyturn is up (${((Date.now() - started) / 1000).toFixed(1)}s)`,
      `  PostgreSQL       ${redactPassword(databaseUrl)}`,
      `  Temporal         ${temporalAddress}  namespace=${env.TEMPORAL_NAMESPACE}  task queue=${env.KEYTURN_TASK_QUEUE}`,
      `  Temporal Web UI  ${uiUrl ?? '(external server: set KEYTURN_TEMPORAL_UI_URL)'}`,
      `  keyturn HTTP     ${httpUrl}/healthz  ${httpUrl}/.well-known/jwks.json  ${httpUrl}/metrics`,
      `  Web UI decoding  sign in at ${httpUrl}/codec/login with the token in ${process.env.KEYTURN_CODEC_TOKEN ? 'KEYTURN_CODEC_TOKEN' : (process.env.KEYTURN_CODEC_TOKEN_FILE ?? devCodecTokenPath(env.dataDir))}, then set the UI's codec endpoint to ${httpUrl}/codec`,
      `  Subscribers      public addresses and ${services.subscriberAddresses.allowedNetworks.join(', ') || 'nothing else'} (KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS)`,
      `  Slack            ${slack ? `${env.publicUrl}/slack/events${env.SLACK_APP_TOKEN ? ' (Socket Mode)' : ''}` : 'not configured (approvals via CLI only)'}`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
});

function redactPassword(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
