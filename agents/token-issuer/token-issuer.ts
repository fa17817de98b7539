import { randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import { inTransaction, type Pool } from '../../db/pool.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { SigningHandle } from '../key-manager/types.js';
import type { IssuerPolicy, Policy } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import { getClient, SCOPE_TOKEN_PATTERN } from './clients.js';
import { isPaused, lockIssuanceShared } from './issuance-control.js';
import { recordIssued } from './issued-tokens.js';
import { signCompact } from './jws.js';

export interface TokenIssuerDeps {
  pool: Pool;
  /** KeyManager, or anything that hands out a SigningHandle for an issuer's active key. */
  signer: { signingHandle(issuer: string): Promise<SigningHandle> };
  appendAudit: AppendAudit;
  clock: Clock;
  /** The current parsed policy (read on every issuance, so a reload takes effect at once). */
  policy: () => Policy;
  /** Called after each client token is issued (metrics). */
  onIssued?: (e: { clientId: string; alg: string }) => void;
}

export interface IssueRequest {
  issuer: string;
  /** An already authenticated client. */
  clientId: string;
  /** Default: every scope the client has. */
  requestedScopes?: string[];
  /** One of the policy's audiences; default: all of them. */
  audience?: string;
}

export interface IssuedAccessToken {
  accessToken: string;
  /** Seconds; always the policy TTL (shorter for canaries). */
  expiresIn: number;
  /** Space-separated granted scopes ('' for canaries). */
  scope: string;
  jti: string;
  kid: string;
}

/** The subject (and client_id) of keyturn's own canary tokens; client ids cannot contain `:`. */
export const CANARY_SUBJECT = 'keyturn:canary';
/** A canary outlives its check by little: at most this long, and never longer than the policy TTL. */
export const CANARY_MAX_TTL_SECONDS = 300;
const ACTOR: AuditActor = { role: 'TokenIssuer' };

interface Mint {
  ip: IssuerPolicy;
  version: string;
  sub: string;
  clientId?: string;
  scopes: string[];
  aud: string | string[];
  ttl: number;
  tenant?: string;
}

/**
 * Issues RFC 9068 access tokens (`typ: at+jwt`) for authenticated clients, signed through the
 * KeyManager's handle (the JWS is assembled here: no jose on the hot path). Each token is recorded
 * in issued_tokens, so every token under a kid or of a client can be found and revoked later.
 */
export class TokenIssuer {
  readonly #deps: TokenIssuerDeps;

  constructor(deps: TokenIssuerDeps) {
    this.#deps = deps;
  }

  /** The version of the policy currently in force (for audit entries written by callers). */
  policyVersion(): string {
    return this.#deps.policy().version;
  }

  /** The issuer's policy, or ISSUER_UNKNOWN. */
  issuerPolicy(issuer: string): IssuerPolicy {
    const ip = this.#deps.policy().issuers.find((i) => i.issuer === issuer);
    if (!ip) throw new KeyturnError('ISSUER_UNKNOWN', `issuer ${issuer} is not in the policy`, 'Add it to policy.md or use a configured issuer.', { issuer });
    return ip;
  }

  async issue(req: IssueRequest): Promise<IssuedAccessToken> {
    const policy = this.#deps.policy();
    const ip = this.issuerPolicy(req.issuer);
    const client = await getClient(this.#deps.pool, req.clientId);
    if (!client || client.disabled) {
      throw new KeyturnError('CLIENT_NOT_AUTHORIZED', `client ${req.clientId} is unknown or disabled`, 'Use an enabled registered client.', { clientId: req.clientId });
    }
    try {
      const scopes = grantScopes(req.requestedScopes, client.scopes);
      const aud = audienceFor(ip, req.audience);
      const mint: Mint = { ip, version: policy.version, sub: client.clientId, clientId: client.clientId, scopes, aud, ttl: ttlOf(ip) };
      if (client.tenant !== undefined) mint.tenant = client.tenant;
      const issued = await this.#mint(mint, true);
      this.#deps.onIssued?.({ clientId: client.clientId, alg: ip.algorithm });
      return issued;
    } catch (e) {
      if (e instanceof KeyturnError && (e.code === 'INVALID_SCOPE' || e.code === 'INVALID_TARGET')) {
        await this.#deps
          .appendAudit(this.#deps.pool, {
            actor: { ...ACTOR, client: client.clientId },
            action: 'token.issue',
            subject: { client: client.clientId, issuer: req.issuer },
            policyVersion: policy.version,
            outcome: 'refused',
            details: { code: e.code, requestedScopes: req.requestedScopes ?? null, audience: req.audience ?? null },
          })
          .catch(() => {});
      }
      throw e;
    }
  }

  /**
   * A token for the rotation's canary check: sub and client_id `keyturn:canary`, no scope, at most
   * CANARY_MAX_TTL_SECONDS. Audited (`token.canary`, with `step` in the details). Not refused while issuance is paused: an emergency rotation must be able to prove
   * its new key before issuance resumes.
   */
  async issueCanary(issuer: string, opts: { actor?: AuditActor; step?: string } = {}): Promise<IssuedAccessToken> {
    const policy = this.#deps.policy();
    const ip = this.issuerPolicy(issuer);
    return this.#mint(
      { ip, version: policy.version, sub: CANARY_SUBJECT, scopes: [], aud: audienceFor(ip), ttl: Math.min(ttlOf(ip), CANARY_MAX_TTL_SECONDS) },
      false,
      { actor: opts.actor ?? ACTOR, step: opts.step ?? 'canary' },
    );
  }

  async #mint(m: Mint, honourPause: boolean, canary?: { actor: AuditActor; step: string }): Promise<IssuedAccessToken> {
    const issuer = m.ip.issuer;
    const paused = (): KeyturnError =>
      new KeyturnError('ISSUANCE_PAUSED', `issuance for ${issuer} is paused`, 'Retry later; an operator resumes issuance once the incident is contained.', { issuer });
    // Cheap check first, so a paused issuer costs no key unsealing; re-checked under the lock below.
    if (honourPause && (await isPaused(this.#deps.pool, issuer))) throw paused();
    const handle = await this.#deps.signer.signingHandle(issuer);
    if (handle.issuer !== issuer) throw new KeyturnError('SIGNER_MISMATCH', `the signing handle is for ${handle.issuer}, not ${issuer}`);

    return inTransaction(this.#deps.pool, async (tx) => {
      if (honourPause) {
        await lockIssuanceShared(tx, issuer);
        if (await isPaused(tx, issuer)) throw paused();
      }
      const iat = Math.floor(this.#deps.clock.now().getTime() / 1000);
      const exp = iat + m.ttl;
      const jti = randomBytes(16).toString('base64url');
      const scope = m.scopes.join(' ');
      const payload: Record<string, unknown> = { iss: issuer, sub: m.sub, aud: m.aud, exp, iat, nbf: iat, jti };
      if (scope) payload.scope = scope;
      payload.client_id = m.clientId ?? CANARY_SUBJECT;
      if (m.tenant !== undefined) payload.tenant = m.tenant;
      payload.policy_version = m.version;
      const accessToken = await signCompact(handle, { alg: handle.alg, typ: 'at+jwt', kid: handle.kid }, payload);
      await recordIssued(tx, { jti, issuer, sub: m.sub, ...(m.clientId ? { clientId: m.clientId } : {}), kid: handle.kid, exp: new Date(exp * 1000), iat: new Date(iat * 1000), policyVersion: m.version });
      if (canary) {
        await this.#deps.appendAudit(tx, {
          actor: canary.actor,
          action: 'token.canary',
          subject: { jti, issuer },
          policyVersion: m.version,
          outcome: 'ok',
          details: { kid: handle.kid, exp, step: canary.step },
        });
      }
      return { accessToken, expiresIn: m.ttl, scope, jti, kid: handle.kid };
    });
  }
}

function ttlOf(ip: IssuerPolicy): number {
  const ttl = ip.accessTokenTtlSeconds;
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new KeyturnError('POLICY_INVALID', `accessTokenTtlSeconds of ${ip.issuer} must be a positive integer`, 'Fix policy.md.', { issuer: ip.issuer });
  }
  return ttl;
}

/** `aud`: the requested audience when it is one of the policy's; else all of them (a string when one). */
export function audienceFor(ip: IssuerPolicy, requested?: string): string | string[] {
  if (ip.audiences.length === 0) throw new KeyturnError('POLICY_INVALID', `issuer ${ip.issuer} has no audiences`, 'List at least one audience in policy.md.', { issuer: ip.issuer });
  if (requested !== undefined) {
    if (!ip.audiences.includes(requested)) {
      throw new KeyturnError('INVALID_TARGET', `audience ${JSON.stringify(requested)} is not served by this issuer`, `Request one of: ${ip.audiences.join(', ')}, or omit audience.`);
    }
    return requested;
  }
  return ip.audiences.length === 1 ? ip.audiences[0]! : [...ip.audiences];
}

/** Granted scopes: the requested ones when all are the client's (order kept, duplicates dropped); all the client's when none asked. */
export function grantScopes(requested: string[] | undefined, allowed: string[]): string[] {
  if (requested === undefined || requested.length === 0) return [...allowed];
  const bad = requested.filter((s) => !SCOPE_TOKEN_PATTERN.test(s) || !allowed.includes(s));
  if (bad.length > 0) {
    throw new KeyturnError('INVALID_SCOPE', `scope ${bad.map((s) => JSON.stringify(s)).join(', ')} is not granted to this client`, `Request only scopes from: ${allowed.join(' ')} (or omit scope to get all of them).`);
  }
  return [...new Set(requested)];
}
