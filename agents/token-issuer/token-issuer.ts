import { KeyturnError } from '../../config/errors.js';
import { inTransaction, type Pool } from '../../db/pool.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { SigningHandle } from '../key-manager/types.js';
import type { IssuerPolicy, Policy } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import { randomId } from '../shared/random-id.js';
import { CANARY_AUDIENCE } from '../shared/canary.js';
import { getClient, SCOPE_TOKEN_PATTERN, type ClientRecord } from './clients.js';
import { isPaused } from './issuance-control.js';
import { IssuanceRecorder } from './issuance-recorder.js';
import { recordIssued, type IssuedToken } from './issued-tokens.js';
import { describeRequested } from './requested-values.js';
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
  /** How the caller authenticated the client; required, so no caller can skip the secret re-check by omission. */
  authentication: ClientAuthentication;
  /**
   * Where a scope or audience refusal is audited. Default: appended to the audit log at once (for
   * callers inside keyturn's trust boundary). The OAuth endpoint passes its per-client audit budget:
   * such refusals cost a client nothing to cause, and the audit log is append-only.
   */
  auditRefusal?: (r: IssueRefusal) => Promise<void>;
}

/** A scope or audience refusal to audit (`token.issue`, outcome refused); its details are bounded (see describeRequested). */
export interface IssueRefusal {
  code: 'INVALID_SCOPE' | 'INVALID_TARGET';
  actor: AuditActor;
  subject: Record<string, string>;
  details: Record<string, unknown>;
}

/**
 * `in-process`: a caller inside keyturn's trust boundary (the bench, tests) that presented no
 * client secret. A secret: the stored hash it was verified against; the token is handed out only
 * if that is still the client's secret (CLIENT_SECRET_CHANGED otherwise). `remembered`: verified
 * on an earlier request, not this one; a scope or audience refusal is then not audited, because
 * the caller must verify the credentials in full before it may answer anything but 401, and
 * re-issues with them (which audits the refusal).
 */
export type ClientAuthentication = 'in-process' | { secretHash: string; remembered: boolean };

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
/** How long a "not paused" read spares the pre-signing check; the commit re-checks every token regardless. */
const PAUSE_RECHECK_MS = 1_000;
const MAX_REMEMBERED_CLIENTS = 10_000;

/** A remembered client, key or pause state changed under a signed token: it is dropped and the issuance retried once. */
class StaleIssuance extends Error {}

function secretChangedError(clientId: string): KeyturnError {
  return new KeyturnError('CLIENT_SECRET_CHANGED', `the secret of client ${clientId} changed while a token was being issued`, 'Authenticate again with the client\'s current secret.', { clientId });
}

function pausedError(issuer: string): KeyturnError {
  return new KeyturnError('ISSUANCE_PAUSED', `issuance for ${issuer} is paused`, 'Retry later; an operator resumes issuance once the incident is contained.', { issuer });
}

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
  readonly #recorder: IssuanceRecorder;
  readonly #clients = new Map<string, ClientRecord>();
  readonly #handles = new Map<string, SigningHandle>();
  /** Issuer → when it was last read as not paused (ms). */
  readonly #notPaused = new Map<string, number>();

  constructor(deps: TokenIssuerDeps) {
    this.#deps = deps;
    this.#recorder = new IssuanceRecorder(deps.pool);
  }

  /** The version of the policy currently in force (for audit entries written by callers). */
  policyVersion(): string {
    return this.#deps.policy().version;
  }

  /** How long past its exp a validator may accept a token of `issuer`: its clock skew, or the largest in the policy once the issuer has left it. */
  clockSkewSecondsOf(issuer: string): number {
    const issuers = this.#deps.policy().issuers;
    return issuers.find((i) => i.issuer === issuer)?.clockSkewSeconds ?? Math.max(0, ...issuers.map((i) => i.clockSkewSeconds));
  }

  /** The issuer's policy, or ISSUER_UNKNOWN. */
  issuerPolicy(issuer: string): IssuerPolicy {
    const ip = this.#deps.policy().issuers.find((i) => i.issuer === issuer);
    if (!ip) throw new KeyturnError('ISSUER_UNKNOWN', `issuer ${issuer} is not in the policy`, 'Add it to policy.md or use a configured issuer.', { issuer });
    return ip;
  }

  /**
   * A token for an authenticated client. The client, the issuer's pause state and its signing
   * handle are remembered between calls, so the hot path touches PostgreSQL once per batch: the
   * token is handed out only after its record commits, and that commit re-checks all three under
   * the issuance lock (see {@link IssuanceRecorder}). When one of them changed, the token is
   * dropped unseen and the issuance runs once more on fresh reads.
   */
  async issue(req: IssueRequest): Promise<IssuedAccessToken> {
    try {
      return await this.#issueOnce(req, false);
    } catch (e) {
      if (!(e instanceof StaleIssuance)) throw e;
    }
    try {
      return await this.#issueOnce(req, true);
    } catch (e) {
      if (!(e instanceof StaleIssuance)) throw e;
      throw new KeyturnError('ISSUANCE_CONFLICT', `the key or client of ${req.issuer} changed twice while a token was being issued`, 'Retry the request; a rotation or client change was committing at the same moment.', { issuer: req.issuer, clientId: req.clientId });
    }
  }

  async #issueOnce(req: IssueRequest, fresh: boolean): Promise<IssuedAccessToken> {
    const policy = this.#deps.policy();
    const ip = this.issuerPolicy(req.issuer);
    const client = await this.#client(req.clientId, fresh);
    try {
      const { scopes, aud } = this.#grant(req, ip, client, fresh);
      const ttl = ttlOf(ip);
      if (await this.#paused(ip.issuer, fresh)) throw pausedError(ip.issuer);
      const handle = await this.#handle(ip.issuer, fresh);
      const minted = await this.#sign(handle, { ip, version: policy.version, sub: client.clientId, clientId: client.clientId, scopes, aud, ttl, ...(client.tenant !== undefined ? { tenant: client.tenant } : {}) });
      const verdict = await this.#recorder.record(minted.record, client, req.authentication === 'in-process' ? undefined : req.authentication.secretHash);
      if (verdict === 'secret-changed') throw secretChangedError(client.clientId);
      if (verdict === 'paused') {
        this.#notPaused.delete(ip.issuer);
        throw pausedError(ip.issuer);
      }
      if (verdict !== 'recorded') {
        this.#forget(ip.issuer, client.clientId);
        throw new StaleIssuance();
      }
      this.#deps.onIssued?.({ clientId: client.clientId, alg: ip.algorithm });
      return minted.issued;
    } catch (e) {
      const remembered = req.authentication !== 'in-process' && req.authentication.remembered;
      if (e instanceof KeyturnError && (e.code === 'INVALID_SCOPE' || e.code === 'INVALID_TARGET') && !remembered) {
        const refusal: IssueRefusal = {
          code: e.code,
          actor: { ...ACTOR, client: client.clientId },
          subject: { client: client.clientId, issuer: req.issuer },
          // What was asked for, bounded: the raw text can be as long as the request body.
          details: {
            code: e.code,
            requestedScopes: req.requestedScopes ? describeRequested(req.requestedScopes) : null,
            audience: req.audience !== undefined ? describeRequested([req.audience]) : null,
          },
        };
        const audit =
          req.auditRefusal ??
          (async (r: IssueRefusal) => void (await this.#deps.appendAudit(this.#deps.pool, { actor: r.actor, action: 'token.issue', subject: r.subject, policyVersion: policy.version, outcome: 'refused', details: r.details })));
        await audit(refusal).catch(() => {});
      }
      throw e;
    }
  }

  /**
   * The scopes and audiences of the token. A refusal decided on a remembered client record is
   * decided again on a fresh read: the record may predate a grant (say, `clients set-audiences`)
   * that the commit, which a refused request never reaches, would otherwise never notice.
   */
  #grant(req: IssueRequest, ip: IssuerPolicy, client: ClientRecord, fresh: boolean): { scopes: string[]; aud: string | string[] } {
    try {
      return { scopes: grantScopes(req.requestedScopes, client.scopes), aud: audienceFor(ip, req.audience, client.audiences) };
    } catch (e) {
      if (!fresh && e instanceof KeyturnError && (e.code === 'INVALID_SCOPE' || e.code === 'INVALID_TARGET')) {
        this.#clients.delete(client.clientId);
        throw new StaleIssuance();
      }
      throw e;
    }
  }

  async #client(clientId: string, fresh: boolean): Promise<ClientRecord> {
    let client = fresh ? undefined : this.#clients.get(clientId);
    if (!client) {
      client = await getClient(this.#deps.pool, clientId);
      if (client && !client.disabled) {
        if (this.#clients.size >= MAX_REMEMBERED_CLIENTS) this.#clients.clear();
        this.#clients.set(clientId, client);
      }
    }
    if (!client || client.disabled) {
      this.#clients.delete(clientId);
      throw new KeyturnError('CLIENT_NOT_AUTHORIZED', `client ${clientId} is unknown or disabled`, 'Use an enabled registered client.', { clientId });
    }
    return client;
  }

  /**
   * Whether the issuer is paused, to spare signing for a paused issuer; the commit decides. "Not
   * paused" is trusted for PAUSE_RECHECK_MS; "paused" is read again every time, so a resume acts at once.
   */
  async #paused(issuer: string, fresh: boolean): Promise<boolean> {
    const notPausedAt = this.#notPaused.get(issuer);
    if (!fresh && notPausedAt !== undefined && Date.now() - notPausedAt < PAUSE_RECHECK_MS) return false;
    const paused = await isPaused(this.#deps.pool, issuer);
    if (paused) this.#notPaused.delete(issuer);
    else this.#notPaused.set(issuer, Date.now());
    return paused;
  }

  async #handle(issuer: string, fresh: boolean): Promise<SigningHandle> {
    let handle = fresh ? undefined : this.#handles.get(issuer);
    if (!handle) {
      handle = await this.#deps.signer.signingHandle(issuer);
      if (handle.issuer !== issuer) throw new KeyturnError('SIGNER_MISMATCH', `the signing handle is for ${handle.issuer}, not ${issuer}`);
      this.#handles.set(issuer, handle);
    }
    return handle;
  }

  #forget(issuer: string, clientId: string): void {
    this.#handles.delete(issuer);
    this.#clients.delete(clientId);
    this.#notPaused.delete(issuer);
  }

  /** Builds and signs a client token; a handle whose key the KeyManager has since replaced makes the issuance stale. */
  async #sign(handle: SigningHandle, m: Mint): Promise<{ issued: IssuedAccessToken; record: IssuedToken }> {
    const { payload, record, issued } = this.#claims(handle.kid, m);
    try {
      issued.accessToken = await signCompact(handle, { alg: handle.alg, typ: 'at+jwt', kid: handle.kid }, payload);
    } catch (e) {
      if (e instanceof KeyturnError && e.code === 'KEY_NOT_ACTIVE') {
        this.#handles.delete(m.ip.issuer);
        throw new StaleIssuance();
      }
      throw e;
    }
    return { issued, record };
  }

  /** The claims of a token under `kid`, its issued_tokens record, and the answer (token filled in once signed). */
  #claims(kid: string, m: Mint): { payload: Record<string, unknown>; record: IssuedToken; issued: IssuedAccessToken } {
    const issuer = m.ip.issuer;
    const iat = Math.floor(this.#deps.clock.now().getTime() / 1000);
    const exp = iat + m.ttl;
    const jti = randomId();
    const scope = m.scopes.join(' ');
    const payload: Record<string, unknown> = { iss: issuer, sub: m.sub, aud: m.aud, exp, iat, nbf: iat, jti };
    if (scope) payload.scope = scope;
    payload.client_id = m.clientId ?? CANARY_SUBJECT;
    if (m.tenant !== undefined) payload.tenant = m.tenant;
    payload.policy_version = m.version;
    const record: IssuedToken = { jti, issuer, sub: m.sub, ...(m.clientId ? { clientId: m.clientId } : {}), kid, exp: new Date(exp * 1000), iat: new Date(iat * 1000), policyVersion: m.version };
    return { payload, record, issued: { accessToken: '', expiresIn: m.ttl, scope, jti, kid } };
  }

  /**
   * A token for the rotation's canary check: sub, client_id and aud `keyturn:canary` (an audience no
   * relying party accepts: the canary crosses the run's history), no scope, at most
   * CANARY_MAX_TTL_SECONDS. Audited (`token.canary`, with `step` in the details). Not refused while issuance is paused: an emergency rotation must be able to prove
   * its new key before issuance resumes.
   */
  async issueCanary(issuer: string, opts: { actor?: AuditActor; step?: string } = {}): Promise<IssuedAccessToken> {
    const policy = this.#deps.policy();
    const ip = this.issuerPolicy(issuer);
    return this.#mintCanary(
      { ip, version: policy.version, sub: CANARY_SUBJECT, scopes: [], aud: CANARY_AUDIENCE, ttl: Math.min(ttlOf(ip), CANARY_MAX_TTL_SECONDS) },
      { actor: opts.actor ?? ACTOR, step: opts.step ?? 'canary' },
    );
  }

  /** A canary: signed and recorded (with its audit entry) in one transaction; not held back by a pause. */
  async #mintCanary(m: Mint, canary: { actor: AuditActor; step: string }): Promise<IssuedAccessToken> {
    const handle = await this.#deps.signer.signingHandle(m.ip.issuer);
    if (handle.issuer !== m.ip.issuer) throw new KeyturnError('SIGNER_MISMATCH', `the signing handle is for ${handle.issuer}, not ${m.ip.issuer}`);
    return inTransaction(this.#deps.pool, async (tx) => {
      const { payload, record, issued } = this.#claims(handle.kid, m);
      issued.accessToken = await signCompact(handle, { alg: handle.alg, typ: 'at+jwt', kid: handle.kid }, payload);
      await recordIssued(tx, record);
      await this.#deps.appendAudit(tx, {
        actor: canary.actor,
        action: 'token.canary',
        subject: { jti: record.jti, issuer: record.issuer },
        policyVersion: m.version,
        outcome: 'ok',
        details: { kid: handle.kid, exp: Math.floor(record.exp.getTime() / 1000), step: canary.step },
      });
      return issued;
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

/**
 * `aud`: the requested audience when the issuer serves it and the client may have it; else every
 * audience the issuer serves that the client may have (a string when one). `clientAudiences`
 * absent: the client may have every audience of the issuer.
 */
export function audienceFor(ip: IssuerPolicy, requested?: string, clientAudiences?: readonly string[]): string | string[] {
  if (ip.audiences.length === 0) throw new KeyturnError('POLICY_INVALID', `issuer ${ip.issuer} has no audiences`, 'List at least one audience in policy.md.', { issuer: ip.issuer });
  const allowed = clientAudiences === undefined ? ip.audiences : ip.audiences.filter((a) => clientAudiences.includes(a));
  if (allowed.length === 0) {
    throw new KeyturnError('INVALID_TARGET', `this client may get tokens for none of the audiences ${ip.issuer} serves`, 'Ask an operator to give the client one of the issuer\'s audiences (`keyturn clients set-audiences`).');
  }
  if (requested !== undefined) {
    if (!ip.audiences.includes(requested)) {
      throw new KeyturnError('INVALID_TARGET', `audience ${JSON.stringify(requested)} is not served by this issuer`, `Request one of: ${allowed.join(', ')}, or omit audience.`);
    }
    if (!allowed.includes(requested)) {
      throw new KeyturnError('INVALID_TARGET', `audience ${JSON.stringify(requested)} is not one this client may get tokens for`, `Request one of: ${allowed.join(', ')}, or omit audience.`);
    }
    return requested;
  }
  return allowed.length === 1 ? allowed[0]! : [...allowed];
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
