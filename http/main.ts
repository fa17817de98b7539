/**
 * The keyturn HTTP process (production / docker-compose): health, JWKS, OAuth endpoints.
 * Needs DATABASE_URL, TEMPORAL_ADDRESS (for /healthz), a KEK and an audit key from the environment.
 */
import { Connection } from '@temporalio/client';
import { keyturnClient } from '../infra/temporal/client.js';
import { loadEnv, requireEnv } from '../config/env.js';
import { Lifecycle } from '../infra/lifecycle.js';
import { createLogger } from '../infra/log/logger.js';
import { createMetrics, lastCheckpointAgeSeconds } from '../infra/metrics/registry.js';
import { pendingApprovals } from '../infra/metrics/temporal-readings.js';
import { bootstrap } from '../workers/bootstrap.js';
import { createKeyturnHttp } from '../workers/http-app.js';
import { codecRoutesFor, withCodec } from '../workers/codec-wiring.js';
import { slackAppFor, slackConfigured } from '../workers/slack-wiring.js';

const life = new Lifecycle();

life.run(async () => {
  const env = requireEnv(loadEnv(), ['DATABASE_URL', 'TEMPORAL_ADDRESS']);
  const log = createLogger({ name: 'keyturn-http', level: env.KEYTURN_LOG_LEVEL });
  const { pool, policy, services, payloadKeyring } = await bootstrap(env, life, { signsCheckpoints: false });
  const temporal = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  life.add('Temporal connection', () => temporal.close());
  const client = keyturnClient(temporal, env.TEMPORAL_NAMESPACE, payloadKeyring);
  const metrics = createMetrics({ pendingApprovals: () => pendingApprovals(client), lastCheckpointAgeSeconds: () => lastCheckpointAgeSeconds(pool) });
  const slack = slackConfigured(env)
    ? await slackAppFor(env, { pool, client, policy, uiUrl: env.KEYTURN_TEMPORAL_UI_URL, log })
    : undefined;
  if (slack) life.add('Slack app', () => slack.app.stop());
  const http = await createKeyturnHttp({
    ...(slack ? { routes: [slack.routes] } : {}),
    metrics,
    ...withCodec(codecRoutesFor(env, payloadKeyring, pool)),
    ...(env.KEYTURN_METRICS_TOKEN ? { metricsToken: env.KEYTURN_METRICS_TOKEN } : {}),
    listenHost: env.KEYTURN_HTTP_HOST,
    ...(env.KEYTURN_TRUST_PROXY ? { trustProxy: env.KEYTURN_TRUST_PROXY } : {}),
    services,
    databaseUrl: env.DATABASE_URL,
    policy,
    publicUrl: env.publicUrl,
    temporalHealthy: async () => void (await temporal.workflowService.getSystemInfo({})),
    log,
  });
  await http.app.listen({ host: env.KEYTURN_HTTP_HOST, port: env.KEYTURN_HTTP_PORT });
  life.add('HTTP', () => http.close());
  log.info({ url: env.publicUrl }, 'keyturn HTTP service listening');
});
