import type { Client } from '@temporalio/client';

/** Runs waiting for sign-off, read from Temporal visibility (the KeyturnPhase search attribute). */
export async function pendingApprovals(client: Client): Promise<{ count: number; oldestAgeSeconds: number }> {
  let count = 0;
  let oldest = 0;
  for await (const wf of client.workflow.list({ query: "ExecutionStatus = 'Running' AND KeyturnPhase = 'awaiting_sign_off'" })) {
    count++;
    oldest = Math.max(oldest, (Date.now() - wf.startTime.getTime()) / 1000);
  }
  return { count, oldestAgeSeconds: oldest };
}
