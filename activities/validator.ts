import { issuerPolicy } from '../agents/planner/policy.js';
import type { Policy } from '../agents/planner/policy-types.js';
import { checkCanaries } from '../agents/validator/canary.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { Pool } from '../db/pool.js';
import { actorFor, requestIdFor } from './context.js';

export interface ValidatorActivityDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  currentPolicy: () => Promise<Policy>;
  /** Where relying parties fetch this issuer's JWKS. */
  jwksUrl: (issuer: string) => string;
}

/** Validator's activities: verify what the rotation produced, as a relying party would. */
export function createValidatorActivities(deps: ValidatorActivityDeps) {
  return {
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

export type ValidatorActivities = ReturnType<typeof createValidatorActivities>;
