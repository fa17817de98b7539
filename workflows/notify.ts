import { isCancellation, log, patched, proxyActivities } from '@temporalio/workflow';
import type { NotifierActivities, RunEvent } from '../activities/notifier.js';
import { display } from './display.js';
import { failureReason } from './failure.js';

const notifier = proxyActivities<NotifierActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });

/**
 * Tells the people around a run (log, Slack). Best effort: a notice still undelivered after its
 * retries (Slack down, the bot removed from the channel, the message deleted) is logged and left in
 * the history as a failed activity, and the run goes on. Whether people heard about a step never
 * decides what happens to the keys: an activated rotation is not compensated, a contained
 * revocation keeps waiting for sign-off (which the CLI can also give).
 */
async function tell(summary: string, event: RunEvent): Promise<boolean> {
  try {
    await notifier.notify.executeWithOptions({ summary: display(summary) }, [event]);
    return true;
  } catch (e) {
    // A run that already failed on an undelivered notice, before notices were best effort, replays as it ran.
    if (isCancellation(e) || !patched('best-effort-notices')) throw e;
    log.warn('a notice about this run was not delivered; the run goes on', { type: event.type, error: failureReason(e) });
    return false;
  }
}

export type Tell = (summary: string, event: RunEvent) => Promise<void>;

/** {@link tell}, recording each undelivered notice in the run's status, where `keyturn status` and the Web UI show it. */
export function tellRecording(status: { undeliveredNotices?: string[] }, onChange: () => void): Tell {
  return async (summary, event) => {
    if (await tell(summary, event)) return;
    (status.undeliveredNotices ??= []).push(event.type);
    onChange();
  };
}
