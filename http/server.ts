import Fastify, { type FastifyInstance } from 'fastify';
import type { Pool } from '../db/pool.js';

export interface HttpDeps {
  pool: Pool;
  /** Resolves when Temporal answers; rejects otherwise. */
  temporalHealthy: () => Promise<void>;
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

  app.get('/healthz', async (_req, reply) => {
    const [postgres, temporal] = await Promise.all([
      deps.pool.query('SELECT 1').then(() => 'ok', () => 'down'),
      deps.temporalHealthy().then(() => 'ok', () => 'down'),
    ]);
    const healthy = postgres === 'ok' && temporal === 'ok';
    return reply.code(healthy ? 200 : 503).send({ status: healthy ? 'ok' : 'degraded', checks: { postgres, temporal } });
  });

  return app;
}
