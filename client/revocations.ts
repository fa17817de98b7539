import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { RevocationRequest } from '../activities/revocation.js';
import { newStartNonce } from '../agents/shared/run-starts.js';
import { signedStart, type StartSigner } from '../agents/approvals/start-request.js';
import { KeyturnError } from '../config/errors.js';
import { revocationWorkflowId } from '../workflows/ids.js';
import { revocationWorkflow } from '../workflows/revocation.js';
import { display } from '../workflows/display.js';

/** Starts a revocation run: containment happens at once, the permanent revocation waits for sign-off. */
/** `signStart` signs the start request as the requester (their approver key, or the Slack app's for a Slack user). */
export async function startRevocation(client: Client, input: RevocationRequest & { taskQueue: string; signStart?: StartSigner }): Promise<WorkflowHandle<typeof revocationWorkflow>> {
  if (!input.reason.trim()) throw new KeyturnError('REASON_REQUIRED', 'a revocation needs a reason', 'Pass --reason "…"; approvers see it and it is audited.');
  if (!input.value.trim()) throw new KeyturnError('REVOCATION_INVALID', `no ${input.kind} given`, 'Pass --kid, --jti or --sub with a value.');
  if (input.before !== undefined && (input.kind !== 'sub' || Number.isNaN(Date.parse(input.before)))) {
    throw new KeyturnError('REVOCATION_INVALID', '--before needs --sub and an ISO-8601 time', 'For example --sub my-client --before 2026-11-22T12:00:00Z.');
  }
  const { taskQueue, signStart, ...request } = input;
  const workflowId = revocationWorkflowId(input.kind, input.value, randomBytes(4).toString('hex'));
  return client.workflow.start(revocationWorkflow, {
    workflowId,
    taskQueue,
    args: [await signedStart({ ...request, startNonce: newStartNonce() }, { kind: 'revocation', workflowId, requester: input.requester, signer: signStart })],
    staticSummary: display(`Revoke ${input.kind} ${input.value}`),
    staticDetails: display(`**Target:** ${input.kind} ${input.value}\n\n**Reason:** ${input.reason}\n\n**Requested by:** ${input.requester}${input.issuer ? `\n\n**Issuer:** ${input.issuer}` : ''}`),
    searchAttributes: { KeyturnRequester: [input.requester], KeyturnPhase: ['planning'], ...(input.issuer ? { KeyturnIssuer: [input.issuer] } : {}) },
  });
}
