import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppendAudit } from '../agents/auditor/types.js';
import { revokeForOwner } from '../agents/revocation-responder/owner-revocation.js';
import { mayIntrospect } from '../agents/token-issuer/introspection-rule.js';
import type { AuditBudgetsOptions } from '../agents/token-issuer/failure-audit-budget.js';
import type { FailureLimiter } from '../agents/token-issuer/failure-limiter.js';
import { findIssued } from '../agents/token-issuer/issued-tokens.js';
import { unverifiedPayload } from '../agents/token-issuer/jws.js';
import { purgeExpiredRevocations } from '../agents/validator/revocation-list.js';
import type { IssueRefusal, TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import { isKeyturnError } from '../config/errors.js';
import { inTransaction, type Pool } from '../db/pool.js';
import { budgetedAudit, type BudgetedRefusal } from './budgeted-audit.js';
import { addressKey, clientAuthenticator, type Authenticated, type OAuthLog } from './oauth-client-auth.js';
import { FORM_TYPE, isFormRequest, NO_STORE, oauthError, parseForm, readForm } from './oauth-form.js';

export interface OAuthRouteDeps {
  issuer: TokenIssuer;
  pool: Pool;
  /** The issuer tokens from /oauth2/token are issued under, read on each request (a policy change takes effect at once). */
  defaultIssuer: () => string;
  /** Verifies a token fully (signature, claims, revocation); throws on any invalid token. Needed by /oauth2/introspect. */
  validator?: { verify(token: string): Promise<Record<string, unknown>> };
  appendAudit: AppendAudit;
  log: OAuthLog;
  /**
   * Called after a revocation committed a change (e.g. to apply it to this process's revocation
   * cache at once); not after a repeat of a revocation already in force.
   */
  onRevoke?: (jti: string) => Promise<void>;
  /** Authentication-failure limiter, shared by the three endpoints. Default: 10 failures / 60 s per client address (an IPv6 /64). */
  limiter?: FailureLimiter;
  /**
   * Refusals audited one by one per minute and process, the rest summarised: failed authentications
   * (default 100 anonymous, 20 per client), and, each with budgets of their own of the same sizes,
   * refused introspections, scope and audience refusals, and refused revocations (per client).
   */
  auditBudget?: AuditBudgetsOptions;
  /** Called each time a client secret is checked with scrypt, i.e. not from remembered credentials (metrics). */
  onSecretScrypt?: () => void;
  /** Called each time a secret check is refused because too many wait (503; metrics). */
  onSecretCheckBusy?: () => void;
  /** Called each time an authenticated client is refused a token it may not introspect (metrics). */
  onIntrospectionRefused?: () => void;
}

const PAUSE_RETRY_SECONDS = 30;
/** Refusals that depend on who the client is: on remembered credentials they are asked again after a full check. */
const CLIENT_DEPENDENT_REFUSALS = ['CLIENT_SECRET_CHANGED', 'CLIENT_NOT_AUTHORIZED', 'INVALID_SCOPE', 'INVALID_TARGET'] as const;

/**
 * OAuth 2.0 endpoints: token (RFC 6749 §4.4 client_credentials), introspection (RFC 7662) and
 * revocation (RFC 7009). Registered in their own scope (with their own form parser and error
 * handler), so they leave the rest of the server alone. Never logs secrets or tokens.
 */
export function registerOAuthRoutes(app: FastifyInstance, deps: OAuthRouteDeps): void {
  const authenticate = clientAuthenticator({
    pool: deps.pool,
    appendAudit: deps.appendAudit,
    log: deps.log,
    policyVersion: () => deps.issuer.policyVersion(),
    ...(deps.limiter ? { limiter: deps.limiter } : {}),
    ...(deps.auditBudget ? { auditBudget: deps.auditBudget } : {}),
    ...(deps.onSecretScrypt ? { onSecretScrypt: deps.onSecretScrypt } : {}),
    ...(deps.onSecretCheckBusy ? { onSecretCheckBusy: deps.onSecretCheckBusy } : {}),
  });

  // Each refusal is audited, within a budget per client of the same size as failed authentications':
  // a client probing other clients' tokens, asking for scopes or audiences it does not have, or
  // revoking tokens not its own shows in the audit log without being able to flood it (each such
  // request is cheap to send, and the log is append-only behind one append lock).
  const budgeted = (action: string, named: { one: string; many: string }) =>
    budgetedAudit({ pool: deps.pool, appendAudit: deps.appendAudit, log: deps.log, policyVersion: () => deps.issuer.policyVersion(), ...(deps.auditBudget ? { budget: deps.auditBudget } : {}) }, action, named);
  const introspectionRefusals = budgeted('token.introspect', { one: 'a refused introspection', many: 'refused introspections' });
  const issueRefusals = budgeted('token.issue', { one: 'a refused scope or audience', many: 'refused scopes and audiences' });
  const revokeRefusals = budgeted('token.revoke', { one: 'a refused revocation', many: 'refused revocations' });
  const budgets = [introspectionRefusals, issueRefusals, revokeRefusals];

  // A summary of refusals over the audit budget is written even when no further refusal comes.
  const flushing = setInterval(() => void Promise.all([authenticate.flushSuppressedAudit(), ...budgets.map((b) => b.flush())]), 60_000).unref();
  app.addHook('onClose', async () => {
    clearInterval(flushing);
    await Promise.all([authenticate.flushSuppressedAudit({ includeOpen: true }), ...budgets.map((b) => b.flush({ includeOpen: true }))]);
  });

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
      // Fastify's own refusals of a malformed request (a bad Content-Length, …) are the client's error.
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return oauthError(reply, 400, 'invalid_request', 'the request is malformed');
      deps.log.error({ code: err.code ?? 'UNKNOWN' }, 'oauth endpoint failed');
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
          issuer: deps.defaultIssuer(),
          clientId: c.clientId,
          authentication: { secretHash: c.secretHash, remembered: c.remembered },
          ...(scopeParam && scopeParam.length > 0 ? { requestedScopes: scopeParam } : {}),
          ...(audience !== undefined ? { audience } : {}),
          auditRefusal: (r: IssueRefusal) =>
            issueRefusals.record({
              bucket: { kind: 'client', clientId: c.clientId },
              reason: r.code,
              client: undefined,
              address: addressKey(req.ip),
              actor: r.actor,
              subject: r.subject,
              details: { ...r.details, ip: req.ip },
            }),
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
            return oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled', client.challenge);
          case 'CLIENT_NOT_AUTHORIZED':
            return oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled', client.challenge);
          case 'NO_ACTIVE_KEY':
          case 'KEY_NOT_ACTIVE':
          case 'ISSUANCE_CONFLICT':
            deps.log.warn({ code }, 'token issuance without a usable signing key');
            return oauthError(reply, 503, 'temporarily_unavailable', 'no signing key is available right now; retry later', { 'retry-after': String(PAUSE_RETRY_SECONDS) });
          default:
            deps.log.error({ code }, 'token issuance failed');
            return oauthError(reply, 500, 'server_error', 'the token could not be issued; retry later');
        }
      }
    });

    /** A token the caller may not introspect: answered as an inactive one, counted and audited (never the token itself). */
    const notAllowed = (req: FastifyRequest, reply: FastifyReply, caller: string, claims?: Record<string, unknown>) => {
      deps.log.info({ code: 'INTROSPECTION_NOT_ALLOWED', client: caller }, 'introspection: a token the caller may not introspect');
      deps.onIntrospectionRefused?.();
      const label = (v: unknown) => (typeof v === 'string' ? v.slice(0, 128) : '(none)');
      const refusal: BudgetedRefusal = {
        bucket: { kind: 'client', clientId: caller },
        reason: 'not_allowed_to_introspect',
        // The bucket names the caller: past its budget, the summary names whose tokens it asked about.
        client: claims ? label(claims.client_id) : undefined,
        address: addressKey(req.ip),
        actor: { role: 'TokenIssuer', client: caller },
        subject: claims ? { jti: label(claims.jti), client: label(claims.client_id) } : { client: '(unread)' },
        details: { reason: 'not_allowed_to_introspect', ip: req.ip },
      };
      // After the answer is sent: it must take as long as for an invalid token, or its timing would
      // tell the caller that another client's token is valid.
      void introspectionRefusals.record(refusal, { later: true });
      return reply.headers(NO_STORE).send({ active: false });
    };

    scope.post('/oauth2/introspect', async (req, reply) => {
      const form = readForm(req, reply);
      if (!form) return reply;
      const caller = await authenticate(req, reply, form, 'introspect');
      if (!caller) return reply;
      const token = form.fields.token;
      if (token === undefined || token === '') return oauthError(reply, 400, 'invalid_request', 'token is missing; send token=<the access token>');
      if (!deps.validator) return oauthError(reply, 503, 'temporarily_unavailable', 'introspection is not configured on this server');
      // Read fresh for introspection (never remembered), so a grant withdrawn a moment ago counts.
      const record = caller.record;
      if (!record) return notAllowed(req, reply, caller.clientId);
      let claims: Record<string, unknown>;
      try {
        claims = await deps.validator.verify(token);
      } catch (e) {
        // The caller learns only `active: false`; the reason is logged, the token never.
        deps.log.info({ code: isKeyturnError(e) ? e.code : (e as { code?: string }).code ?? 'INVALID' }, 'introspection: inactive token');
        return reply.headers(NO_STORE).send({ active: false });
      }
      if (!mayIntrospect(record, claims)) return notAllowed(req, reply, caller.clientId, claims);
      return reply.headers(NO_STORE).send({ ...claims, token_type: 'Bearer', active: true });
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
      if (record.clientId !== client.clientId) {
        // Audited within the caller's budget, after the answer (which is the same as for a token
        // keyturn never issued), so its timing does not tell that another client's token exists.
        void revokeRefusals.record(
          {
            bucket: { kind: 'client', clientId: client.clientId },
            reason: 'not_token_owner',
            // Past the budget, the summary names whose tokens the caller tried to revoke.
            client: record.clientId ?? '(none)',
            address: addressKey(req.ip),
            actor: { role: 'TokenIssuer', client: client.clientId },
            subject: { jti: record.jti },
            details: { reason: 'not_token_owner', ip: req.ip },
          },
          { later: true },
        );
        return ok();
      }
      // Deny-listed for as long as a validator may still accept the token: its exp plus the clock skew.
      const acceptedUntil = new Date(record.exp.getTime() + deps.issuer.clockSkewSecondsOf(record.issuer) * 1000);
      const now = new Date();
      if (acceptedUntil.getTime() <= now.getTime()) return ok();
      let changed: boolean;
      try {
        // Under the target lock the RevocationResponder takes: a temporary containment of the jti
        // becomes permanent, so a false alarm lifting it afterwards cannot undo the owner's revocation.
        changed = await inTransaction(deps.pool, async (tx) => {
          const r = await revokeForOwner(tx, { jti: record.jti, expiresAt: acceptedUntil, reason: `revoked by client ${client.clientId} (RFC 7009)` }, now);
          // Revoking a token already revoked changes nothing: 200 as before (RFC 7009 §2.2), no second entry, nothing announced.
          if (!r.changed) return false;
          await deps.appendAudit(tx, {
            actor: { role: 'TokenIssuer', client: client.clientId },
            action: 'token.revoke',
            subject: { jti: record.jti },
            policyVersion: deps.issuer.policyVersion(),
            outcome: 'ok',
            details: { kid: record.kid, exp: record.exp.toISOString(), revocationId: r.revocationId, wasTemporary: r.wasTemporary },
          });
          return true;
        });
      } catch (e) {
        deps.log.error({ code: isKeyturnError(e) ? e.code : (e as { code?: string }).code ?? 'UNKNOWN' }, 'revocation failed');
        return oauthError(reply, 503, 'temporarily_unavailable', 'the token could not be revoked right now; retry later', { 'retry-after': '5' });
      }
      if (!changed) return ok();
      if (deps.onRevoke) await deps.onRevoke(record.jti).catch(() => deps.log.warn('onRevoke hook failed'));
      // Entries that can no longer match a valid token go, a batch at a time, so the list stays the size of what is live.
      await purgeExpiredRevocations(deps.pool, new Date()).catch(() => deps.log.warn('could not purge expired revocations'));
      return ok();
    });
  });
}
