import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';

/** The public ids of the KEKs a process holds: the one it seals with, and every one it can open. */
export interface KekIds {
  sealsWith: string;
  opens: string[];
}

export interface KekHolder extends KekIds {
  holder: string;
  startedAt: string;
  /** Seconds since the process last reported. */
  silentSeconds: number;
}

/** How often a process reports, and how long a report counts: three missed reports and it is gone. */
export const REPORT_EVERY_MS = 15_000;
export const LIVE_WITHIN_SECONDS = 45;

export function kekIdsOf(kek: { id: string; olderIds?: readonly string[] }): KekIds {
  return { sealsWith: kek.id, opens: [kek.id, ...(kek.olderIds ?? [])] };
}

export async function reportKekHolder(db: Queryable, holder: string, startedAt: Date, ids: KekIds): Promise<void> {
  await db.query(
    `INSERT INTO kek_holders (holder, seals_with, opens, started_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (holder) DO UPDATE SET seals_with = EXCLUDED.seals_with, opens = EXCLUDED.opens, seen_at = now()`,
    [holder, ids.sealsWith, ids.opens, startedAt],
  );
}

export async function withdrawKekHolder(db: Queryable, holder: string): Promise<void> {
  await db.query('DELETE FROM kek_holders WHERE holder = $1', [holder]);
}

/** Processes that reported within `withinSeconds` (the database's clock). */
export async function liveKekHolders(db: Queryable, withinSeconds = LIVE_WITHIN_SECONDS): Promise<KekHolder[]> {
  const { rows } = await db.query<{ holder: string; seals_with: string; opens: string[]; started_at: Date; silent: string }>(
    `SELECT holder, seals_with, opens, started_at, extract(epoch FROM now() - seen_at)::int::text AS silent
       FROM kek_holders WHERE seen_at > now() - make_interval(secs => $1) ORDER BY holder`,
    [withinSeconds],
  );
  return rows.map((r) => ({ holder: r.holder, sealsWith: r.seals_with, opens: r.opens, startedAt: r.started_at.toISOString(), silentSeconds: Number(r.silent) }));
}

/**
 * Refuses a reseal under `target` while a live process opens one of the KEKs being moved away from
 * (`moving`) but not `target`: it signs with those keys today and could not open them afterwards.
 * Processes that open none of them hold another deployment's keys and are not concerned.
 */
export function requireHoldersCanOpen(holders: KekHolder[], target: string, moving: readonly string[]): void {
  const behind = holders.filter((h) => h.opens.some((id) => moving.includes(id)) && !h.opens.includes(target));
  if (behind.length === 0) return;
  throw new KeyturnError(
    'KEK_NOT_EVERYWHERE',
    `${behind.length} running keyturn process(es) cannot open KEK ${target} yet: ${behind.map((h) => `${h.holder} (seals with ${h.sealsWith}, seen ${h.silentSeconds}s ago)`).join(', ')}`,
    `Restart them with the new KEK file (the new KEK first, the old one after it), or stop them; a stopped process drops out of this list within ${LIVE_WITHIN_SECONDS}s. Then run reseal again. Nothing was resealed.`,
    { processes: behind.map((h) => h.holder) },
  );
}

/** Reports this process's KEK ids now and every REPORT_EVERY_MS until stopped; stopping withdraws the report. */
export class KekHolderReport {
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly startedAt = new Date();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly db: Queryable, private readonly ids: KekIds, private readonly onError: (e: unknown) => void = () => {}) {}

  async start(): Promise<void> {
    await reportKekHolder(this.db, this.holder, this.startedAt, this.ids);
    this.timer = setInterval(() => {
      this.inFlight = reportKekHolder(this.db, this.holder, this.startedAt, this.ids).catch(this.onError);
    }, REPORT_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // A report still on its way would otherwise put the row back after it was withdrawn.
    await this.inFlight;
    // Best effort: when the database is already gone (Ctrl-C reaches an embedded one too), the row
    // stops counting as live LIVE_WITHIN_SECONDS after the last report anyway.
    await withdrawKekHolder(this.db, this.holder).catch(this.onError);
  }
}
