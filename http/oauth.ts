import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { Queryable } from '../agents/shared/db.js';
import { authenticateClient } from '../agents/token-issuer/clients.js';
import { VerifiedSecretCache } from '../agents/token-issuer/verified-secrets.js';
import { readClientCredentials } from '../agents/token-issuer/client-credentials.js';
import { FailureLimiter } from '../agents/token-issuer/failure-limiter.js';
import { findIssued } from '../agents/token-issuer/issued-tokens.js';
import { unverifiedPayload } from '../agents/token-issuer/jws.js';
import { dummyHash } from '../agents/token-issuer/secret-hash.js';
import type { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { isKeyturnError } from '../config/errors.js';
import { inTransaction, type Pool } from '../db/pool.js';

export interface JtiRevocation {
  jti: string;
  /** The token's own exp: the entry is useless after it. */
  expiresAt: Date;
  reason: string;
}

export interface OAuthRouteDeps {
  issuer: TokenIssuer;
  pool: Pool;
  /** The issuer tokens from /oauth2/token are issued under. */
  defaultIssuer: string;
  /** Verifies a token fully (signature, claims, revocation); throws on any invalid token. Needed by /oauth2/introspect. */
  validator?: { verify(token: string): Promise<Record<string, unknown>> };
  appendAudit: AppendAudit;
  /** Called after a revocation committed (e.g. to refresh a local revocation cache). */
  onRevoke?: (jti: string) => Promise<void>;
  /** Writes a jti revocation inside the caller's transaction. Default: {@link writeJtiRevocation}. */
  revokeJti?: (db: Queryable, r: JtiRevocation) => Promise<void>;
  /** Authentication-failure limiter, shared by the three endpoints. Default: 10 failures / 60 s per client id and per address. */
  limiter?: FailureLimiter;
  /** Called each time a client secret is checked with scrypt, i.e. not from remembered credentials (metrics). */
  onSecretScrypt?: () => void;
  /** Called each time a secret check is refused because too many wait (503; metrics). */
  onSecretCheckBusy?: () => void;
}

/** A row in the validator's `revocations` list plus the notification its listeners wait for. */
export async function writeJtiRevocation(db: Queryable, r: JtiRevocation): Promise<void> {
  await db.query(
    `INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, $2, false, $3) ON CONFLICT DO NOTHING`,
    [r.jti, r.expiresAt, r.reason],
  );
  await db.query(`SELECT pg_notify('keyturn_revocations', $1)`, [JSON.stringify({ kind: 'jti', value: r.jti })]);
}

interface Form {
  fields: Record<string, string>;
  duplicate?: string;
}

/** application/x-www-form-urlencoded, keeping note of repeated parameters (RFC 6749 §3.1 forbids them). */
export function parseForm(body: string): Form {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let duplicate: string | undefined;
  for (const [k, v] of new URLSearchParams(body)) {
    if (k in fields) duplicate ??= k;
    else fields[k] = v;
  }
  return duplicate === undefined ? { fields } : { fields, duplicate };
}

const FORM_TYPE = 'application/x-www-form-urlencoded';
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const WWW_AUTHENTICATE = 'Basic realm="keyturn", charset="UTF-8"';
const PAUSE_RETRY_SECONDS = 30;
const BUSY_RETRY_SECONDS = 1;
/** Refusals that depend on who the client is: on remembered credentials they are asked again after a full check. */
const CLIENT_DEPENDENT_REFUSALS = ['CLIENT_SECRET_CHANGED', 'CLIENT_NOT_AUTHORIZED', 'INVALID_SCOPE', 'INVALID_TARGET'] as const;

interface Authenticated {
  clientId: string;
  /** The stored hash the presented secret matched; never logged. */
  secretHash: string;
  /** True when the credentials were trusted from memory, without reading the client row. */
  remembered: boolean;
  /** Counts and audits a refusal found after authentication (the secret rotated meanwhile). */
  refused(reason: string): Promise<void>;
}

function isFormRequest(req: FastifyRequest): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === FORM_TYPE;
}

function formOf(req: FastifyRequest): Form {
  const body = req.body as Form | undefined;
  return body && typeof body === 'object' && 'fields' in body ? body : { fields: Object.create(null) as Record<string, string> };
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers({ ...NO_STORE, ...headers }).send({ error, error_description: description });
}

/**
 * OAuth 2.0 endpoints: token (RFC 6749 §4.4 client_credentials), introspection (RFC 7662) and
 * revocation (RFC 7009). Registered in their own scope (with their own form parser and error
 * handler), so they leave the rest of the server alone. Never logs secrets or tokens.
 */
/** Aborts once the connection closes before the reply is sent: a secret check still waiting is then not made. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

/** One warning per 10 s while secret checks are refused, with how many: a flood must not also flood the log. */
function throttledBusyLog() {
  let refused = 0;
  let lastAt = 0;
  return {
    note(log: FastifyRequest['log']): void {
      refused++;
      if (Date.now() - lastAt < 10_000) return;
      log.warn({ code: 'SECRET_CHECKS_BUSY', refused }, 'client secret checks refused (503): too many waiting; see keyturn_client_secret_checks_busy_total');
      lastAt = Date.now();
      refused = 0;
    },
  };
}

export function registerOAuthRoutes(app: FastifyInstance, deps: OAuthRouteDeps): void {
  const limiter = deps.limiter ?? new FailureLimiter();
  const verifiedSecrets = new VerifiedSecretCache();
  const busyLog = throttledBusyLog();
  const revokeJti = deps.revokeJti ?? writeJtiRevocation;
  dummyHash().catch(() => undefined); // computed now, not during the first failed authentication (if refused, the first check retries)

  const auditFailure = async (req: FastifyRequest, endpoint: string, method: string, reason: string, clientId?: string): Promise<void> => {
    const client = clientId?.slice(0, 128);
    try {
      await deps.appendAudit(deps.pool, {
        actor: client ? { role: 'TokenIssuer', client } : { role: 'TokenIssuer' },
        action: 'client.authenticate',
        subject: { client: client ?? '(none)' },
        policyVersion: deps.issuer.policyVersion(),
        outcome: 'refused',
        details: { endpoint, method, reason, ip: req.ip },
      });
    } catch (e) {
      req.log.error({ code: isKeyturnError(e) ? e.code : 'AUDIT_FAILED' }, 'could not audit a failed client authentication');
    }
  };

  /**
   * The authenticated client, or undefined once an error reply has been sent. With `remembered`,
   * credentials that passed recently are trusted without reading the client row: only for callers
   * that have the change re-checked where it matters (the issuance commit re-checks the client and
   * its secret hash, see TokenIssuer.issue).
   */
  const authenticate = async (req: FastifyRequest, reply: FastifyReply, form: Form, endpoint: string, o: { remembered?: boolean } = {}): Promise<Authenticated | undefined> => {
    const creds = readClientCredentials(req.headers.authorization, form.fields);
    if (creds.method === 'conflict') {
      oauthError(reply, 400, 'invalid_request', creds.description);
      return undefined;
    }
    const ipKey = `ip:${req.ip}`;
    const keys = 'clientId' in creds ? [ipKey, `client:${creds.clientId.slice(0, 128)}`] : [ipKey];
    const wait = limiter.retryAfter(keys);
    if (wait > 0) {
      oauthError(reply, 429, 'temporarily_unavailable', `too many failed client authentications from this client or address; retry in ${wait} s with correct credentials`, {
        'retry-after': String(wait),
      });
      return undefined;
    }
    const basic = creds.method === 'client_secret_basic' || creds.method === 'malformed_basic';
    const challenge: Record<string, string> = basic || creds.method === 'none' ? { 'www-authenticate': WWW_AUTHENTICATE } : {};
    if (creds.method === 'none' || creds.method === 'malformed_basic') {
      limiter.fail(keys);
      await auditFailure(req, endpoint, creds.method, creds.method === 'none' ? 'no_credentials' : 'malformed_basic');
      const description =
        creds.method === 'none'
          ? 'client authentication is required: send Authorization: Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)'
          : creds.description;
      oauthError(reply, 401, 'invalid_client', description, challenge);
      return undefined;
    }
    const refused = (reason: string) => {
      limiter.fail(keys);
      return auditFailure(req, endpoint, creds.method, reason, creds.clientId);
    };
    const rememberedHash = o.remembered ? verifiedSecrets.storedHashFor(creds.clientId, creds.secret) : undefined;
    if (rememberedHash !== undefined) return { clientId: creds.clientId, secretHash: rememberedHash, remembered: true, refused };
    let result: Awaited<ReturnType<typeof authenticateClient>>;
    const gone = clientGone(reply);
    try {
      result = await authenticateClient(deps.pool, creds.clientId, creds.secret, { verified: verifiedSecrets, signal: gone, ...(deps.onSecretScrypt ? { onScrypt: deps.onSecretScrypt } : {}) });
    } catch (e) {
      if (gone.aborted && e === gone.reason) {
        // Nobody is listening: the check was skipped, which is neither a failure nor a refusal to count.
        oauthError(reply, 503, 'temporarily_unavailable', 'the client closed the connection');
        return undefined;
      }
      if (!isKeyturnError(e, 'SECRET_CHECKS_BUSY')) throw e;
      // Not a failed authentication: the secret was never checked, so nothing is counted against the client.
      deps.onSecretCheckBusy?.();
      busyLog.note(req.log);
      oauthError(reply, 503, 'temporarily_unavailable', 'the server is checking too many client secrets right now; retry in a second', { 'retry-after': String(BUSY_RETRY_SECONDS) });
      return undefined;
    }
    if (!result.ok) {
      await refused(result.reason);
      oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled', challenge);
      return undefined;
    }
    return { clientId: result.client.clientId, secretHash: result.secretHash, remembered: false, refused };
  };

  /** The form, or undefined once an error reply about it has been sent. */
  const readForm = (req: FastifyRequest, reply: FastifyReply): Form | undefined => {
    const form = formOf(req);
    if (form.duplicate !== undefined) {
      oauthError(reply, 400, 'invalid_request', `parameter ${form.duplicate} is repeated; send each parameter once`);
      return undefined;
    }
    return form;
  };

  void app.register(async (scope) => {
    scope.addContentTypeParser(FORM_TYPE, { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => done(null, parseForm(body as string)));
    // Only forms: anything else is refused before another parser (JSON, …) sees it.
    scope.addHook('onRequest', async (req, reply) => {
      if (!isFormRequest(req)) return oauthError(reply, 400, 'invalid_request', `send the parameters as ${FORM_TYPE}`);
    });
    scope.setErrorHandler((err: { statusCode?: number; code?: string }, req, reply) => {
      if (err.statusCode === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return oauthError(reply, 400, 'invalid_request', `send the parameters as ${FORM_TYPE}`);
      }
      if (err.statusCode === 413) return oauthError(reply, 413, 'invalid_request', 'the request body is too large');
      req.log.error({ code: err.code ?? 'UNKNOWN' }, 'oauth endpoint failed');
      return oauthError(reply, 500, 'server_error', 'the authorization server failed; retry later');
    });

    scope.post('/oauth2/token', async (req, reply) => {
      const form = readForm(req, reply);
      if (!form) return reply;
      const grant = form.fields.grant_type;
      // Remembered credentials only where the commit re-checks them: a request that gets no token
      // (here, a bad grant_type) is answered only after the client row has been checked.
      let client = await authenticate(req, reply, form, 'token', { remembered: grant === 'client_credentials' });
      if (!client) return reply;
      if (grant === undefined || grant === '') return oauthError(reply, 400, 'invalid_request', 'grant_type is missing; send grant_type=client_credentials');
      if (grant !== 'client_credentials') return oauthError(reply, 400, 'unsupported_grant_type', `grant_type ${grant.slice(0, 64)} is not supported; use client_credentials`);
      const scopeParam = form.fields.scope?.split(' ').filter((s) => s !== '');
      const audience = form.fields.audience === '' ? undefined : form.fields.audience;
      const issueFor = (c: Authenticated) =>
        deps.issuer.issue({
          issuer: deps.defaultIssuer,
          clientId: c.clientId,
          authentication: { secretHash: c.secretHash, remembered: c.remembered },
          ...(scopeParam && scopeParam.length > 0 ? { requestedScopes: scopeParam } : {}),
          ...(audience !== undefined ? { audience } : {}),
        });
      try {
        let t;
        try {
          t = await issueFor(client);
        } catch (e) {
          // Remembered credentials that did not get a token: before any answer that says more than
          // 401, check them against the client row, so a rotated-away secret or a disabled client is
          // refused, counted and audited like any failed authentication. The row check pays scrypt
          // only if the stored hash is no longer the one remembered, so a paused issuer or a bad
          // scope costs a row read, not a hash. A refusal that depends on the client is then asked
          // again with the checked credentials, so it is audited only for a client that passed.
          if (!client.remembered) throw e;
          client = await authenticate(req, reply, form, 'token');
          if (!client) return reply;
          if (!CLIENT_DEPENDENT_REFUSALS.some((code) => isKeyturnError(e, code))) throw e;
          t = await issueFor(client);
        }
        return reply.headers(NO_STORE).send({ access_token: t.accessToken, token_type: 'Bearer', expires_in: t.expiresIn, scope: t.scope });
      } catch (e) {
        const code = isKeyturnError(e) ? e.code : 'UNEXPECTED';
        switch (code) {
          case 'ISSUANCE_PAUSED':
            return oauthError(reply, 503, 'temporarily_unavailable', 'token issuance is paused by the operators; retry later', { 'retry-after': String(PAUSE_RETRY_SECONDS) });
          case 'INVALID_SCOPE':
          case 'INVALID_TARGET':
            return oauthError(reply, 400, code === 'INVALID_SCOPE' ? 'invalid_scope' : 'invalid_target', (e as Error).message + ((e as { hint?: string }).hint ? `. ${(e as { hint?: string }).hint}` : ''));
          case 'CLIENT_SECRET_CHANGED':
            await client.refused('secret_rotated');
            return oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled');
          case 'CLIENT_NOT_AUTHORIZED':
            return oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled');
          case 'NO_ACTIVE_KEY':
          case 'KEY_NOT_ACTIVE':
          case 'ISSUANCE_CONFLICT':
            req.log.warn({ code }, 'token issuance without a usable signing key');
            return oauthError(reply, 503, 'temporarily_unavailable', 'no signing key is available right now; retry later', { 'retry-after': String(PAUSE_RETRY_SECONDS) });
          default:
            req.log.error({ code }, 'token issuance failed');
            return oauthError(reply, 500, 'server_error', 'the token could not be issued; retry later');
        }
      }
    });

    scope.post('/oauth2/introspect', async (req, reply) => {
      const form = readForm(req, reply);
      if (!form) return reply;
      if (!(await authenticate(req, reply, form, 'introspect'))) return reply;
      const token = form.fields.token;
      if (token === undefined || token === '') return oauthError(reply, 400, 'invalid_request', 'token is missing; send token=<the access token>');
      if (!deps.validator) return oauthError(reply, 503, 'temporarily_unavailable', 'introspection is not configured on this server');
      try {
        const claims = await deps.validator.verify(token);
        return reply.headers(NO_STORE).send({ ...claims, token_type: 'Bearer', active: true });
      } catch (e) {
        // The caller learns only `active: false`; the reason is logged, the token never.
        req.log.info({ code: isKeyturnError(e) ? e.code : (e as { code?: string }).code ?? 'INVALID' }, 'introspection: inactive token');
        return reply.headers(NO_STORE).send({ active: false });
      }
    });

    scope.post('/oauth2/revoke', async (req, reply) => {
      const form = readForm(req, reply);
      if (!form) return reply;
      const client = await authenticate(req, reply, form, 'revoke');
      if (!client) return reply;
      const token = form.fields.token;
      if (token === undefined || token === '') return oauthError(reply, 400, 'invalid_request', 'token is missing; send token=<the access token to revoke>');
      // Ownership comes from issued_tokens, not from the (unverified) token: a forged payload cannot
      // name another client's jti as its own.
      const jti = unverifiedPayload(token)?.jti;
      const record = typeof jti === 'string' && jti.length <= 64 ? await findIssued(deps.pool, jti) : undefined;
      const ok = () => reply.code(200).headers(NO_STORE).send();
      if (!record) return ok();
      const policyVersion = deps.issuer.policyVersion();
      if (record.clientId !== client.clientId) {
        await deps
          .appendAudit(deps.pool, {
            actor: { role: 'TokenIssuer', client: client.clientId },
            action: 'token.revoke',
            subject: { jti: record.jti },
            policyVersion,
            outcome: 'refused',
            details: { reason: 'not the token owner' },
          })
          .catch(() => req.log.error('could not audit a refused revocation'));
        return ok();
      }
      if (record.exp.getTime() <= Date.now()) return ok();
      try {
        await inTransaction(deps.pool, async (tx) => {
          await revokeJti(tx, { jti: record.jti, expiresAt: record.exp, reason: `revoked by client ${client.clientId} (RFC 7009)` });
          await deps.appendAudit(tx, {
            actor: { role: 'TokenIssuer', client: client.clientId },
            action: 'token.revoke',
            subject: { jti: record.jti },
            policyVersion,
            outcome: 'ok',
            details: { kid: record.kid, exp: record.exp.toISOString() },
          });
        });
      } catch (e) {
        req.log.error({ code: isKeyturnError(e) ? e.code : (e as { code?: string }).code ?? 'UNKNOWN' }, 'revocation failed');
        return oauthError(reply, 503, 'temporarily_unavailable', 'the token could not be revoked right now; retry later', { 'retry-after': '5' });
      }
      if (deps.onRevoke) await deps.onRevoke(record.jti).catch(() => req.log.warn('onRevoke hook failed'));
      return ok();
    });
  });
}
