/**
 * Each activity call gets an id naming its type, its run and its place in the run. The payload
 * codec binds a call's inputs and result to its activity id (see encryption-codec.ts), and the SDK's
 * default id is only the call's sequence number: a run started later under the same workflow id, or
 * a call of another type at the same number, matched it. Whoever answers a run's workflow tasks can
 * choose any activity id, so the worker also checks that the id's type and run are the task's own
 * (workers/call-id-check.ts).
 *
 * The run is the execution's original run id: a reset keeps it (and replays the calls it scheduled
 * before the reset point with their ids), while a new start under the same workflow id gets its own.
 *
 * Shared by the workflow interceptor and the worker: no Temporal imports.
 */
export const CALL_ID_PATCH = 'run-bound-activity-ids';

export interface CallId {
  activityType: string;
  originalRunId: string;
  seq: number;
}

const PREFIX = 'kt1';
const SEPARATOR = '/';

export function formatCallId(c: CallId): string {
  return [PREFIX, c.originalRunId, String(c.seq), c.activityType].join(SEPARATOR);
}

/** The SDK's own id for a call whose options name none: its sequence number (calls from before the patch). */
export function isPlainActivityId(activityId: string | undefined): boolean {
  return activityId !== undefined && /^[1-9][0-9]*$/.test(activityId);
}

/** The call an activity id names, or undefined for an id of another form. */
export function parseCallId(activityId: string): CallId | undefined {
  const parts = activityId.split(SEPARATOR);
  if (parts.length !== 4 || parts[0] !== PREFIX) return undefined;
  const [, originalRunId, seqText, activityType] = parts as [string, string, string, string];
  const seq = Number(seqText);
  if (!originalRunId || !activityType || !Number.isSafeInteger(seq) || seq < 1 || String(seq) !== seqText) return undefined;
  return { activityType, originalRunId, seq };
}
