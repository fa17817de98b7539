import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { FailureLimiter } from '../agents/token-issuer/failure-limiter.js';
import { isKeyturnError } from '../config/errors.js';
import { addressKey } from './oauth-client-auth.js';
import type { CodecOperatorToken } from '../infra/temporal/codec/operator-token.js';
import type { CodecSessionEnds } from '../infra/temporal/codec/session-ends.js';

export interface CodecRouteOptions {
  codec: PayloadCodec;
  token: CodecOperatorToken;
  /** Browser sessions ended before their expiry (sign-out, `keyturn codec end-sessions`). */
  sessionEnds: CodecSessionEnds;
  /** Browser origins allowed to call /codec/decode with credentials (the Temporal Web UI). */
  allowedOrigins: string[];
  /** Where browsers reach this server (KEYTURN_PUBLIC_URL's origin): a sign-in must come from a page there. */
  publicOrigin?: string;
  /** Mark the session cookie Secure (when served over https). */
  secureCookie: boolean;
  sessionTtlSeconds?: number;
  /** Wrong codec tokens (sign-in, bearer) per client address. Default: 10 in 60 s, then 429 until one leaves the window. */
  limiter?: FailureLimiter;
  now?: () => number;
}

export const SESSION_COOKIE = 'keyturn_codec';
const PAYLOADS_LIMIT = 8 * 1024 * 1024;
const ORIGIN_NOT_ALLOWED = { error: 'origin_not_allowed', message: 'this origin may not use the codec endpoint' };
const SESSIONS_UNAVAILABLE = (message: string, hint: string) => ({ error: 'codec_sessions_unavailable', message, hint });

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/**
 * The decode half of the Temporal codec server protocol (POST …/decode with protobuf-JSON
 * `{payloads}`) over keyturn's payload key, for an authenticated operator only: `Authorization: Bearer <codec
 * token>` (the temporal CLI's --codec-auth) or a browser session from /codec/login. Browsers are
 * admitted only from the allowed origins; every other origin gets no CORS grant.
 */
export function registerCodecRoutes(app: FastifyInstance, o: CodecRouteOptions): void {
  const now = o.now ?? Date.now;
  const ttl = o.sessionTtlSeconds ?? 8 * 3600;
  const allowed = new Set(o.allowedOrigins.map((u) => new URL(u).origin));
  const limiter = o.limiter ?? new FailureLimiter();
  /** Seconds this address must wait after too many wrong codec tokens; 0 when it may try. */
  const waitOf = (req: FastifyRequest) => limiter.retryAfter([addressKey(req.ip)]);
  const tooMany = { error: 'too_many_attempts', message: 'too many wrong codec tokens from this address', hint: 'Wait for Retry-After seconds; read the token from KEYTURN_CODEC_TOKEN_FILE.' };

  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));

    scope.get('/codec/login', async (_req, reply) => page(reply, 200, loginForm()));
    scope.post('/codec/login', async (req, reply) => {
      // A page elsewhere could post wrong tokens from an operator's browser and lock their address out.
      if (crossSite(req, o.publicOrigin)) return page(reply, 403, loginForm('Sign in from this page, not from another site.'));
      const wait = waitOf(req);
      if (wait > 0) return page(reply.header('retry-after', String(wait)), 429, loginForm(`${tooMany.message}; try again in ${wait} s.`));
      const presented = (req.body as Record<string, string> | undefined)?.token ?? '';
      if (!o.token.matches(presented)) {
        limiter.fail([addressKey(req.ip)]);
        return page(reply, 401, loginForm('That is not the codec token. Read it from KEYTURN_CODEC_TOKEN_FILE (in development: .keyturn/codec-token).'));
      }
      reply.header('set-cookie', cookie(o.token.issueSession(now(), ttl), ttl, o.secureCookie));
      return page(reply, 200, `<h1>Signed in to the keyturn codec</h1><p>In the Temporal Web UI, open <em>Codec Server</em> settings, set the endpoint to <code>${escapeHtml(req.protocol)}://${escapeHtml(req.host)}/codec</code>, tick <em>Include cross-origin credentials</em> and <em>use my browser setting</em>. The session lasts ${ttl / 3600} hours.</p>`);
    });
    // Signing out ends the session itself, not only the browser's copy of it.
    scope.post('/codec/logout', async (req, reply) => {
      const session = o.token.openSession(readCookie(req.headers.cookie, SESSION_COOKIE), now());
      reply.header('set-cookie', cookie('', 0, o.secureCookie)).header('cache-control', 'no-store');
      const ended = session ? await o.sessionEnds.endOne(session, now()).then(() => true, () => false) : true;
      if (!ended) return reply.code(503).send(SESSIONS_UNAVAILABLE('the browser forgot the session, but it could not be ended on the server', 'Sign out again shortly, or run `keyturn codec end-sessions`.'));
      return reply.code(204).send();
    });

    scope.options('/codec/decode', async (req, reply) => {
      if (!corsGrant(req, reply)) return reply.code(403).send(ORIGIN_NOT_ALLOWED);
      reply.header('access-control-allow-methods', 'POST').header('access-control-allow-headers', 'content-type, x-namespace, authorization').header('access-control-max-age', '600');
      return reply.code(204).send();
    });
    // Origin and credentials are checked on the request line and headers, before the body is read.
    const admit = async (req: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store');
      if (req.headers.origin !== undefined && !corsGrant(req, reply)) return reply.code(403).send(ORIGIN_NOT_ALLOWED);
      const bearer = bearerOf(req);
      // A valid session comes first: a Web UI that also forwards its own access token as a bearer
      // must not be counted as guessing. Sessions cannot be guessed (they are MACed), so only
      // bearer tokens are limited, and a signed-in operator keeps working while someone at the same
      // address guesses tokens.
      const session = o.token.openSession(readCookie(req.headers.cookie, SESSION_COOKIE), now());
      if (session) {
        const ended = await o.sessionEnds.ended(session).catch(() => undefined);
        if (ended === false) return;
        if (ended === undefined && bearer === undefined) {
          return reply.code(503).send(SESSIONS_UNAVAILABLE('could not check whether this session was ended', 'Retry shortly; the database is not answering. `Authorization: Bearer <codec token>` does not need it.'));
        }
      }
      if (bearer !== undefined) {
        const wait = waitOf(req);
        if (wait > 0) return reply.code(429).header('retry-after', String(wait)).send(tooMany);
        if (o.token.matches(bearer)) return;
        limiter.fail([addressKey(req.ip)]);
      }
      return reply.code(401).send({ error: 'unauthorized', message: 'the codec endpoint needs the codec token', hint: 'Send `Authorization: Bearer <codec token>` or sign in at /codec/login.' });
    };
    scope.post('/codec/decode', { bodyLimit: PAYLOADS_LIMIT, onRequest: admit }, async (req, reply) => {
      const payloads = parsePayloads(req.body);
      if (!payloads) return reply.code(400).send({ error: 'invalid_request', message: 'expected a JSON body {"payloads": [{"metadata": {…base64}, "data": base64}]}' });
      try {
        return reply.send({ payloads: (await o.codec.decode(payloads)).map(toJson) });
      } catch (e) {
        if (isKeyturnError(e)) return reply.code(400).send({ error: e.code, message: e.message, hint: e.hint });
        throw e;
      }
    });
    // Encoding would let whoever holds the read-only codec token hand workers input they accept, e.g. a
    // `temporal workflow start` of a revocation: runs are started and signalled only by keyturn's own clients.
    const noEncode = async (_req: FastifyRequest, reply: FastifyReply) =>
      reply.code(403).header('cache-control', 'no-store').send({
        error: 'encode_not_offered',
        message: 'the codec endpoint only decodes',
        hint: 'Start, approve or revoke with the keyturn CLI or from Slack: they encrypt and attest what they send.',
      });
    scope.post('/codec/encode', { onRequest: noEncode }, noEncode);
  });

  function corsGrant(req: FastifyRequest, reply: FastifyReply): boolean {
    const origin = req.headers.origin;
    if (!origin || !allowed.has(origin)) return false;
    reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true').header('vary', 'Origin');
    return true;
  }
}

function bearerOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : undefined;
}

/**
 * A request a browser sent from another site. Sec-Fetch-Site says so where browsers send it (https);
 * otherwise the Origin must be this server's public origin or, without one configured, the origin
 * the request was addressed to (a DNS-rebinding page matches only the latter: configure the former).
 */
function crossSite(req: FastifyRequest, publicOrigin: string | undefined): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    const expected = publicOrigin ?? new URL(`${req.protocol}://${req.host}`).origin;
    return new URL(origin).origin !== expected;
  } catch {
    return true;
  }
}

function parsePayloads(body: unknown): Payload[] | undefined {
  const list = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(list)) return undefined;
  const out: Payload[] = [];
  for (const item of list as JsonPayload[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const metadata: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(item.metadata ?? {})) {
      if (typeof v !== 'string') return undefined;
      metadata[k] = Buffer.from(v, 'base64');
    }
    if (item.data !== undefined && typeof item.data !== 'string') return undefined;
    out.push({ metadata, data: Buffer.from(item.data ?? '', 'base64') });
  }
  return out;
}

function toJson(p: Payload): JsonPayload {
  const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]));
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function cookie(value: string, maxAge: number, secure: boolean): string {
  // SameSite=Strict: sent by the Web UI on the same host (another port is the same site), never cross-site.
  return `${SESSION_COOKIE}=${value}; Path=/codec; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

function loginForm(error?: string): string {
  return `<h1>keyturn codec: sign in</h1>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}<form method="post" action="/codec/login"><label>Codec token <input type="password" name="token" autocomplete="off" required></label> <button type="submit">Sign in</button></form>`;
}

function page(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY')
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>keyturn codec</title></head><body>${body}</body></html>`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
