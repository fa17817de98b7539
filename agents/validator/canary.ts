import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { IssuerPolicy } from '../planner/policy-types.js';
import { CANARY_AUDIENCE } from '../shared/canary.js';

export interface CanaryVerdict {
  ok: boolean;
  failures: string[];
}

/**
 * The rotation's canary check, done as a relying party does it: fetch the JWKS over HTTP (no
 * cache), then verify the token signed by the new key and the one signed by the previous key.
 */
export async function checkCanaries(opts: {
  policy: IssuerPolicy;
  jwksUrl: string;
  expectedNewKid: string;
  canaryToken: string;
  previousToken: string | null;
  fetchImpl?: typeof fetch;
}): Promise<CanaryVerdict> {
  const failures: string[] = [];
  let jwks: JSONWebKeySet;
  try {
    const res = await (opts.fetchImpl ?? fetch)(opts.jwksUrl, { headers: { 'cache-control': 'no-cache' }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) return { ok: false, failures: [`JWKS ${opts.jwksUrl} answered ${res.status}`] };
    jwks = (await res.json()) as JSONWebKeySet;
  } catch (e) {
    return { ok: false, failures: [`JWKS ${opts.jwksUrl} unreachable: ${(e as Error).message}`] };
  }
  const keySet = createLocalJWKSet(jwks);
  // Each canary is checked as of the moment it was minted: the check is about keys and JWKS, and a
  // run resumed after a crash may reach it after a short-lived canary has expired.
  const verify = async (label: string, token: string) => {
    try {
      const iat = decodeJwt(token).iat;
      await jwtVerify(token, keySet, {
        ...(typeof iat === 'number' ? { currentDate: new Date(iat * 1000) } : {}),
        algorithms: [opts.policy.algorithm],
        issuer: opts.policy.issuer,
        // Canaries carry only their own audience, which no relying party accepts; one minted before
        // they did (a rotation in flight across the upgrade) carries the issuer's.
        audience: [CANARY_AUDIENCE, ...opts.policy.audiences],
        typ: 'at+jwt',
        clockTolerance: opts.policy.clockSkewSeconds,
        requiredClaims: ['exp', 'iat', 'jti'],
      });
    } catch (e) {
      failures.push(`${label}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  };
  if (decodeProtectedHeader(opts.canaryToken).kid !== opts.expectedNewKid) failures.push('new-key canary: not signed by the new key');
  if (!jwks.keys.some((k) => k.kid === opts.expectedNewKid)) failures.push(`new key ${opts.expectedNewKid} is not served by the JWKS`);
  await verify('new-key canary', opts.canaryToken);
  if (opts.previousToken) await verify('previous-key canary', opts.previousToken);
  return { ok: failures.length === 0, failures };
}
