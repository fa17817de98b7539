import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { parsePolicy } from '../agents/planner/policy.js';
import { newStartNonce } from '../agents/shared/run-starts.js';
import { signedStart, type StartSigner } from '../agents/approvals/start-request.js';
import { KeyturnError } from '../config/errors.js';
import { policyChangeWorkflow } from '../workflows/policy-change.js';
import { display } from '../workflows/display.js';

/** Validates the document here (a clear error, nothing started), then starts the gated change. */
/** `signStart` signs the start request as the requester (their approver key). */
export async function startPolicyChange(client: Client, input: { text: string; reason: string; requester: string; taskQueue: string; signStart?: StartSigner }): Promise<WorkflowHandle<typeof policyChangeWorkflow>> {
  if (!input.reason.trim()) throw new KeyturnError('REASON_REQUIRED', 'a policy change needs a reason', 'Pass --reason "…"; approvers see it and it is audited.');
  const version = parsePolicy(input.text).version;
  const workflowId = `policy-${version.slice(0, 12)}-${randomBytes(3).toString('hex')}`;
  return client.workflow.start(policyChangeWorkflow, {
    workflowId,
    taskQueue: input.taskQueue,
    args: [await signedStart({ text: input.text, reason: input.reason, requester: input.requester, startNonce: newStartNonce() }, { kind: 'policy-change', workflowId, requester: input.requester, signer: input.signStart })],
    staticSummary: display(`Policy change to ${version.slice(0, 12)}`),
    staticDetails: display(`**Version:** ${version}\n\n**Reason:** ${input.reason}\n\n**Requested by:** ${input.requester}`),
    searchAttributes: { KeyturnRequester: [input.requester], KeyturnPhase: ['proposing'] },
  });
}
