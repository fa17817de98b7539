import Fastify, { type FastifyInstance } from 'fastify';
import type { Pool } from '../db/pool.js';

export interface HttpDeps {
  pool: Pool;
  /** Resolves when Temporal answers; rejects otherwise. */
  temporalHealthy: () => Promise<void>;
  /** Route groups (JWKS, OAuth, metrics, Slack…) added by the process that hosts the server. */
  routes?: Array<(app: FastifyInstance) => void>;
  /** Reverse proxies whose X-Forwarded-For is believed for the client's address (KEYTURN_TRUST_PROXY). */
  trustProxy?: string[];
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, return503OnClosing: true, ...(deps.trustProxy?.length ? { trustProxy: deps.trustProxy } : {}) });

  app.get('/healthz', async (_req, reply) => {
    const [postgres, temporal] = await Promise.all([
      deps.pool.query('SELECT 1').then(() => 'ok', () => 'down'),
      deps.temporalHealthy().then(() => 'ok', () => 'down'),
    ]);
    const healthy = postgres === 'ok' && temporal === 'ok';
    return reply.code(healthy ? 200 : 503).header('cache-control', 'no-store').send({ status: healthy ? 'ok' : 'degraded', checks: { postgres, temporal } });
  });

  for (const register of deps.routes ?? []) register(app);
  return app;
}
