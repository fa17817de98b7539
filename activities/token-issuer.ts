import type { AppendAudit } from '../agents/auditor/types.js';
import { pauseIssuance, resumeIssuance } from '../agents/token-issuer/issuance-control.js';
import type { TokenIssuer } from '../agents/token-issuer/token-issuer.js';
import type { Pool } from '../db/pool.js';
import { actorFor, asActivity, auditSeqsOfThisActivity } from './context.js';

export interface TokenIssuerActivityDeps {
  pool: Pool;
  tokenIssuer: TokenIssuer;
  appendAudit: AppendAudit;
}

/**
 * TokenIssuer's activities. The canary is a scope-less token for `keyturn:canary` that lives at most
 * a few minutes; it crosses history only to reach the Validator, and cannot be used for anything else (no scope).
 */
export function createTokenIssuerActivities(deps: TokenIssuerActivityDeps) {
  return {
    async issueCanary(input: { issuer: string; step: string }) {
      return asActivity(async () => {
        const t = await deps.tokenIssuer.issueCanary(input.issuer, { actor: actorFor('TokenIssuer'), step: input.step });
        return { token: t.accessToken, kid: t.kid, auditSeqs: await auditSeqsOfThisActivity(deps.pool) };
      });
    },
    async pauseIssuance(input: { issuer: string; reason: string; policyVersion: string }) {
      await pauseIssuance(deps.pool, input.issuer, input.reason, actorFor('TokenIssuer'), { appendAudit: deps.appendAudit, policyVersion: input.policyVersion });
      return { auditSeqs: await auditSeqsOfThisActivity(deps.pool) };
    },
    async resumeIssuance(input: { issuer: string; policyVersion: string }) {
      await resumeIssuance(deps.pool, input.issuer, actorFor('TokenIssuer'), { appendAudit: deps.appendAudit, policyVersion: input.policyVersion });
      return { auditSeqs: await auditSeqsOfThisActivity(deps.pool) };
    },
  };
}

export type TokenIssuerActivities = ReturnType<typeof createTokenIssuerActivities>;
