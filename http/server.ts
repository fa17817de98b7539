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
  /** How long a client may take to send a whole request; default 30 s. */
  requestTimeoutMs?: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  // Fastify sets no request timeout by default (and so turns off Node's): a client trickling a
  // request byte by byte would hold its connection for ever.
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    logger: false, bodyLimit: 64 * 1024, return503OnClosing: true, requestTimeout,
    // Node enforces it only with headersTimeout no longer than it, checked every connectionsCheckingInterval (30 s by default).
    http: { requestTimeout, headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.max(100, Math.floor(requestTimeout / 2)) },
    ...(deps.trustProxy?.length ? { trustProxy: deps.trustProxy } : {}),
  });

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
