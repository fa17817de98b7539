import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import type { Logger, MetricMeter } from '@temporalio/common';

const quiet = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger;

/**
 * Runs `fn` as the worker runs an activity attempt of a run: Context.current() answers with these
 * ids. For calling one activity function directly, without a Temporal server.
 */
export function inActivity<T>(fn: () => Promise<T>, ids: { workflowId: string; runId?: string; activityId?: string } = { workflowId: 'wf-test' }): Promise<T> {
  const info = { workflowExecution: { workflowId: ids.workflowId, runId: ids.runId ?? 'run-test' }, activityId: ids.activityId ?? '1', attempt: 1 } as unknown as Info;
  const context = new Context(info, new Promise<never>(() => {}), new AbortController().signal, () => {}, undefined, quiet, undefined as unknown as MetricMeter, {} as never);
  return asyncLocalStorage.run(context, fn);
}
