import type { AppendAudit, RosterRole } from '../agents/auditor/types.js';
import type { Pool } from '../db/pool.js';
import { actorFor, requestIdFor } from './context.js';

export interface AuditorDeps {
  pool: Pool;
  appendAudit: AppendAudit;
}

export interface HandoffInput {
  from: RosterRole;
  to: RosterRole;
  action: string;
  subject: Record<string, string>;
  policyVersion: string;
  outcome: 'ok' | 'refused' | 'failed';
  details?: Record<string, unknown>;
}

/** Records handoffs that carry no effect of their own (sign-off requested, run outcome). */
export function createAuditorActivities(deps: AuditorDeps) {
  return {
    async recordHandoff(input: HandoffInput): Promise<{ auditSeqs: number[] }> {
      const actor = actorFor(input.from);
      const entry = await deps.appendAudit(deps.pool, {
        actor,
        action: input.action,
        subject: input.subject,
        policyVersion: input.policyVersion,
        outcome: input.outcome,
        details: { handoff: `${input.from} → ${input.to}`, ...input.details },
        // Per call: a run may hand the same action over more than once (a sign-off check left unanswered again).
        requestId: requestIdFor(`handoff:${input.action}:${actor.activityId}`),
      });
      return { auditSeqs: [entry.seq] };
    },
  };
}

export type AuditorActivities = ReturnType<typeof createAuditorActivities>;
