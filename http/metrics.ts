import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { KeyturnMetrics } from '../infra/metrics/registry.js';

/**
 * Who may read GET /metrics: with a token, its bearers; without one, whoever reaches a loopback
 * listener; on any other listener, no one. Metrics name clients, their volumes and pending sign-offs,
 * so a public listener without a token does not serve them.
 */
export type MetricsAccess = { token: string } | 'loopback' | 'off';

export function metricsAccess(listenHost: string, token: string | undefined): MetricsAccess {
  if (token) return { token };
  return isLoopbackHost(listenHost) ? 'loopback' : 'off';
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

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
