import { KeyturnError } from '../../config/errors.js';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import { systemClock } from '../shared/clock.js';
import { checkClaims } from './claims.js';
import { parseCompact, strictObject } from './compact.js';
import { isTokenRejected, reject, TokenRejected } from './errors.js';
import { CheckedHeaders } from './header.js';
import { RemoteJwks, staticKeySource, type KeySource } from './jwks.js';
import { verifySignature } from './signature.js';
import { VerifiedTokenCache, type VerifiedSignature } from './verified-cache.js';
import type { Validator, ValidatorOptions, VerifiedToken, VerifyOptions } from './types.js';

const SUPPORTED: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

function configError(message: string): KeyturnError {
  return new KeyturnError('VALIDATOR_CONFIG_INVALID', message, 'Fix the options passed to createValidator (normally derived from policy).');
}

function isLocalHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function validateOptions(o: ValidatorOptions): void {
  if (typeof o.issuer !== 'string' || o.issuer.length === 0) throw configError('issuer is required');
  if (typeof o.audience !== 'string' || o.audience.length === 0) throw configError('audience is required');
  if (!Array.isArray(o.algorithms) || o.algorithms.length === 0 || !o.algorithms.every((a) => SUPPORTED.includes(a))) {
    throw configError(`algorithms must be a non-empty subset of ${SUPPORTED.join(', ')}`);
  }
  if ((o.jwksUri === undefined) === (o.keys === undefined)) throw configError('give exactly one of jwksUri or keys');
  if (o.jwksUri !== undefined) {
    const url = URL.canParse(o.jwksUri) ? new URL(o.jwksUri) : undefined;
    if (!url || !(url.protocol === 'https:' || isLocalHttp(url))) throw configError('jwksUri must be an https URL (http only for localhost)');
  }
  for (const [name, v] of [['clockSkewSeconds', o.clockSkewSeconds], ['maxTokenAgeSeconds', o.maxTokenAgeSeconds]] as const) {
    if (!Number.isFinite(v) || v < 0) throw configError(`${name} must be a non-negative number`);
  }
}

/**
 * A JWT access-token validator for one issuer and one audience. Every check fails closed with a
 * {@link TokenRejected} carrying a stable code; see README-level order in verify().
 */
export function createValidator(opts: ValidatorOptions): Validator {
  validateOptions(opts);
  const clock = opts.clock ?? systemClock;
  const algorithms = [...opts.algorithms];
  const maxTokenBytes = opts.maxTokenBytes ?? 8192;
  const maxHeaderBytes = opts.maxHeaderBytes ?? 2048;
  const keys: KeySource = opts.keys
    ? staticKeySource(opts.keys, algorithms)
    : new RemoteJwks({
        uri: opts.jwksUri!,
        allowed: algorithms,
        clock,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        ...(opts.jwksCooldownMs !== undefined ? { cooldownMs: opts.jwksCooldownMs } : {}),
        ...(opts.jwksTimeoutMs !== undefined ? { timeoutMs: opts.jwksTimeoutMs } : {}),
        ...(opts.jwksStaleIfErrorSeconds !== undefined ? { staleIfErrorSeconds: opts.jwksStaleIfErrorSeconds } : {}),
      });
  let closed = false;

  const verified = new VerifiedTokenCache(opts.verifiedCacheSize ?? 10_000);
  const headers = new CheckedHeaders(algorithms);

  /** Steps 1–4 and the claims' parsing, or the remembered outcome of them for this exact token. */
  async function authentic(token: string): Promise<VerifiedSignature> {
    const seen = verified.get(token);
    if (seen) {
      // Warm: the same bytes under the same key object verify the same way; the key must still be served.
      if ((await keys.get(seen.kid)) === seen.key) return seen;
      verified.delete(token);
    }
    // 1. Size caps, segments, strict base64url, strict header JSON.
    const parts = parseCompact(token, maxTokenBytes, maxHeaderBytes, headers.known);
    // 2. Header rules; the header never picks the algorithm, the policy list does.
    const { alg, kid, header } = headers.check(parts);
    // 3. The key, by exact kid; its own alg must be the header's (an RS256 key never verifies PS256).
    const key = await keys.get(kid);
    if (!key) reject('KID_UNKNOWN', 'token kid is not in the verification key set');
    if (key.alg !== alg) reject('ALG_NOT_ALLOWED', 'token alg does not match its key');
    // 4. Signature, with node:crypto.
    if (!verifySignature(key, Buffer.from(parts.signingInput, 'latin1'), parts.signature)) reject('SIGNATURE_INVALID', 'token signature does not verify');
    // 5. Claims, parsed only now that they are authentic.
    const claims = strictObject(parts.payloadBytes, 'CLAIMS_INVALID_JSON', 'token claims');
    // Frozen (by strictObject) on every path, so claims behave the same whether or not this token is remembered.
    const entry: VerifiedSignature = { key, header, claims, kid, alg };
    if (verified.admit(token)) verified.set(token, entry);
    return entry;
  }

  async function check(token: string, vo: VerifyOptions): Promise<VerifiedToken> {
    const { header, claims, kid, alg } = await authentic(token);
    // Time-bound and stateful checks run on every verify, warm or cold.
    const c = checkClaims(claims, opts, clock.now().getTime() / 1000);
    // 6. Revocation, then single use.
    if (opts.revocation) {
      try {
        await opts.revocation.check({ jti: c.jti, kid, iat: c.iat, ...(c.sub !== undefined ? { sub: c.sub } : {}) });
      } catch (e) {
        if (isTokenRejected(e)) throw e;
        reject('REVOCATION_STALE', 'the revocation list could not be consulted');
      }
    }
    if (vo.singleUse) {
      if (!opts.singleUse) throw configError('verify({ singleUse: true }) needs a singleUse store');
      // Remembered for as long as this validator would accept the token: up to exp + skew.
      await opts.singleUse.consume(c.jti, new Date((c.exp + opts.clockSkewSeconds) * 1000));
    }
    return { header, claims, kid, alg, ...c };
  }

  return {
    async verify(token: string, vo: VerifyOptions = {}): Promise<VerifiedToken> {
      if (closed) throw new KeyturnError('VALIDATOR_CLOSED', 'verify() called after close()');
      try {
        return await check(token, vo);
      } catch (e) {
        if (e instanceof KeyturnError && e.code === 'VALIDATOR_CONFIG_INVALID') throw e;
        const rejected = e instanceof TokenRejected ? e : new TokenRejected('VALIDATOR_ERROR', 'the token could not be validated');
        try {
          opts.onReject?.(rejected.code);
        } catch {
          // A failing hook must not change the verdict.
        }
        throw rejected;
      }
    },
    close(): void {
      closed = true;
      keys.close();
    },
  };
}
