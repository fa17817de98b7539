import { ApplicationFailure } from '@temporalio/common';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { containedKeyOfRun } from '../agents/revocation-responder/containment.js';
import { issuerPolicy } from '../agents/planner/policy.js';
import { CANARY_AUDIENCE } from '../agents/shared/canary.js';
import { fixedClock } from '../agents/shared/clock.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { checkCanaries } from '../agents/validator/canary.js';
import { createValidator, isTokenRejected, type RevocationChecker } from '../agents/validator/index.js';
import { KeyturnError } from '../config/errors.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { Pool } from '../db/pool.js';
import { actorFor, requestIdFor } from './context.js';

export interface ValidatorActivityDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  currentPolicy: () => Promise<Policy>;
  /** Where relying parties fetch this issuer's JWKS. */
  jwksUrl: (issuer: string) => string;
  /** The worker's own LISTEN/NOTIFY revocation list, as every relying party holds one. */
  revocation?: () => Promise<RevocationChecker>;
}

/** Validator's activities: verify what the rotation produced, as a relying party would. */
export function createValidatorActivities(deps: ValidatorActivityDeps) {
  return {
    async confirmRefused(input: { issuer: string; token: string; policyVersion: string }) {
      return confirmRefused(deps, input);
    },
    async validateCanaries(input: { issuer: string; expectedNewKid: string; canaryToken: string; previousToken: string | null; policyVersion: string }) {
      const policy = issuerPolicy(await deps.currentPolicy(), input.issuer);
      const verdict = await checkCanaries({ policy, jwksUrl: deps.jwksUrl(input.issuer), expectedNewKid: input.expectedNewKid, canaryToken: input.canaryToken, previousToken: input.previousToken });
      const entry = await deps.appendAudit(deps.pool, {
        actor: actorFor('Validator'),
        action: 'rotation.canary',
        subject: { kid: input.expectedNewKid },
        policyVersion: input.policyVersion,
        outcome: verdict.ok ? 'ok' : 'failed',
        details: { handoff: 'TokenIssuer → Validator', failures: verdict.failures },
        requestId: requestIdFor('canary'),
      });
      return { ...verdict, auditSeqs: [entry.seq] };
    },
  };
}

/**
 * What a relying party refuses the probe for once its key is revoked: nothing else proves the
 * revocation reached it. REVOKED_JTI counts because approval deny-lists every token under the key,
 * the probe's included, in the same transaction as the key's own entry.
 */
const KEY_REFUSALS: readonly string[] = ['REVOKED_KID', 'REVOKED_JTI', 'KID_UNKNOWN'];

/**
 * After a revocation: a relying party's validator (JWKS over HTTP, the revocation list) must now
 * refuse the probe, a canary signed with the revoked key, for that key. The probe must name the key
 * the run contained, and is verified with that key's algorithm as KeyManager recorded it: neither
 * is taken from the probe. It is judged as of the moment it was minted (sign-off may come long after
 * a short-lived canary expired) and against its own audience, so neither an expiry nor an audience
 * is taken for the revocation. Returns the rejection code; throws (so the activity retries until
 * propagation is seen) while the probe is accepted or refused for another reason.
 */
async function confirmRefused(deps: ValidatorActivityDeps, input: { issuer: string; token: string; policyVersion: string }) {
  const p = issuerPolicy(await deps.currentPolicy(), input.issuer);
  const probe = probeClaims(input.token);
  const contained = await containedKeyOfRun(deps.pool, actorFor('Validator').workflowId ?? 'standalone');
  if (!contained || probe.kid !== contained.kid) {
    throw ApplicationFailure.create({
      type: 'REVOCATION_PROBE_MISMATCH',
      message: 'the probe is not signed with the key this run contained: nothing it shows would confirm the revocation',
      nonRetryable: true,
    });
  }
  const validator = createValidator({
    // Probes minted before canaries had an audience of their own carry the issuer's.
    issuer: p.issuer,
    audience: probe.audiences.includes(CANARY_AUDIENCE) ? CANARY_AUDIENCE : (probe.audiences[0] ?? p.audiences[0]!),
    algorithms: [contained.alg ?? p.algorithm],
    jwksUri: deps.jwksUrl(input.issuer),
    clockSkewSeconds: p.clockSkewSeconds, maxTokenAgeSeconds: p.maxTokenAgeSeconds, jwksCooldownMs: 0,
    ...(probe.mintedAt ? { clock: fixedClock(probe.mintedAt) } : {}),
    ...(deps.revocation ? { revocation: await deps.revocation() } : {}),
  });
  try {
    await validator.verify(input.token);
  } catch (e) {
    if (!isTokenRejected(e)) throw e;
    if (!KEY_REFUSALS.includes(e.code)) {
      throw new KeyturnError('REVOCATION_NOT_SEEN', `the probe under the revoked key was refused, but for ${e.code}, not for its key`, 'Propagation is retried; check LISTEN/NOTIFY, the JWKS cache and the revocation list if this persists.');
    }
    const entry = await deps.appendAudit(deps.pool, {
      actor: actorFor('Validator'), action: 'revocation.verified', subject: { issuer: input.issuer }, policyVersion: input.policyVersion, outcome: 'ok',
      details: { handoff: 'RevocationResponder → Validator', code: e.code }, requestId: requestIdFor('confirm-refused'),
    });
    return { code: e.code, auditSeqs: [entry.seq] };
  } finally {
    validator.close();
  }
  throw new KeyturnError('REVOCATION_NOT_SEEN', 'a token under the revoked key still verifies', 'Propagation is retried; check LISTEN/NOTIFY and the JWKS cache if this persists.');
}

/** The probe's kid, audiences and minting time, read without verifying: they only choose what it is checked against. */
function probeClaims(token: string): { kid?: string; audiences: string[]; mintedAt?: Date } {
  let claims: JWTPayload;
  let kid: unknown;
  try {
    claims = decodeJwt(token);
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return { audiences: [] };
  }
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  return {
    ...(typeof kid === 'string' ? { kid } : {}),
    audiences,
    ...(typeof claims.iat === 'number' && Number.isFinite(claims.iat) ? { mintedAt: new Date(claims.iat * 1000) } : {}),
  };
}

export type ValidatorActivities = ReturnType<typeof createValidatorActivities>;
