/**
 * Where the people around a run hear about it. The log notifier is always there; the Slack app
 * adds the message that approvers click. Events carry facts, never key material or tokens.
 */
export interface RunEvent {
  type: string;
  kind: 'rotation' | 'revocation' | 'policy';
  workflowId: string;
  runId: string;
  planHash?: string;
  requester?: string;
  subject?: string;
  urgent?: boolean;
  [fact: string]: unknown;
}

export interface Notifier {
  notify(event: RunEvent): Promise<void>;
}

/** Fans an event out to several notifiers; one failing does not stop the others, but is reported. */
export function fanOut(notifiers: Notifier[]): Notifier {
  return {
    async notify(event) {
      const results = await Promise.allSettled(notifiers.map((n) => n.notify(event)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}

export function logNotifier(log: { info(obj: object, msg: string): void }): Notifier {
  return {
    async notify(event) {
      log.info({ event: event.type, workflowId: event.workflowId, kind: event.kind, subject: event.subject, urgent: event.urgent }, `run event ${event.type}`);
    },
  };
}
