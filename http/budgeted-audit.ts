import type { AppendAudit, AuditActor } from '../agents/auditor/types.js';
import { AuditBudgets, type AuditBudgetsOptions, type BudgetBucket } from '../agents/token-issuer/failure-audit-budget.js';
import { isKeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import type { OAuthLog } from './oauth-client-auth.js';

export interface BudgetedAuditDeps {
  pool: Pool;
  appendAudit: AppendAudit;
  log: OAuthLog;
  policyVersion: () => string;
  budget?: AuditBudgetsOptions;
}

/** One refusal, audited on its own while its bucket's budget lasts, otherwise counted into a summary. */
export interface BudgetedRefusal {
  bucket: BudgetBucket;
  reason: string;
  /** The client label the summary names. */
  client: string | undefined;
  address: string;
  actor: AuditActor;
  subject: Record<string, string>;
  details: Record<string, unknown>;
}

export interface BudgetedAudit {
  /** With `later`, nothing of it runs before the next turn of the event loop (a reply sent now goes out first); a close still waits for it. */
  record(r: BudgetedRefusal, o?: { later?: boolean }): Promise<void>;
  /** Writes the summaries of refusals past the budget in windows that have ended (with `includeOpen`, also the current one). */
  flush(o?: { includeOpen?: boolean }): Promise<void>;
}

/**
 * Refusals of one `action` in the append-only audit log, bounded per window by {@link AuditBudgets}:
 * a flood of them (each cheap to cause) would otherwise grow the log without limit. Past the budget
 * they become one `audit_budget_exceeded` summary entry per bucket. `named` names them in log lines.
 */
export function budgetedAudit(deps: BudgetedAuditDeps, action: string, named: { one: string; many: string }): BudgetedAudit {
  const budgets = new AuditBudgets(deps.budget);

  const flush = async (o: { includeOpen?: boolean } = {}): Promise<void> => {
    for (const { bucket, summary } of budgets.takeSummaries(o)) {
      const client = bucket.kind === 'client' ? bucket.clientId : '(over the audit budget)';
      try {
        await deps.appendAudit(deps.pool, {
          actor: bucket.kind === 'client' ? { role: 'TokenIssuer', client } : { role: 'TokenIssuer' },
          action,
          subject: { client },
          policyVersion: deps.policyVersion(),
          outcome: 'refused',
          details: { reason: 'audit_budget_exceeded', suppressed: summary.count, from: summary.from, to: summary.to, byReason: summary.byReason, clients: summary.clients, moreClients: summary.moreClients, addresses: summary.addresses, moreAddresses: summary.moreAddresses },
        });
      } catch (e) {
        budgets.restore(bucket, summary);
        deps.log.error({ code: isKeyturnError(e) ? e.code : 'AUDIT_FAILED' }, `could not audit the summary of ${named.many} over the audit budget`);
      }
    }
  };

  const inFlight = new Set<Promise<void>>();
  const flushAll = async (o: { includeOpen?: boolean } = {}): Promise<void> => {
    // On close, records still being written (their callers need not wait for them) finish first.
    if (o.includeOpen) await Promise.all(inFlight);
    await flush(o);
  };

  const write = async (r: BudgetedRefusal): Promise<void> => {
    await flush();
    if (!budgets.admit(r.bucket, r.reason, r.client, r.address)) return;
    try {
      await deps.appendAudit(deps.pool, { actor: r.actor, action, subject: r.subject, policyVersion: deps.policyVersion(), outcome: 'refused', details: r.details });
    } catch (e) {
      deps.log.error({ code: isKeyturnError(e) ? e.code : 'AUDIT_FAILED' }, `could not audit ${named.one}`);
    }
  };

  const record = (r: BudgetedRefusal, o: { later?: boolean } = {}): Promise<void> => {
    const written = o.later ? new Promise<void>((resolve) => setImmediate(resolve)).then(() => write(r)) : write(r);
    const p = written.finally(() => inFlight.delete(p));
    inFlight.add(p);
    return p;
  };

  return { record, flush: flushAll };
}
