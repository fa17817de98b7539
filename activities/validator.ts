import { issuerPolicy } from '../agents/planner/policy.js';
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
 * After a revocation: a relying party's validator (JWKS over HTTP, the revocation list) must now
 * refuse a token signed with the revoked key. Returns the rejection code; throws (so the activity
 * retries until propagation is seen) while the token is still accepted.
 */
async function confirmRefused(deps: ValidatorActivityDeps, input: { issuer: string; token: string; policyVersion: string }) {
  const p = issuerPolicy(await deps.currentPolicy(), input.issuer);
  const validator = createValidator({
    issuer: p.issuer, audience: p.audiences[0]!, algorithms: [p.algorithm], jwksUri: deps.jwksUrl(input.issuer),
    clockSkewSeconds: p.clockSkewSeconds, maxTokenAgeSeconds: p.maxTokenAgeSeconds, jwksCooldownMs: 0,
    ...(deps.revocation ? { revocation: await deps.revocation() } : {}),
  });
  try {
    await validator.verify(input.token);
  } catch (e) {
    if (!isTokenRejected(e)) throw e;
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

export type ValidatorActivities = ReturnType<typeof createValidatorActivities>;
