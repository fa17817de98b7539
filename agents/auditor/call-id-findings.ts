import { isPlainActivityId, parseCallId } from '../../workflows/call-ids.js';

/** Failure types keyturn's worker gives a task whose id or input keyturn did not write for it (workers/call-id-check.ts, workers/result-binding.ts, the payload codec). */
const REFUSED_AS_NOT_KEYTURNS = new Set(['ACTIVITY_ID_OTHER_RUN', 'ACTIVITY_ID_OTHER_CALL', 'ACTIVITY_ID_PLAIN', 'ACTIVITY_ID_MALFORMED', 'ACTIVITY_WITHOUT_RUN', 'PAYLOAD_OTHER_CALL', 'PAYLOAD_UNLABELLED', 'PAYLOAD_NOT_ENCRYPTED', 'PAYLOAD_TAMPERED', 'RESULT_BINDING_MALFORMED']);

export interface ScheduledCall {
  activityId: string;
  activityType: string;
  scheduledAt: string;
  failureType?: string;
}

export interface RunOfCalls {
  /** The run id on the run's started event (a reset run's original). */
  originalRunId?: string;
  /** When the first worker checking call ids started: a plain id scheduled after it is not keyturn's. */
  upgradedAt?: Date;
  /** When the run first scheduled each activity id (see {@link firstSchedulings}). */
  firstScheduled?: ReadonlyMap<string, string>;
}

/** When each activity id was first scheduled in a run's calls, in history order. */
export function firstSchedulings(calls: readonly ScheduledCall[]): Map<string, string> {
  const first = new Map<string, string>();
  for (const c of calls) if (!first.has(c.activityId)) first.set(c.activityId, c.scheduledAt);
  return first;
}

/**
 * What is wrong with a call's id in this run: it names another run or type, it is a plain id
 * scheduled after the upgrade to call ids, or keyturn's workflows do not make it; and whether the
 * worker refused the task as a copy. The same rules as the worker's, read from the history. A call
 * id the run scheduled before is found too: keyturn's workflows never schedule one twice.
 */
export function callIdFindings(call: ScheduledCall, run: RunOfCalls): string[] {
  const found: string[] = [];
  const named = parseCallId(call.activityId);
  if (named) {
    if (named.activityType !== call.activityType) found.push(`its id (${call.activityId}) names a ${named.activityType} call: scheduled with another step's id and input`);
    if (run.originalRunId !== undefined && named.originalRunId !== run.originalRunId) found.push(`its id (${call.activityId}) names a call of run ${named.originalRunId}: scheduled with another run's id and input`);
  } else if (isPlainActivityId(call.activityId)) {
    if (run.upgradedAt && Date.parse(call.scheduledAt) >= run.upgradedAt.getTime()) found.push(`its plain id (${call.activityId}) was scheduled after the upgrade to call ids (${run.upgradedAt.toISOString()}): keyturn's workflows no longer schedule one, so either a worker from before the upgrade was still running then, or someone with Temporal access scheduled it`);
  } else {
    found.push(`its id (${call.activityId.slice(0, 200)}) is not one keyturn's workflows make`);
  }
  const first = run.firstScheduled?.get(call.activityId);
  if (named && first !== undefined && first !== call.scheduledAt) found.push(`its id (${call.activityId}) was first scheduled at ${first}: the same call scheduled again after it closed`);
  if (call.failureType === 'ACTIVITY_CALL_REPEATED') found.push(`keyturn's worker refused the task: the call had been scheduled before (${call.failureType})`);
  if (call.failureType && REFUSED_AS_NOT_KEYTURNS.has(call.failureType)) found.push(`keyturn's worker refused the task: its id or input was not written for it (${call.failureType})`);
  return found;
}
