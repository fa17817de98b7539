import pg from 'pg';
import type { Queryable } from '../shared/db.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { TokenRejected } from './errors.js';
import type { RevocationChecker, RevocationSubject } from './types.js';

const CHANNEL = 'keyturn_revocations';

/** The dedicated LISTEN connection (a connected pg.Client). */
export type ListenerClient = Pick<pg.Client, 'query' | 'on' | 'removeAllListeners' | 'end'>;

/** Connects a dedicated pg.Client for LISTEN, with keep-alive and a query timeout so a dead link is noticed. */
export function pgListener(databaseUrl: string, applicationName = 'keyturn-revocations'): () => Promise<ListenerClient> {
  return async () => {
    const client = new pg.Client({ connectionString: databaseUrl, keepAlive: true, connectionTimeoutMillis: 5_000, query_timeout: 5_000, application_name: applicationName });
    client.on('error', () => {});
    await client.connect();
    return client;
  };
}

export interface RevocationCacheOptions {
  /** Where entries are read from (a pool). */
  db: Queryable;
  /** Opens the dedicated LISTEN connection, e.g. {@link pgListener}. */
  connectListener: () => Promise<ListenerClient>;
  /**
   * Policy revocationFreshnessSeconds: older than this and every check fails closed (REVOCATION_STALE).
   * A function is read on every check, so a policy reloaded with a tighter bound applies at once.
   */
  freshnessSeconds: number | (() => number);
  /** Full reload period, healing missed notifications. Default: a third of the freshness bound (as it is when each period starts). */
  resyncIntervalMs?: number;
  /** LISTEN connection health probe period. Default 5 000. */
  heartbeatIntervalMs?: number;
  /** First reconnect delay after the LISTEN connection drops (doubling, up to 30 s). Default 1 000. */
  reconnectDelayMs?: number;
  clock?: Clock;
  /** Background failures (reload, reconnect), for logs. */
  onError?: (e: unknown) => void;
}

interface Entry {
  id: string;
  /** ms; sub only: tokens issued before it are revoked. */
  notBefore?: number;
  /** ms */
  expiresAt: number;
}

interface Row {
  id: string;
  kind: string;
  value: string;
  not_before: Date | null;
  expires_at: Date;
}

/** The longest delay a Node timer honours (2^31 - 1 ms), and the reload period when the bound cannot be read. */
const MAX_TIMER_MS = 2_147_483_647;
const DEFAULT_RESYNC_MS = 10_000;
const COLUMNS = `id::text AS id, kind, value, not_before, expires_at`;
const keyOf = (kind: string, value: string) => `${kind}\u0000${value}`;

/**
 * The validator's in-memory revocation list. Loads every current entry, LISTENs for changes on a
 * dedicated connection (a notice is a hint: the affected kind/value is re-read from the table),
 * resyncs periodically, and reconnects with backoff. It vouches for its list only as of
 * `lastConfirmedAt` (a successful full load, or a healthy LISTEN round-trip with every earlier
 * notice applied); past the freshness bound every check fails closed.
 */
export class RevocationCache implements RevocationChecker {
  private entries = new Map<string, Entry[]>();
  private confirmedAt: number | undefined;
  /**
   * Notices may have been missed (one could not be applied, or the LISTEN connection was lost):
   * heartbeats may not confirm until a full resync that began while the current connection listened succeeds.
   */
  private dirty = true;
  /** Counts the times the list was marked dirty: a resync that began before the latest did not see what it missed. */
  private dirtied = 0;
  /** Every load runs in order on this chain, so a notice is never overwritten by an older snapshot. */
  private chain: Promise<void> = Promise.resolve();
  private listener: ListenerClient | undefined;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly o: RevocationCacheOptions) {
    this.clock = o.clock ?? systemClock;
    this.reconnectDelay = o.reconnectDelayMs ?? 1_000;
  }

  /** When the list was last known current, or undefined if never. */
  get lastConfirmedAt(): Date | undefined {
    return this.confirmedAt === undefined ? undefined : new Date(this.confirmedAt);
  }

  /** LISTENs, loads everything and starts the background loops. Rejects if the first load fails (the loops keep trying). */
  async start(): Promise<void> {
    const heartbeatMs = this.o.heartbeatIntervalMs ?? 5_000;
    this.scheduleResync();
    this.timers.push(setInterval(() => void this.heartbeat(), heartbeatMs).unref());
    try {
      await this.connect();
    } catch (e) {
      this.o.onError?.(e);
      this.scheduleReconnect();
    }
    await this.resync();
  }

  private freshnessMs(): number {
    const f = this.o.freshnessSeconds;
    return (typeof f === 'function' ? f() : f) * 1000;
  }

  /** The next full reload, a period from now; each period is read afresh, as the freshness bound may have changed. */
  private scheduleResync(): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      if (this.closed) return;
      void this.resync().catch((e: unknown) => this.o.onError?.(e));
      this.scheduleResync();
    }, this.resyncMs()).unref();
    this.timers.push(timer);
  }

  /** The reload period: a third of the freshness bound; the default pace when the bound cannot be read; never past what a Node timer honours (it fires a longer one after 1 ms). */
  private resyncMs(): number {
    if (this.o.resyncIntervalMs !== undefined) return Math.min(this.o.resyncIntervalMs, MAX_TIMER_MS);
    try {
      const ms = Math.max(1_000, Math.floor(this.freshnessMs() / 3));
      return Number.isFinite(ms) ? Math.min(ms, MAX_TIMER_MS) : DEFAULT_RESYNC_MS;
    } catch (e) {
      this.o.onError?.(e);
      return DEFAULT_RESYNC_MS;
    }
  }

  async check(t: RevocationSubject): Promise<void> {
    const now = this.clock.now().getTime();
    if (this.liveEntry('jti', t.jti, now)) throw new TokenRejected('REVOKED_JTI', 'token has been revoked');
    if (this.liveEntry('kid', t.kid, now)) throw new TokenRejected('REVOKED_KID', 'token signing key has been revoked');
    if (t.sub !== undefined && this.liveEntry('sub', t.sub, now, t.iat * 1000)) {
      throw new TokenRejected('REVOKED_SUB', "token subject's tokens have been revoked");
    }
    // Written so that a bound that is not a number (a broken policy) counts as stale: fail closed.
    if (this.confirmedAt === undefined || !(now - this.confirmedAt <= this.freshnessMs())) {
      throw new TokenRejected('REVOCATION_STALE', 'the revocation list is not known to be current');
    }
  }

  /** Whether an unexpired entry revokes `value`; for sub, one whose notBefore is after `issuedAtMs` (or absent). Runs on every verify: no allocation. */
  private liveEntry(kind: string, value: string, now: number, issuedAtMs?: number): boolean {
    const list = this.entries.get(keyOf(kind, value));
    if (list === undefined) return false;
    for (const e of list) {
      if (e.expiresAt <= now) continue;
      if (issuedAtMs === undefined || e.notBefore === undefined || issuedAtMs < e.notBefore) return true;
    }
    return false;
  }

  /** Reloads every current entry; on success the list is confirmed as of the reload's start. */
  resync(): Promise<void> {
    return this.enqueue(async () => {
      const started = this.clock.now().getTime();
      // Only a load that began while this connection listened, and after the list was last marked
      // dirty, covers every notice it could have missed.
      const listening = this.listener;
      const dirtied = this.dirtied;
      const { rows } = await this.o.db.query<Row & Record<string, unknown>>(`SELECT ${COLUMNS} FROM revocations WHERE expires_at > $1`, [new Date(started)]);
      const next = new Map<string, Entry[]>();
      for (const r of rows) {
        const k = keyOf(r.kind, r.value);
        next.set(k, [...(next.get(k) ?? []), entryOf(r)]);
      }
      this.entries = next;
      if (listening !== undefined && listening === this.listener && dirtied === this.dirtied) this.dirty = false;
      this.confirm(started);
    });
  }

  /**
   * Re-reads one identity's entries now, as its notice would. For a writer in this process that
   * must see its own revocation at once: the notice reaches the LISTEN connection only some time
   * after the commit. A failed read marks the list as possibly incomplete (heartbeats stop vouching
   * for it until a full resync succeeds) and rejects.
   */
  refresh(kind: string, value: string): Promise<void> {
    return this.enqueue(() => this.reload(kind, value));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners('notification');
      await l.end().catch(() => {});
    }
    await this.chain.catch(() => {});
  }

  private markDirty(): void {
    this.dirty = true;
    this.dirtied++;
  }

  private confirm(at: number): void {
    if (this.confirmedAt === undefined || at > this.confirmedAt) this.confirmedAt = at;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => {});
    return run;
  }

  private async connect(): Promise<void> {
    const client = await this.o.connectListener();
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    const lost = (e?: unknown) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.markDirty();
      if (e) this.o.onError?.(e);
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === CHANNEL) this.onNotice(msg.payload);
    });
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    this.listener = client;
    this.reconnectDelay = this.o.reconnectDelayMs ?? 1_000;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, 30_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect()
        // Notices sent while disconnected are lost: a full resync heals them.
        .then(() => this.resync())
        .catch((e: unknown) => {
          this.o.onError?.(e);
          if (!this.listener) this.scheduleReconnect();
        });
    }, delay);
    this.reconnectTimer.unref();
  }

  private onNotice(payload: string | undefined): void {
    let kind: unknown;
    let value: unknown;
    try {
      ({ kind, value } = JSON.parse(payload ?? '') as { kind?: unknown; value?: unknown });
    } catch {
      // Unreadable notice: fall through to a full resync.
    }
    if (typeof kind !== 'string' || typeof value !== 'string') {
      // Some change is unknown until a full resync succeeds: heartbeats may not vouch for the list before.
      this.markDirty();
      void this.resync().catch((e: unknown) => this.o.onError?.(e));
      return;
    }
    void this.enqueue(() => this.reload(kind, value)).catch((e: unknown) => this.o.onError?.(e));
  }

  /** Replaces one identity's entries with what the table holds now; on a failed read the list is marked dirty. Runs on the chain. */
  private async reload(kind: string, value: string): Promise<void> {
    try {
      const { rows } = await this.o.db.query<Row & Record<string, unknown>>(`SELECT ${COLUMNS} FROM revocations WHERE kind = $1 AND value = $2`, [kind, value]);
      const list = rows.map(entryOf);
      if (list.length > 0) this.entries.set(keyOf(kind, value), list);
      else this.entries.delete(keyOf(kind, value));
    } catch (e) {
      this.markDirty();
      throw e;
    }
  }

  /** A round-trip on the LISTEN connection: every notice committed before it has arrived; once they are applied the list is current. */
  private async heartbeat(): Promise<void> {
    const l = this.listener;
    if (!l || this.closed) return;
    const started = this.clock.now().getTime();
    try {
      await l.query('SELECT 1');
    } catch (e) {
      if (this.listener === l) {
        this.listener = undefined;
        this.markDirty();
        this.o.onError?.(e);
        l.removeAllListeners('notification');
        void l.end().catch(() => {});
        this.scheduleReconnect();
      }
      return;
    }
    await this.enqueue(async () => {
      if (!this.dirty && this.listener === l) this.confirm(started);
    }).catch(() => {});
  }
}

function entryOf(r: Row): Entry {
  const e: Entry = { id: r.id, expiresAt: new Date(r.expires_at).getTime() };
  if (r.not_before) e.notBefore = new Date(r.not_before).getTime();
  return e;
}
