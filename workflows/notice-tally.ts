import type { RevocationActivities } from '../activities/revocation.js';

type Delivered = Awaited<ReturnType<RevocationActivities['deliverNotice']>>;

/**
 * What a run's subscriber notices came to, over the enabled subscribers listed for each event.
 * `skipped`: those told nothing of it (limited to other issuers, or disabled or removed while it was
 * being sent). `unlisted`: times the subscribers could not be read, so nobody was told of that event.
 */
export type Notices = { delivered: number; failed: number; skipped?: number; unlisted?: number };

/** One event's deliveries, one settled activity per subscriber. */
export function tallyDeliveries(results: readonly PromiseSettledResult<Delivered>[]): Notices {
  const tally = { delivered: 0, failed: 0, skipped: 0 };
  for (const r of results) {
    if (r.status === 'rejected') tally.failed++;
    else if (r.value?.outcome?.status === 'skipped') tally.skipped++;
    else tally.delivered++;
  }
  return tally;
}

/** A run's notices over its events; `skipped` and `unlisted` appear only when there were some. */
export function totalNotices(told: readonly Notices[]): Notices {
  let delivered = 0;
  let failed = 0;
  let skipped = 0;
  let unlisted = 0;
  for (const t of told) {
    delivered += t.delivered;
    failed += t.failed;
    skipped += t.skipped ?? 0;
    unlisted += t.unlisted ?? 0;
  }
  return { delivered, failed, ...(skipped ? { skipped } : {}), ...(unlisted ? { unlisted } : {}) };
}
