import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { newStartNonce } from '../agents/shared/run-starts.js';
import { signedStart, type StartSigner } from '../agents/approvals/start-request.js';
import { KeyturnError } from '../config/errors.js';
import { requesterLabel, rotationWorkflowId } from '../workflows/ids.js';
import { rotationWorkflow, statusQuery } from '../workflows/rotation.js';
import type { Requester, RunStatus } from '../workflows/types.js';
import { display } from '../workflows/display.js';

export interface StartRotationInput {
  issuer: string;
  reason: string;
  requester: Requester;
  taskQueue: string;
  /** Signs the start request as the requester (their approver key, or the Slack app's for a Slack user). */
  signStart?: StartSigner;
}

/**
 * Starts one rotation run. At most one per issuer is in flight: a running rotation for the same
 * issuer (found through the KeyturnIssuer search attribute) refuses the start; the Planner's lock
 * in PostgreSQL closes the race between two starters.
 */
export async function startRotation(client: Client, input: StartRotationInput): Promise<WorkflowHandle<typeof rotationWorkflow>> {
  if (!input.reason.trim()) throw new KeyturnError('REASON_REQUIRED', 'a rotation needs a reason', 'Pass --reason "…"; it is shown to the approvers and kept in the audit log.');
  const running = await runningRotations(client, input.issuer);
  if (running.length > 0) {
    throw new KeyturnError('ROTATION_IN_FLIGHT', `a rotation of ${input.issuer} is already in flight: ${running[0]}`, `Follow it with \`keyturn status ${running[0]}\`, or wait for it to end.`);
  }
  const planId = randomBytes(6).toString('hex');
  const workflowId = rotationWorkflowId(input.issuer, planId);
  try {
    return await client.workflow.start(rotationWorkflow, {
      workflowId,
      taskQueue: input.taskQueue,
      args: [await signedStart({ issuer: input.issuer, reason: input.reason, requester: input.requester, planId, startNonce: newStartNonce() }, { kind: 'rotation', workflowId, requester: input.requester.id, signer: input.signStart })],
      staticSummary: display(`Rotate signing key of ${input.issuer}`),
      staticDetails: display(`**Issuer:** ${input.issuer}\n\n**Reason:** ${input.reason}\n\n**Requested by:** ${requesterLabel(input.requester)}\n\n**Plan id:** ${planId}`),
      searchAttributes: { KeyturnIssuer: [input.issuer], KeyturnRequester: [requesterLabel(input.requester)], KeyturnPhase: ['planning'] },
    });
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new KeyturnError('ROTATION_IN_FLIGHT', `workflow ${workflowId} already exists`, 'Retry; a new plan id is drawn each time.');
    }
    throw e;
  }
}

/** A string literal for a Temporal visibility query: backslashes and single quotes escaped. */
export function visibilityString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function runningRotations(client: Client, issuer: string): Promise<string[]> {
  const ids: string[] = [];
  const query = `WorkflowType = 'rotationWorkflow' AND ExecutionStatus = 'Running' AND KeyturnIssuer = ${visibilityString(issuer)}`;
  for await (const wf of client.workflow.list({ query })) {
    // Visibility lags behind a run that just ended; its own description does not.
    if ((await client.workflow.getHandle(wf.workflowId, wf.runId).describe()).status.name === 'RUNNING') ids.push(wf.workflowId);
  }
  return ids;
}

/** The status of a run: the latest of `workflowId`, or exactly `runId` when given. */
export async function rotationStatus(client: Client, workflowId: string, runId?: string): Promise<RunStatus & { workflowStatus: string; runId: string }> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await handle.describe().catch((e: unknown) => {
    if (e instanceof WorkflowNotFoundError) throw new KeyturnError('RUN_NOT_FOUND', `no run ${workflowId}`, 'List runs with `keyturn status`.');
    throw new KeyturnError('TEMPORAL_UNAVAILABLE', `could not read run ${workflowId} from Temporal: ${(e as Error).message}`, 'Check TEMPORAL_ADDRESS and that the Temporal server is up, then try again.');
  });
  const status = description.status.name === 'RUNNING'
    ? await handle.query(statusQuery)
    : { phase: description.status.name.toLowerCase(), approvals: [], deadlines: {} };
  return { ...status, workflowStatus: description.status.name, runId: description.runId };
}

export function webUiLink(uiBase: string | undefined, namespace: string, workflowId: string, runId?: string): string {
  const base = (uiBase ?? 'http://127.0.0.1:8233').replace(/\/$/, '');
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`;
}
