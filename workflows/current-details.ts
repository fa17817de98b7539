import type { RunStatus } from './types.js';

const DEADLINE_LABELS: Record<string, string> = { approval: 'sign-off by', activateAt: 'activation at', retireAt: 'retirement at' };

/**
 * The run's current details (Markdown, shown in clear in the Web UI's User Metadata tab): the
 * phase and what it is doing, the plan hash and policy version, every deadline so far and the
 * approvals counted so far. Public facts only.
 */
export function renderCurrentDetails(status: RunStatus, details?: string, extra?: string): string {
  const parts = [`**Phase:** ${status.phase}`];
  if (details) parts.push(details);
  if (status.planHash) parts.push(`**Plan hash:** ${status.planHash}`);
  if (status.policyVersion) parts.push(`**Policy version:** ${status.policyVersion.slice(0, 12)} (kept for this run)`);
  const deadlines = Object.entries(status.deadlines).map(([k, at]) => `${DEADLINE_LABELS[k] ?? k} ${at}`);
  if (deadlines.length) parts.push(`**Deadlines:** ${deadlines.join('; ')}`);
  if (extra) parts.push(extra);
  if (status.undeliveredNotices?.length) parts.push(`**Undelivered notices:** ${status.undeliveredNotices.join(', ')} (people were not told; see the failed notify activities)`);
  if (status.approvals.length || status.quorum) {
    const votes = status.approvals.map((v) => `${v.approver} (${v.decision})`).join(', ') || 'none yet';
    parts.push(`**Approvals:** ${votes}${status.quorum && status.quorum > 1 ? ` (quorum ${status.quorum})` : ''}`);
  }
  return parts.join('\n\n');
}
