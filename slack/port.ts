import type { Decision } from '../agents/approvals/attestation.js';
import type { ApprovalPolicy, Policy } from '../agents/planner/policy-types.js';
import type { RevokeCommand } from './revoke-command.js';

/**
 * The Slack app's boundary to the workflow side. `slack/temporal-port.ts` implements it with
 * @temporalio/client; tests use a recording implementation.
 */
export interface RunState {
  workflowId: string;
  runId: string;
  /** Issuer (rotation) or subject (revocation) of the run; picks the approvals policy. */
  subject: string;
  kind: 'rotation' | 'revocation' | 'policy';
  planHash?: string;
  phase: string;
  /** The requester as the sign-off gate compares it (a Slack user id, `cli:<name>`…). */
  requester?: string;
  /** True once the run no longer waits for sign-off (decided, expired, ended). */
  decided: boolean;
  /** Who may decide, as pinned by the run itself; absent for runs that do not report it (the current policy is read then). */
  approvals?: Pick<ApprovalPolicy, 'approvers' | 'channels' | 'people' | 'groups'>;
}

export interface DecideInput {
  workflowId: string;
  runId: string;
  planHash: string;
  decision: Decision;
  /** Slack user id of the person who clicked. */
  approver: string;
  reason?: string;
  /** The policy-listed user group through which the approver is allowed. */
  viaGroup?: string;
  /** Every such user group, when more than one. */
  viaGroups?: string[];
}

export interface StartedRun {
  workflowId: string;
  runId: string;
  webUrl?: string;
}

export interface RunStatusView {
  workflowId: string;
  runId?: string;
  workflowStatus: string;
  phase: string;
  planHash?: string;
  approvals: Array<{ approver: string; decision: string; viaGroup?: string }>;
  quorum?: number;
  deadlines: Record<string, string>;
  webUrl?: string;
}

export interface KeyturnPort {
  runState(workflowId: string): Promise<RunState | undefined>;
  /** Signs the decision with the Slack channel's key and signals the run. */
  decide(input: DecideInput): Promise<void>;
  startRotation(input: { issuer: string; reason: string; requester: string }): Promise<StartedRun>;
  /**
   * The recent rotations and revocations of these issuers, or the one run given when it is of one
   * of them; a run of any other issuer, or of none (a policy change), is left out as if unknown.
   */
  status(scope: { issuers: readonly string[]; workflowId?: string }): Promise<RunStatusView[]>;
  /** Absent until revocation workflows exist; the command then answers "not yet available". */
  revoke?(input: RevokeCommand & { requester: string }): Promise<StartedRun>;
  /** The issuer of a signing key, so a kid revocation is authorised against that issuer's approvers. */
  kidIssuer?(kid: string): Promise<string | undefined>;
  /** Issuers with unexpired tokens of this jti or sub: the deny-list is not per issuer, so each is affected. */
  tokenIssuers?(kind: 'jti' | 'sub', value: string): Promise<string[]>;
  webUiLink(workflowId: string, runId?: string): string;
}

/** How the Slack app reads the policy: the approvals of one issuer, and every issuer. */
export interface ApprovalsAccess {
  approvalsFor(issuer: string): ApprovalPolicy | undefined;
  issuers(): string[];
}

/** ApprovalsAccess over the loaded policy (re-read on each call, so a reload is picked up). */
export function approvalsFromPolicy(policy: () => Policy): ApprovalsAccess {
  return {
    approvalsFor: (issuer) => policy().issuers.find((p) => p.issuer === issuer)?.approvals,
    issuers: () => policy().issuers.map((p) => p.issuer),
  };
}
