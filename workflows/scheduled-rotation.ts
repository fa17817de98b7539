import { ParentClosePolicy, executeChild, uuid4 } from '@temporalio/workflow';
import { display, fromDisplayEnvelope } from './display.js';
import { rotationWorkflowId } from './ids.js';
import { rotationWorkflow } from './rotation.js';
import type { RunResult } from './types.js';

export interface ScheduledRotationInput {
  issuer: string;
  /** e.g. "scheduled rotation (every 30d)"; shown to approvers. */
  reason: string;
}

/**
 * What an issuer's Temporal Schedule starts: one ordinary rotation run, as a child named like any
 * other (`rotate-<issuer>-<plan id>`), requested by the schedule. It waits for the child, so the
 * schedule's overlap policy (skip) sees a rotation in flight and starts no second one.
 */
export async function scheduledRotationWorkflow(input: ScheduledRotationInput): Promise<RunResult> {
  const planId = uuid4().replace(/-/g, '').slice(0, 12);
  const requester = { kind: 'schedule' as const, id: `schedule:${input.issuer}` };
  const received = await executeChild(rotationWorkflow, {
    workflowId: rotationWorkflowId(input.issuer, planId),
    // A dated one-time nonce in the format agents/shared/run-starts.ts reads (workflow time, uuid4 hex).
    args: [{ issuer: input.issuer, reason: input.reason, requester, planId, startNonce: `t${Date.now().toString(36)}_${uuid4().replace(/-/g, '')}` }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: display(`Rotate signing key of ${input.issuer}`),
    staticDetails: display(`**Issuer:** ${input.issuer}\n\n**Reason:** ${input.reason}\n\n**Requested by:** ${requester.id}\n\n**Plan id:** ${planId}`),
    searchAttributes: { KeyturnIssuer: [input.issuer], KeyturnRequester: [requester.id], KeyturnPhase: ['planning'] },
  });
  return display(fromDisplayEnvelope<RunResult>(received));
}
