import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ActivityCall } from '../agents/shared/activity-calls.js';
import type { Queryable } from '../agents/shared/db.js';
import { readCallIdUpgradeMark } from '../agents/shared/upgrade-marks.js';
import { isPlainActivityId, parseCallId } from '../workflows/call-ids.js';
import { setBounded } from '../agents/shared/bounded-map.js';

/** What a run's first history event says: the run a reset run was reset from (or its own), and when it started. */
interface RunStart {
  originalRunId: string;
  startedAt: Date;
}

/** Run starts by run: they never change, so each is read once. */
const runStarts = new Map<string, RunStart>();
const REMEMBERED_RUNS = 10_000;

export interface CallIdCheckDeps {
  /** When the first worker checking call ids started (upgrade_marks), or undefined when none has. */
  upgradedAt: () => Promise<Date | undefined>;
  /** When a call was first scheduled (the activity_calls ledger, which records it on first sight); undefined: ask again. */
  firstScheduledMs: (call: ActivityCall) => Promise<number | undefined>;
}

/**
 * Runs an activity task only when its id names the task's own type and run (see
 * workflows/call-ids.ts). Its inputs are encrypted for that id, so a task that names another run or
 * type is a copy: someone who answers workflow tasks in the namespace scheduled an earlier run's
 * step (under the same workflow id) or another step's input. An id of the SDK's plain form is run
 * only for a call scheduled before the first worker checking call ids started, in a run that
 * started before then and not by a reset: only such a call was scheduled before the patch (a run from then
 * gives its later calls call ids). The times are the Temporal server's, which no task can change.
 * Any other id is refused: keyturn's workflows set no other. A call id is run only for the call's
 * first scheduling (a retry keeps it): a run may schedule an id again once its call has closed, and
 * someone answering the run's workflow tasks could so run a finished step again.
 */
export function checkCallIds(deps: CallIdCheckDeps): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { activityId, activityType, workflowExecution, workflowNamespace } = ctx.info;
        if (!workflowExecution || !workflowNamespace) throw refused('ACTIVITY_WITHOUT_RUN', `this ${activityType} task was scheduled by no workflow run`);
        const run = { namespace: workflowNamespace, ...workflowExecution };
        if (isPlainActivityId(activityId)) {
          const [start, upgradedAt] = await Promise.all([runStartOf(ctx.client, run), deps.upgradedAt()]);
          // Retried: the task is not run, nor refused, before the mark is known.
          if (!upgradedAt) throw new Error('the upgrade to call ids is not recorded in this database (upgrade_marks): a worker of this version records it when it starts');
          const scheduledAt = new Date(ctx.info.scheduledTimestampMs);
          const legacy = start.originalRunId === run.runId && start.startedAt < upgradedAt && scheduledAt < upgradedAt;
          if (!legacy) throw refused('ACTIVITY_ID_PLAIN', `this ${activityType} task carries a plain activity id (${activityId}), which only calls scheduled before the upgrade to call ids (${upgradedAt.toISOString()}) in runs started before it carry, but it was scheduled at ${scheduledAt.toISOString()} in a run started at ${start.startedAt.toISOString()}${start.originalRunId === run.runId ? '' : ' by a reset'}`);
          return next(input);
        }
        const scheduledMs = ctx.info.scheduledTimestampMs;
        const call = parseCallId(activityId);
        if (!call) throw refused('ACTIVITY_ID_MALFORMED', `this ${activityType} task carries an activity id keyturn's workflows do not make (${activityId.slice(0, 200)})`);
        if (call.activityType !== activityType) {
          throw refused('ACTIVITY_ID_OTHER_CALL', `this ${activityType} task carries the id of a ${call.activityType} call (${activityId})`);
        }
        if (call.originalRunId !== run.runId) {
          const { originalRunId } = await runStartOf(ctx.client, run);
          if (call.originalRunId !== originalRunId) {
            throw refused('ACTIVITY_ID_OTHER_RUN', `this ${activityType} task carries the id of a call of run ${call.originalRunId}, but was scheduled by run ${run.runId} (originally ${originalRunId})`);
          }
          // A reset run: its history holds the calls made before the reset point, which no worker saw
          // under this run, so the ledger alone would let one of them be scheduled again.
          const earlier = await earlierScheduling(ctx.client, run, activityId, scheduledMs);
          if (earlier !== undefined) {
            throw refused('ACTIVITY_CALL_REPEATED', `this ${activityType} task (${activityId}) was scheduled again at ${new Date(scheduledMs).toISOString()} in a reset run whose history holds the call's scheduling at ${new Date(earlier).toISOString()}, before the reset`);
          }
        }
        const firstMs = await deps.firstScheduledMs({ workflowId: run.workflowId, runId: run.runId, activityId, scheduledMs });
        // Retried: the task is not run, nor refused, before its first scheduling is known.
        if (firstMs === undefined) throw new Error(`could not read when ${activityId} was first scheduled; retrying`);
        if (firstMs !== Math.trunc(scheduledMs)) {
          throw refused('ACTIVITY_CALL_REPEATED', `this ${activityType} task (${activityId}) was scheduled again at ${new Date(scheduledMs).toISOString()}, after the run's call with that id was first scheduled at ${new Date(firstMs).toISOString()}`);
        }
        return next(input);
      },
    },
  });
}

function refused(type: string, what: string): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    nonRetryable: true,
    message: `${what}, so it was not run: someone with access to the namespace scheduled it with a copied call. Check who can answer workflow tasks there, and compare the run with the audit log (\`keyturn audit show\`).`,
  });
}

/** The run's started event: the run a reset run was reset from (or its own), and its time. */
async function runStartOf(client: Client, run: { namespace: string; workflowId: string; runId: string }): Promise<RunStart> {
  const key = `${run.namespace}/${run.workflowId}/${run.runId}`;
  const known = runStarts.get(key);
  if (known) return known;
  const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace: run.namespace, execution: { workflowId: run.workflowId, runId: run.runId }, maximumPageSize: 1 });
  const first = history?.events?.[0];
  const originalRunId = first?.workflowExecutionStartedEventAttributes?.originalExecutionRunId;
  const startedMs = eventMs(first);
  // Retried: the task is not run before its run is known.
  if (!originalRunId || startedMs === undefined) throw new Error(`could not read the start of ${run.workflowId}/${run.runId} from its history`);
  const start = { originalRunId, startedAt: new Date(startedMs) };
  setBounded(runStarts, key, start, REMEMBERED_RUNS);
  return start;
}

/** When the run's history first scheduled `activityId`, if that was before `scheduledMs` (another scheduling of the same call). */
async function earlierScheduling(client: Client, run: { namespace: string; workflowId: string; runId: string }, activityId: string, scheduledMs: number): Promise<number | undefined> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({ namespace: run.namespace, execution: { workflowId: run.workflowId, runId: run.runId }, ...(nextPageToken ? { nextPageToken } : {}) });
    for (const e of page.history?.events ?? []) {
      if (e.activityTaskScheduledEventAttributes?.activityId !== activityId) continue;
      const at = eventMs(e);
      if (at !== undefined && at < Math.trunc(scheduledMs)) return at;
    }
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return undefined;
}

/** A history event's time in whole milliseconds, or undefined when it has none. */
function eventMs(e: temporal.api.history.v1.IHistoryEvent | undefined): number | undefined {
  const seconds = e?.eventTime?.seconds;
  if (seconds === undefined || seconds === null) return undefined;
  return Number(seconds) * 1000 + Math.floor((e!.eventTime!.nanos ?? 0) / 1e6);
}

/** When the first worker checking call ids started; read once per process, and again while it is not recorded. */
export function upgradeMarkReader(db: Queryable): () => Promise<Date | undefined> {
  let known: Date | undefined;
  return async () => {
    if (known) return known;
    known = await readCallIdUpgradeMark(db);
    return known;
  };
}
