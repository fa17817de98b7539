import { TemporalFailure } from '@temporalio/workflow';

/**
 * What went wrong, for a run's reason: the innermost cause's message. An activity failure's own
 * message is only "Activity task failed"; the agent's error (code and hint) is its cause.
 */
export function failureReason(e: unknown): string {
  let current: unknown = e;
  while (current instanceof TemporalFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
