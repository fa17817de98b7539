import type { Notifier, RunEvent } from '../../agents/approvals/notifier.js';
import type { KeyturnMetrics } from './registry.js';

/** The rotation phase that ends when an event of this type arrives. */
const PHASE_ENDED_BY: Record<string, string> = {
  'run.published': 'sign_off',
  'run.rejected': 'sign_off',
  'run.expired': 'sign_off',
  'run.activated': 'pre_publication',
  'run.canary_passed': 'canary',
  'run.canary_failed': 'canary',
  'run.completed': 'overlap',
};

/**
 * A notifier that turns run events into metrics: rotation phase durations (time between the events
 * that bound each phase) and revocations by stage. Workflows stay free of side effects; the worker
 * observes what they announce.
 */
export function metricsNotifier(m: KeyturnMetrics, now: () => number = Date.now): Notifier {
  const last = new Map<string, number>();
  return {
    async notify(e: RunEvent) {
      if (e.kind === 'rotation') {
        const t = now();
        const phase = PHASE_ENDED_BY[e.type];
        const since = last.get(e.workflowId);
        if (phase && since !== undefined) m.rotationPhaseSeconds.observe({ phase }, (t - since) / 1000);
        if (e.type === 'signoff.requested' || phase) last.set(e.workflowId, t);
        if (e.type.startsWith('run.') && ['completed', 'rejected', 'expired', 'rolled_back', 'failed'].includes(e.type.slice(4))) last.delete(e.workflowId);
      }
      if (e.kind === 'revocation') {
        const kind = String(e.subject ?? '').split(' ')[0] || 'unknown';
        const stage = e.type === 'run.contained' ? 'contained' : e.type === 'run.completed' ? 'confirmed' : e.type === 'run.rejected' ? 'lifted' : undefined;
        if (stage && ['kid', 'jti', 'sub'].includes(kind)) m.revocations.inc({ kind, stage });
      }
    },
  };
}
