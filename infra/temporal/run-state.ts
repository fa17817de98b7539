import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import type { LedgerRun, RunState } from '../../agents/shared/activity-calls.js';

// A CommonJS package: plain Node (worker processes) exposes it only as a default export.
const { temporal } = proto;
const S = temporal.api.enums.v1.WorkflowExecutionStatus;
/** Only these end a run for good; any status Temporal adds later reads as unknown, never as closed. */
const CLOSED = new Set([S.WORKFLOW_EXECUTION_STATUS_COMPLETED, S.WORKFLOW_EXECUTION_STATUS_FAILED, S.WORKFLOW_EXECUTION_STATUS_CANCELED, S.WORKFLOW_EXECUTION_STATUS_TERMINATED, S.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, S.WORKFLOW_EXECUTION_STATUS_TIMED_OUT]);
/** A paused run resumes: it is as open as a running one. */
const OPEN = new Set([S.WORKFLOW_EXECUTION_STATUS_RUNNING, S.WORKFLOW_EXECUTION_STATUS_PAUSED]);
const GRPC_NOT_FOUND = 5;
const ASK_TIMEOUT_MS = 10_000;

type Asker = Pick<NativeConnection, 'workflowService' | 'withDeadline'>;

/**
 * Whether a run is still open, as the Temporal server of the worker's namespace says. A run the
 * namespace no longer knows (gone with its retention) is closed. Anything else (no answer within
 * 10 s, a status keyturn does not know) is 'unknown', and the caller keeps what it holds for the run.
 * keyturn keeps one database per namespace: a run of another namespace is one this namespace does
 * not know, so it would read as closed.
 */
export function runStateIn(connection: Asker, namespace: string): (run: LedgerRun) => Promise<RunState> {
  return async ({ workflowId, runId }) => {
    try {
      const { workflowExecutionInfo } = await connection.withDeadline(Date.now() + ASK_TIMEOUT_MS, () =>
        connection.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId, runId } }));
      const status = workflowExecutionInfo?.status ?? undefined;
      if (status !== undefined && OPEN.has(status)) return 'open';
      if (status !== undefined && CLOSED.has(status)) return 'closed';
      return 'unknown';
    } catch (e) {
      return (e as { code?: unknown }).code === GRPC_NOT_FOUND ? 'closed' : 'unknown';
    }
  };
}

/** Whether a workflow's current run (the latest, a reset one included) is still open: see runStateIn. */
export function currentRunStateIn(connection: Asker, namespace: string): (workflowId: string) => Promise<RunState> {
  const stateOf = runStateIn(connection, namespace);
  return (workflowId) => stateOf({ workflowId, runId: '' });
}

/** Whether the namespace exists: a run it does not know is gone only if it does (else every run would read as gone). */
export async function namespaceExists(connection: Asker, namespace: string): Promise<boolean> {
  try {
    await connection.withDeadline(Date.now() + ASK_TIMEOUT_MS, () => connection.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  }
}
