/** Shapes that cross the workflow boundary: ids, hashes and facts, never key material. */
export type Requester = { kind: 'cli' | 'slack' | 'schedule'; id: string };

export interface RotationInput {
  issuer: string;
  reason: string;
  requester: Requester;
  planId: string;
  /** One-time nonce of the start request, consumed by planning (absent in histories from before it). */
  startNonce?: string;
  /** The requester's signature over this start request (agents/approvals/start-request.ts), when they signed it. */
  startProof?: string;
}

export type RunOutcome = 'completed' | 'rejected' | 'expired' | 'rolled_back' | 'failed';

export interface RecordedVote {
  approver: string;
  decision: 'approve' | 'reject';
  channel: string;
  at: string;
  reason?: string;
  viaGroup?: string;
  viaGroups?: string[];
}

export interface RunResult {
  outcome: RunOutcome;
  /** The Planner's plan hash, once planned: the run's static details were fixed before it existed. */
  planHash?: string;
  reason?: string;
  newKid?: string;
  previousKid?: string;
  approvals: RecordedVote[];
  /** First and last audit seq this run wrote: the auditor's bridge from Temporal to the log. */
  auditSeqRange: [number, number] | null;
}

export interface PinnedApprovals {
  approvers: string[];
  channels: Array<'slack' | 'cli'>;
  people?: string[][];
  /** Policy changes: the quorum each touched issuer (or the whole policy) needs from its own approvers. */
  groups?: Array<{ label: string; approvers: string[]; quorum: number }>;
}

export const pinnedApprovals = (a: PinnedApprovals): PinnedApprovals => ({
  approvers: [...a.approvers],
  channels: [...a.channels],
  ...(a.people ? { people: a.people.map((ids) => [...ids]) } : {}),
  ...(a.groups ? { groups: a.groups.map((g) => ({ label: g.label, approvers: [...g.approvers], quorum: g.quorum })) } : {}),
});

export interface RunStatus {
  phase: string;
  planHash?: string;
  plan?: unknown;
  approvals: RecordedVote[];
  quorum?: number;
  /** Who may decide this run and through which channels: the approvals pinned when it was planned (public ids only). */
  signOff?: PinnedApprovals;
  deadlines: Record<string, string>;
  /** Notices people never got (Slack refused or stayed down), by event type. */
  undeliveredNotices?: string[];
  policyVersion?: string;
  outcome?: RunOutcome;
}
