import { display } from './display.js';
import { tellRecording } from './notify.js';
import { failureReason } from './failure.js';
import { CancellationScope, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { AuditorActivities } from '../activities/auditor.js';
import type { PolicyActivities, PolicyProposal } from '../activities/policy.js';
import { statusQuery } from './rotation.js';
import { renderCurrentDetails } from './current-details.js';
import { SignOffGate } from './sign-off.js';
import { pinnedApprovals, type RecordedVote, type RunStatus } from './types.js';

export interface PolicyChangeInput {
  /** The whole proposed policy.md (not secret: a policy holds no keys). */
  text: string;
  reason: string;
  requester: string;
  /** One-time nonce of the start request, consumed by the proposal check. */
  startNonce?: string;
  /** The requester's signature over this start request (agents/approvals/start-request.ts), when they signed it. */
  startProof?: string;
}

export interface PolicyChangeResult {
  outcome: 'activated' | 'rejected' | 'expired' | 'refused' | 'failed';
  reason?: string;
  version?: string;
  changes: string[];
  approvals: RecordedVote[];
  auditSeqRange: [number, number] | null;
}

const retryable = { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 } } as const;
const policy = proxyActivities<PolicyActivities>(retryable);
const auditor = proxyActivities<AuditorActivities>(retryable);

/**
 * A policy change: validated and diffed against the version in force, refused when it would make an
 * in-flight rotation unsafe, then the same sign-off gate as rotations (attestation, quorum of the
 * policy in force, no self-approval, expiry). Only an approved change becomes the active version.
 */
export async function policyChangeWorkflow(input: PolicyChangeInput): Promise<PolicyChangeResult> {
  const seqs: number[] = [];
  const track = <T extends { auditSeqs?: number[] }>(r: T): T => {
    if (r.auditSeqs) seqs.push(...r.auditSeqs);
    return r;
  };
  const status: RunStatus = { phase: 'proposing', approvals: [], deadlines: {} };
  setHandler(statusQuery, () => status);
  let changes: string[] = [];
  let shown: string | undefined;
  const render = () => setCurrentDetails(renderCurrentDetails(status, shown, changes.length ? `**Changes:**\n${changes.map((c) => `- ${c}`).join('\n')}` : undefined));
  const notice = tellRecording(status, render);
  const phase = (p: string, details?: string) => {
    status.phase = p;
    shown = details;
    upsertSearchAttributes({ KeyturnPhase: [p] });
    render();
  };
  /** Set once sign-off is asked for: the run's end records the decision signals it left unhandled. */
  let signOffGate: SignOffGate | undefined = undefined;
  const finish = async (outcome: PolicyChangeResult['outcome'], extra: Partial<PolicyChangeResult> = {}): Promise<PolicyChangeResult> => {
    phase(outcome, extra.reason);
    upsertSearchAttributes({ KeyturnOutcome: [outcome] });
    await CancellationScope.nonCancellable(async () => {
      track(await auditor.recordHandoff.executeWithOptions({ summary: display(`Orchestrator → Auditor: record policy change ${outcome}`) }, [{ from: 'Orchestrator', to: 'Auditor', action: `policy.change.${outcome}`, subject: { version: extra.version ?? status.planHash ?? 'unknown' }, policyVersion: status.policyVersion ?? 'unknown', outcome: outcome === 'activated' ? 'ok' : outcome === 'failed' ? 'failed' : 'refused', details: { reason: extra.reason ?? null, changes } }]));
      await notice(`Orchestrator → approvers: policy change ${outcome}`, { type: `run.${outcome === 'activated' ? 'completed' : outcome}`, kind: 'policy', workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, subject: 'policy', reason: extra.reason ?? null });
      if (signOffGate) track(await signOffGate.recordUnhandled(outcome));
    });
    // The result is display (clear in the Web UI): public facts only, never key material or the plan.
    return display({ outcome, changes, approvals: status.approvals, auditSeqRange: seqs.length ? [Math.min(...seqs), Math.max(...seqs)] : null, ...extra });
  };

  upsertSearchAttributes({ KeyturnRequester: [input.requester] });
  let proposal: PolicyProposal;
  try {
    proposal = track(await policy.proposePolicyChange.executeWithOptions({ summary: display('Orchestrator → Planner: validate the proposed policy and diff it against the version in force') }, [{ text: input.text, ...(input.startNonce ? { startNonce: input.startNonce } : {}), ...(input.startProof ? { reason: input.reason, requester: input.requester, startProof: input.startProof } : {}) }]));
  } catch (e) {
    return finish('failed', { reason: `the proposal is invalid: ${failureReason(e)}` });
  }
  changes = proposal.changes;
  Object.assign(status, { planHash: proposal.nextVersion, policyVersion: proposal.expectedActive, quorum: proposal.approvals.quorum, signOff: pinnedApprovals(proposal.approvals), plan: { changes } });
  if (proposal.nextVersion === proposal.expectedActive) return finish('failed', { reason: 'unchanged: the proposal is the version in force' });
  if (proposal.refusals.length) return finish('refused', { reason: proposal.refusals.join('; '), version: proposal.nextVersion });

  phase('awaiting_sign_off', `Version ${proposal.nextVersion.slice(0, 12)}: ${input.reason}`);
  const gate = new SignOffGate({
    kind: 'policy', subject: 'policy', planHash: proposal.nextVersion, requester: input.requester, policyVersion: proposal.expectedActive,
    approvals: proposal.approvals, tell: notice, summary: { diff: changes, version: proposal.nextVersion, reason: input.reason, requester: input.requester },
    onChange: () => {
      if (gate.state.deadline) status.deadlines.approval = gate.state.deadline;
      render();
    },
  });
  status.approvals = gate.state.votes;
  signOffGate = gate;
  const decision = await gate.await();
  seqs.push(...decision.auditSeqs);
  if (decision.decided === 'rejected') return finish('rejected', { reason: decision.rejectionReason ?? 'rejected', version: proposal.nextVersion });
  if (decision.decided !== 'approved') return finish('expired', { reason: 'no sign-off before the deadline', version: proposal.nextVersion });

  phase('activating');
  try {
    const approvers = decision.votes.filter((v) => v.decision === 'approve').map((v) => v.approver);
    const activated = track(await policy.activatePolicyChange.executeWithOptions({ summary: display(`Security lead → Planner: activate policy ${proposal.nextVersion.slice(0, 12)}…`) }, [{ text: input.text, approvers, votes: decision.votes, reason: input.reason, requester: input.requester, expectedActive: proposal.expectedActive }]));
    return finish('activated', { version: activated.version });
  } catch (e) {
    return finish('refused', { reason: failureReason(e), version: proposal.nextVersion });
  }
}
