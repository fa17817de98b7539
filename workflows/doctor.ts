import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DoctorActivities } from '../activities/doctor.js';

const { recordProbe } = proxyActivities<DoctorActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

/** End-to-end self-check: a workflow on the real server hands one row to PostgreSQL via a worker. */
export async function doctorWorkflow(message: string): Promise<{ probeId: string }> {
  const { id } = await recordProbe({ workflowId: workflowInfo().workflowId, message });
  return { probeId: id };
}
