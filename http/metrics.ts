import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { KeyturnMetrics } from '../infra/metrics/registry.js';

/** GET /metrics in Prometheus text format; with a token configured, only for `Authorization: Bearer <token>`. */
export function registerMetricsRoute(app: FastifyInstance, metrics: KeyturnMetrics, opts: { token?: string } = {}): void {
  // Digests of equal length: the comparison takes the same time whatever the length of what was sent.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = opts.token ? digest(`Bearer ${opts.token}`) : undefined;
  app.get('/metrics', async (req, reply) => {
    if (expected) {
      if (!timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="keyturn-metrics"').send({ error: 'unauthorized', error_description: 'send Authorization: Bearer <KEYTURN_METRICS_TOKEN>' });
      }
    }
    return reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(await metrics.registry.metrics());
  });
}
