import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { parseCallId } from '../workflows/call-ids.js';

/** Original run ids of runs that were reset, by run: they never change, so each is read once. */
const originalRuns = new Map<string, string>();
const REMEMBERED_RUNS = 10_000;

/**
 * Runs an activity task only when its id names the task's own type and run (see
 * workflows/call-ids.ts). Its inputs are encrypted for that id, so a task that names another run or
 * type is a copy: someone who answers workflow tasks in the namespace scheduled an earlier run's
 * step (under the same workflow id) or another step's input. An id of the SDK's plain form comes
 * from a run scheduled before the patch and is run as before.
 */
export const checkCallIds: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const { activityId, activityType, workflowExecution, workflowNamespace } = ctx.info;
      const call = parseCallId(activityId);
      if (!call || !workflowExecution || !workflowNamespace) return next(input);
      if (call.activityType !== activityType) {
        throw refused('ACTIVITY_ID_OTHER_CALL', `this ${activityType} task carries the id of a ${call.activityType} call (${activityId})`);
      }
      if (call.originalRunId !== workflowExecution.runId) {
        const original = await originalRunOf(ctx.client, { namespace: workflowNamespace, ...workflowExecution });
        if (call.originalRunId !== original) {
          throw refused('ACTIVITY_ID_OTHER_RUN', `this ${activityType} task carries the id of a call of run ${call.originalRunId}, but was scheduled by run ${workflowExecution.runId} (originally ${original})`);
        }
      }
      return next(input);
    },
  },
});

function refused(type: string, what: string): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    nonRetryable: true,
    message: `${what}, so it was not run: someone with access to the namespace scheduled it with a copied call. Check who can answer workflow tasks there, and compare the run with the audit log (\`keyturn audit show\`).`,
  });
}

/** The run id on the run's started event: the run that a reset run was reset from, or its own. */
async function originalRunOf(client: Client, run: { namespace: string; workflowId: string; runId: string }): Promise<string> {
  const key = `${run.namespace}/${run.workflowId}/${run.runId}`;
  const known = originalRuns.get(key);
  if (known) return known;
  const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace: run.namespace, execution: { workflowId: run.workflowId, runId: run.runId }, maximumPageSize: 1 });
  const original = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId;
  // Retried: the task is not run before its run is known.
  if (!original) throw new Error(`could not read the original run id of ${run.workflowId}/${run.runId} from its history`);
  if (originalRuns.size >= REMEMBERED_RUNS) originalRuns.delete(originalRuns.keys().next().value!);
  originalRuns.set(key, original);
  return original;
}
