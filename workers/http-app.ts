import type { FastifyInstance } from 'fastify';
import { revocationFreshnessOf } from './revocation-freshness.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { createIssuerValidators } from '../agents/validator/issuer-validators.js';
import { pgListener, RevocationCache } from '../agents/validator/revocation-list.js';
import { registerCodecRoutes, type CodecRouteOptions } from '../http/codec.js';
import { registerJwksRoutes } from '../http/jwks.js';
import { metricsAccess, registerMetricsRoute } from '../http/metrics.js';
import { registerOAuthRoutes } from '../http/oauth.js';
import type { KeyturnMetrics } from '../infra/metrics/registry.js';
import { buildHttpServer } from '../http/server.js';
import type { Logger } from '../infra/log/logger.js';
import type { Services } from './services.js';

export interface KeyturnHttpDeps {
  services: Services;
  databaseUrl: string;
  policy: () => Policy;
  /** The URL this server is reached at; issuer metadata and JWKS links are built under it. */
  publicUrl: string;
  temporalHealthy: () => Promise<void>;
  log: Logger;
  /** Prometheus metrics served on GET /metrics (bearer-protected when metricsToken is set). */
  metrics?: KeyturnMetrics;
  metricsToken?: string;
  /** The address the server listens on: without a metrics token, /metrics is served on loopback only. Default 127.0.0.1. */
  listenHost?: string;
  /** The codec endpoint for the Temporal Web UI and CLI; not served without an operator token. */
  codec?: CodecRouteOptions;
  /** Extra route groups (Slack, metrics) mounted by the hosting process. */
  routes?: Array<(app: FastifyInstance) => void>;
  /** Reverse proxies trusted to name the client's address (KEYTURN_TRUST_PROXY). */
  trustProxy?: string[];
}

export interface KeyturnHttp {
  app: FastifyInstance;
  /** Stops the revocation listener and closes the server. */
  close(): Promise<void>;
}

/**
 * keyturn's HTTP service: health, JWKS and discovery, and the OAuth endpoints (token, introspection
 * with the full Validator and its LISTEN/NOTIFY revocation list, revocation).
 */
export async function createKeyturnHttp(deps: KeyturnHttpDeps): Promise<KeyturnHttp> {
  const { services, policy } = deps;
  const revocations = new RevocationCache({
    db: services.pool,
    connectListener: pgListener(deps.databaseUrl, 'keyturn-http-revocations'),
    freshnessSeconds: revocationFreshnessOf(policy),
    onError: (e) => deps.log.warn({ err: (e as Error).message }, 'revocation list refresh failed'),
  });
  await revocations.start().catch((e: unknown) => deps.log.error({ err: (e as Error).message }, 'revocation list not loaded yet; introspection fails closed until it is'));
  const validators = createIssuerValidators({
    policy,
    publishedKeys: (issuer) => services.keyManager.jwks(issuer),
    revocation: () => revocations,
    onReject: (code) => {
      deps.metrics?.validations.inc({ outcome: 'rejected', code });
      deps.log.info({ code }, 'token rejected');
    },
  });
  const verify = async (token: string) => {
    const verified = await validators.verify(token);
    deps.metrics?.validations.inc({ outcome: 'accepted', code: 'OK' });
    return { ...verified.claims };
  };
  let issuersOf: { policy: Policy; issuers: string[] } | undefined;
  /** The policy's issuers, listed again only when the policy object changes (asked on every JWKS request). */
  const policyIssuers = (): string[] => {
    const p = policy();
    if (issuersOf?.policy !== p) issuersOf = { policy: p, issuers: p.issuers.map((i) => i.issuer) };
    return issuersOf.issuers;
  };
  const maxAge = (issuer?: string) => Math.min(...policy().issuers.filter((p) => !issuer || p.issuer === issuer).map((p) => p.jwksMaxAgeSeconds));
  const m = deps.metrics;
  const issuer = new TokenIssuer({
    pool: services.pool, signer: services.keyManager, appendAudit: services.appendAudit, clock: services.clock, policy,
    ...(m ? { onIssued: (e: { clientId: string; alg: string }) => m.tokensIssued.inc({ client: m.clientLabel(e.clientId), alg: e.alg }) } : {}),
  });
  const access = metricsAccess(deps.listenHost ?? '127.0.0.1', deps.metricsToken);
  if (m && access === 'off') deps.log.warn({ listenHost: deps.listenHost }, 'GET /metrics is not served: the listener is not loopback and KEYTURN_METRICS_TOKEN is unset; set it (16+ characters) to serve metrics to its bearers');
  const app = buildHttpServer({
    pool: services.pool,
    temporalHealthy: deps.temporalHealthy,
    ...(deps.trustProxy ? { trustProxy: deps.trustProxy } : {}),
    routes: [
      (a) => registerJwksRoutes(a, {
        keyManager: services.keyManager, jwksMaxAgeSeconds: maxAge, issuerBaseUrl: deps.publicUrl,
        issuers: policyIssuers, tokenIssuer: () => policy().issuers[0]!.issuer, ...(m ? { onServed: (status: 200 | 304) => m.jwksRequests.inc({ status: String(status) }) } : {}) }),
      ...(m && access !== 'off' ? [(a: FastifyInstance) => registerMetricsRoute(a, m, access === 'loopback' ? {} : access)] : []),
      (a) => registerOAuthRoutes(a, {
        issuer,
        pool: services.pool,
        defaultIssuer: () => policy().issuers[0]!.issuer,
        appendAudit: services.appendAudit,
        log: deps.log,
        validator: { verify },
        ...(m ? { onSecretScrypt: () => m.clientSecretScrypts.inc(), onSecretCheckBusy: () => m.clientSecretChecksBusy.inc(), onIntrospectionRefused: () => m.introspectionsRefused.inc() } : {}),
        onRevoke: async (jti) => {
          m?.revocations.inc({ kind: 'jti', stage: 'confirmed' });
          // This process's introspection refuses the token at once: only its entry is read again
          // (other processes learn it from the write's notice), never the whole list.
          await revocations.refresh('jti', jti);
        },
      }),
      ...(deps.codec ? [(a: FastifyInstance) => registerCodecRoutes(a, deps.codec!)] : []),
      ...(deps.routes ?? []),
    ],
  });
  return {
    app,
    async close() {
      await app.close();
      validators.close();
      await revocations.close();
    },
  };
}
