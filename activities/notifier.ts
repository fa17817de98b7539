import type { Notifier, RunEvent } from '../agents/approvals/notifier.js';
import { asActivity } from './context.js';

export type { RunEvent };

export interface NotifierDeps {
  notifier: Notifier;
}

/** Tells people about a run (log, Slack). Idempotent per event on the receiving side. */
export function createNotifierActivities(deps: NotifierDeps) {
  return {
    async notify(event: RunEvent): Promise<{ auditSeqs: number[] }> {
      await asActivity(() => deps.notifier.notify(event));
      return { auditSeqs: [] };
    },
  };
}

export type NotifierActivities = ReturnType<typeof createNotifierActivities>;
