import type { JWK } from 'jose';
import type { IssuerPolicy, Policy } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import { reject, type RejectionCode } from './errors.js';
import type { RevocationChecker, Validator, VerifiedToken } from './types.js';
import { createValidator } from './validator.js';

export interface IssuerValidatorsOptions {
  /** The policy in force; validators are rebuilt when its version changes. */
  policy: () => Policy;
  /** The issuer's published key set, read in-process (the introspection endpoint is the issuer). */
  publishedKeys: (issuer: string) => Promise<{ keys: JWK[] }>;
  revocation?: (issuer: IssuerPolicy) => RevocationChecker;
  onReject?: (code: RejectionCode) => void;
  clock?: Clock;
}

/** Routes a token to the validator of the issuer and audience it names; every check still runs there. */
export interface IssuerValidators {
  verify(token: string): Promise<VerifiedToken>;
  close(): void;
}

const MAX_ROUTED_TOKEN_BYTES = 8192;

/**
 * One {@link createValidator} per (issuer, audience) of the policy, fed from KeyManager's published
 * set instead of an HTTP round-trip to ourselves. The unverified `iss`/`aud` only choose which
 * validator runs; that validator then checks them exactly, so a lie in them is still refused.
 */
export function createIssuerValidators(o: IssuerValidatorsOptions): IssuerValidators {
  let built: { version: string; byKey: Map<string, Validator> } | undefined;

  const build = (): Map<string, Validator> => {
    const policy = o.policy();
    if (built?.version === policy.version) return built.byKey;
    for (const v of built?.byKey.values() ?? []) v.close();
    const byKey = new Map<string, Validator>();
    for (const p of policy.issuers) {
      for (const audience of p.audiences) {
        byKey.set(routeKey(p.issuer, audience), createValidator({
          issuer: p.issuer,
          audience,
          algorithms: [p.algorithm],
          jwksUri: `${p.issuer.replace(/\/$/, '')}/.well-known/jwks.json`,
          fetch: inProcessJwks(() => o.publishedKeys(p.issuer), p.jwksMaxAgeSeconds),
          jwksCooldownMs: 1_000,
          clockSkewSeconds: p.clockSkewSeconds,
          maxTokenAgeSeconds: p.maxTokenAgeSeconds,
          ...(o.revocation ? { revocation: o.revocation(p) } : {}),
          ...(o.onReject ? { onReject: o.onReject } : {}),
          ...(o.clock ? { clock: o.clock } : {}),
        }));
      }
    }
    built = { version: policy.version, byKey };
    return byKey;
  };

  return {
    async verify(token) {
      const byKey = build();
      const claims = token.length <= MAX_ROUTED_TOKEN_BYTES ? routingClaims(token) : undefined;
      const iss = typeof claims?.iss === 'string' ? claims.iss : undefined;
      const auds = typeof claims?.aud === 'string' ? [claims.aud] : Array.isArray(claims?.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
      const validator = auds.map((a) => byKey.get(routeKey(iss ?? '', a))).find((v) => v !== undefined)
        ?? [...byKey.entries()].find(([k]) => k.startsWith(`${iss ?? ''}\u0000`))?.[1]
        ?? byKey.values().next().value;
      if (!validator) {
        o.onReject?.('ISS_MISMATCH');
        reject('ISS_MISMATCH', 'no issuer is configured in the policy');
      }
      return validator.verify(token);
    },
    close() {
      for (const v of built?.byKey.values() ?? []) v.close();
      built = undefined;
    },
  };
}

const routeKey = (issuer: string, audience: string) => `${issuer}\u0000${audience}`;

function routingClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (!payload || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A fetch that answers the validator's JWKS request from memory, with the policy's max-age. */
function inProcessJwks(keys: () => Promise<{ keys: JWK[] }>, maxAgeSeconds: number): typeof fetch {
  return async () =>
    new Response(JSON.stringify(await keys()), {
      status: 200,
      headers: { 'content-type': 'application/jwk-set+json', 'cache-control': `max-age=${Math.max(1, Math.min(maxAgeSeconds, 5))}` },
    });
}
