import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JWK } from 'jose';

/** What the routes need from KeyManager: published public keys, and a counter that moves on local changes. */
export interface JwksSource {
  jwks(issuer?: string): Promise<{ keys: JWK[] }>;
  readonly changeCount?: number;
}

export interface JwksRouteDeps {
  keyManager: JwksSource;
  /** Policy `jwksMaxAgeSeconds` for an issuer; without one, the bound for the combined set (use the smallest). */
  jwksMaxAgeSeconds: (issuer?: string) => number;
  /** The URL this server is reached at; endpoints are built under it. */
  issuerBaseUrl: string;
  /** The policy's issuers, read on each request: a JWKS for any other costs no database query (404). */
  issuers: () => readonly string[];
  /** The issuer `/oauth2/token` issues under: the metadata's `issuer`, identical to its tokens' `iss` (RFC 8414 §3.3). */
  tokenIssuer: () => string;
  /** Called for each JWKS answer with its status (metrics). */
  onServed?: (status: 200 | 304) => void;
  /** How long serialised bytes are reused before the database is asked again; at most 1000 ms. Default 1000. */
  cacheTtlMs?: number;
}

/** Members a JWKS entry may carry; private (d, p, q, dp, dq, qi, oth) and symmetric (k) members never pass. */
const PUBLIC_MEMBERS = ['kty', 'use', 'alg', 'kid', 'n', 'e', 'crv', 'x', 'y'] as const;
const MAX_CACHED_ISSUERS = 64;

interface Cached {
  body: Buffer;
  etag: string;
  headers: Record<string, string>;
  notModifiedHeaders: Record<string, string>;
  expiresAt: number;
  version: number;
}

function sanitize(jwk: JWK): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of PUBLIC_MEMBERS) {
    const v = (jwk as Record<string, unknown>)[m];
    if (typeof v === 'string') out[m] = v;
  }
  return out;
}

function maxAge(n: number): number {
  // A bad policy value fails closed: clients must not cache what they cannot bound.
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** RFC 9110 §13.1.2: `*` or any listed entity tag matching under weak comparison. */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === opaque);
}

export function registerJwksRoutes(app: FastifyInstance, deps: JwksRouteDeps): void {
  const ttl = Math.min(Math.max(deps.cacheTtlMs ?? 1000, 0), 1000);
  const cache = new Map<string, Cached>();
  const inflight = new Map<string, Promise<Cached>>();
  const version = () => deps.keyManager.changeCount ?? 0;

  const build = async (issuer: string | undefined, v: number): Promise<Cached> => {
    const { keys } = await deps.keyManager.jwks(issuer);
    const body = Buffer.from(JSON.stringify({ keys: keys.map(sanitize) }), 'utf8');
    const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
    const cacheControl = `public, max-age=${maxAge(deps.jwksMaxAgeSeconds(issuer))}`;
    const entry: Cached = {
      body,
      etag,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), etag, 'cache-control': cacheControl },
      notModifiedHeaders: { etag, 'cache-control': cacheControl },
      expiresAt: Date.now() + ttl,
      version: v,
    };
    if (cache.size >= MAX_CACHED_ISSUERS) cache.clear();
    cache.set(issuer ?? '', entry);
    return entry;
  };

  const current = (issuer: string | undefined): Cached | Promise<Cached> => {
    const key = issuer ?? '';
    const v = version();
    const hit = cache.get(key);
    if (hit && hit.version === v && hit.expiresAt > Date.now()) return hit;
    let pending = inflight.get(key);
    if (!pending) {
      pending = build(issuer, v).finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  };

  // The hottest public endpoint: pre-built bytes and headers go straight to the socket, past
  // Fastify's reply pipeline (this server registers no onSend hooks for it to skip).
  const respond = (req: FastifyRequest, reply: FastifyReply, entry: Cached): void => {
    reply.hijack();
    if (ifNoneMatchHits(req.headers['if-none-match'], entry.etag)) {
      deps.onServed?.(304);
      reply.raw.writeHead(304, entry.notModifiedHeaders).end();
    } else {
      deps.onServed?.(200);
      reply.raw.writeHead(200, entry.headers).end(entry.body);
    }
  };
  const unknownIssuer = (reply: FastifyReply): void => {
    reply.code(404).headers({ 'cache-control': 'no-store', 'content-type': 'application/json' }).send('{"error":"unknown_issuer"}');
  };
  const unavailable = (reply: FastifyReply): void => {
    reply.code(503).headers({ 'cache-control': 'no-store', 'content-type': 'application/json' }).send('{"error":"jwks_unavailable"}');
  };

  // Not async: a cache hit is answered synchronously from pre-serialised bytes.
  app.get('/.well-known/jwks.json', (req: FastifyRequest<{ Querystring: { issuer?: string } }>, reply: FastifyReply) => {
    const issuer = typeof req.query.issuer === 'string' && req.query.issuer.length > 0 ? req.query.issuer : undefined;
    if (issuer !== undefined && !deps.issuers().includes(issuer)) return unknownIssuer(reply);
    let c: Cached | Promise<Cached>;
    try {
      c = current(issuer);
    } catch {
      return unavailable(reply);
    }
    if (c instanceof Promise) {
      c.then((entry) => respond(req, reply, entry), () => unavailable(reply));
    } else {
      respond(req, reply, c);
    }
  });

  const base = deps.issuerBaseUrl.replace(/\/+$/, '');
  const authMethods = ['client_secret_basic', 'client_secret_post'];
  // RFC 8414 metadata for what keyturn does: client_credentials only. No authorization endpoint, no
  // ID tokens and no JWT client authentication, so no id_token_* / *_auth_signing_alg_* fields.
  let metadata: { issuer: string; bytes: Buffer } | undefined;
  const metadataFor = (issuer: string): Buffer => {
    if (metadata?.issuer !== issuer) {
      const bytes = Buffer.from(
        JSON.stringify({
          issuer,
          jwks_uri: `${base}/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`,
          token_endpoint: `${base}/oauth2/token`,
          introspection_endpoint: `${base}/oauth2/introspect`,
          revocation_endpoint: `${base}/oauth2/revoke`,
          grant_types_supported: ['client_credentials'],
          response_types_supported: [],
          token_endpoint_auth_methods_supported: authMethods,
          introspection_endpoint_auth_methods_supported: authMethods,
          revocation_endpoint_auth_methods_supported: authMethods,
        }),
        'utf8',
      );
      metadata = { issuer, bytes };
    }
    return metadata.bytes;
  };
  const sendMetadata = async (_req: FastifyRequest, reply: FastifyReply) => {
    const issuer = deps.tokenIssuer();
    return reply
      .headers({ 'content-type': 'application/json', 'cache-control': `public, max-age=${maxAge(deps.jwksMaxAgeSeconds(issuer))}` })
      .send(metadataFor(issuer));
  };
  /** The issuer this service has metadata for when `path` (`/`-led, no trailing slash) is its path; only an issuer with a path has one. */
  const issuerAtPath = (path: string): string | undefined => {
    const issuer = deps.tokenIssuer();
    return path !== '' && path === issuerPath(issuer) ? issuer : undefined;
  };
  const noIssuerAt = (reply: FastifyReply, hint: string) =>
    reply.code(404).header('cache-control', 'no-store').send({ error: 'not_found', message: 'no issuer served here has this path', hint });
  app.get('/.well-known/openid-configuration', sendMetadata);
  app.get('/.well-known/oauth-authorization-server', sendMetadata);
  // RFC 8414 §3.1: an issuer with a path has its metadata at the well-known prefix followed by that path.
  app.get<{ Params: { '*': string } }>('/.well-known/oauth-authorization-server/*', async (req, reply) => {
    if (issuerAtPath(`/${req.params['*']}`) === undefined) {
      return noIssuerAt(reply, 'Read the metadata at /.well-known/oauth-authorization-server followed by the path of the issuer in your tokens.');
    }
    return sendMetadata(req, reply);
  });
  // OpenID Connect Discovery 1.0 §4: an issuer with a path has its metadata at that path followed by
  // the well-known suffix. The router allows no wildcard before a suffix, and the issuer can change
  // with the policy, so a catch-all takes every GET no other route matches (static and parametric
  // routes always win over it) and hands whatever is not an appended-form path to the app's usual 404.
  app.get<{ Params: { '*': string } }>('/*', async (req, reply) => {
    const path = `/${req.params['*']}`;
    if (!path.endsWith(OPENID_SUFFIX)) return reply.callNotFound();
    if (issuerAtPath(path.slice(0, -OPENID_SUFFIX.length)) === undefined) {
      return noIssuerAt(reply, 'Read the metadata at the issuer in your tokens followed by /.well-known/openid-configuration.');
    }
    return sendMetadata(req, reply);
  });
}

const OPENID_SUFFIX = '/.well-known/openid-configuration';

/** The issuer identifier's path without a trailing slash; `` for an issuer without one. */
function issuerPath(issuer: string): string {
  try {
    return new URL(issuer).pathname.replace(/\/+$/, '');
  } catch {
    return '';
  }
}
