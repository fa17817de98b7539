import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleHandle } from '@temporalio/client';
import type { Policy } from '../agents/planner/policy-types.js';
import { formatDuration } from '../agents/planner/duration.js';
import { KeyturnError } from '../config/errors.js';
import { issuerSlug } from '../workflows/ids.js';
import { scheduledRotationWorkflow } from '../workflows/scheduled-rotation.js';
import { display } from '../workflows/display.js';

export const scheduleIdFor = (issuer: string) => `keyturn-rotate-${issuerSlug(issuer)}`;

export interface ScheduleSummary {
  scheduleId: string;
  issuer: string;
  every: string;
  paused: boolean;
  note?: string;
  nextRun?: string;
  lastRun?: string;
}

/**
 * One Temporal Schedule per issuer, every `rotationPeriod` of the policy, overlap policy SKIP.
 * Idempotent: an existing schedule is updated to the policy's period, keeping its paused state.
 */
export async function ensureSchedules(client: Client, policy: Policy, taskQueue: string): Promise<string[]> {
  const ids: string[] = [];
  for (const p of policy.issuers) {
    const scheduleId = scheduleIdFor(p.issuer);
    const reason = `scheduled rotation (every ${formatDuration(p.rotationPeriodSeconds)})`;
    const action = {
      type: 'startWorkflow' as const,
      workflowType: scheduledRotationWorkflow,
      args: [{ issuer: p.issuer, reason }] as [{ issuer: string; reason: string }],
      taskQueue,
      workflowId: `${scheduleId}-run`,
      staticSummary: display(`Scheduled rotation of ${p.issuer}`),
    };
    const spec = { intervals: [{ every: p.rotationPeriodSeconds * 1000 }] };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
        memo: { issuer: p.issuer },
      });
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw e;
      await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec, action, policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.SKIP } }));
    }
    ids.push(scheduleId);
  }
  return ids;
}

export async function listSchedules(client: Client, policy: Policy): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = [];
  for (const p of policy.issuers) {
    const d = await handleFor(client, p.issuer).describe().catch((e: unknown) => {
      if (e instanceof ScheduleNotFoundError) return undefined;
      throw e;
    });
    if (!d) continue;
    const next = d.info.nextActionTimes[0];
    const last = d.info.recentActions.at(-1);
    out.push({
      scheduleId: d.scheduleId,
      issuer: p.issuer,
      every: formatDuration(p.rotationPeriodSeconds),
      paused: d.state.paused,
      ...(d.state.note ? { note: d.state.note } : {}),
      ...(next ? { nextRun: next.toISOString() } : {}),
      ...(last ? { lastRun: last.takenAt.toISOString() } : {}),
    });
  }
  return out;
}

export function handleFor(client: Client, issuer: string): ScheduleHandle {
  return client.schedule.getHandle(scheduleIdFor(issuer));
}

/** Runs `op` on the issuer's schedule, turning "not found" into an error that says what to do. */
export async function onSchedule<T>(client: Client, issuer: string, op: (h: ScheduleHandle) => Promise<T>): Promise<T> {
  try {
    return await op(handleFor(client, issuer));
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) {
      throw new KeyturnError('SCHEDULE_NOT_FOUND', `no rotation schedule for ${issuer}`, 'Schedules are created by the worker at start for every issuer in the policy; check the issuer URL with `keyturn schedule list`.');
    }
    throw e;
  }
}
