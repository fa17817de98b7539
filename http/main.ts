/**
 * The keyturn HTTP process (production / docker-compose): health, JWKS, OAuth endpoints.
 * Needs DATABASE_URL, TEMPORAL_ADDRESS (for /healthz), a KEK and an audit key from the environment.
 */
import { Connection } from '@temporalio/client';
import { loadEnv, requireEnv } from '../config/env.js';
import { Lifecycle } from '../infra/lifecycle.js';
import { createLogger } from '../infra/log/logger.js';
import { bootstrap } from '../workers/bootstrap.js';
import { createKeyturnHttp } from '../workers/http-app.js';

const life = new Lifecycle();

life.run(async () => {
  const env = requireEnv(loadEnv(), ['DATABASE_URL', 'TEMPORAL_ADDRESS']);
  const log = createLogger({ name: 'keyturn-http', level: env.KEYTURN_LOG_LEVEL });
  const { policy, services } = await bootstrap(env, life);
  const temporal = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  life.add('Temporal connection', () => temporal.close());
  const http = await createKeyturnHttp({
    services,
    databaseUrl: env.DATABASE_URL,
    policy: () => policy,
    publicUrl: env.publicUrl,
    temporalHealthy: async () => void (await temporal.workflowService.getSystemInfo({})),
    log,
  });
  await http.app.listen({ host: env.KEYTURN_HTTP_HOST, port: env.KEYTURN_HTTP_PORT });
  life.add('HTTP', () => http.close());
  log.info({ url: env.publicUrl }, 'keyturn HTTP service listening');
});
