import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.js';
import { isTokenRejected } from './errors.js';
import { RevocationCache, type ListenerClient } from './revocation-cache.js';

const T0 = new Date('2026-06-01T00:00:00Z');

/** A LISTEN connection that answers every query and counts them; emitting 'end' is the server dropping it. */
function fakeListener(): ListenerClient & EventEmitter & { queries: number } {
  const l = Object.assign(new EventEmitter(), { queries: 0, end: async () => {} });
  return Object.assign(l, {
    query: async () => {
      l.queries++;
      return { rows: [] };
    },
  }) as unknown as ListenerClient & EventEmitter & { queries: number };
}

async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!fn()) throw new Error('condition not reached');
}

const outcome = (p: Promise<void>) => p.then(() => 'accepted', (e: unknown) => (isTokenRejected(e) ? e.code : String(e)));

type Row = { id: string; kind: string; value: string; not_before: Date | null; expires_at: Date };
const STOLEN: Row = { id: '1', kind: 'jti', value: 'stolen', not_before: null, expires_at: new Date(T0.getTime() + 3_600_000) };
const checkStolen = (cache: RevocationCache) => outcome(cache.check({ jti: 'stolen', kid: 'k', iat: T0.getTime() / 1000 }));

/** The revocations table as the cache reads it: it can be made unreachable (`down`), and its next read held until released. */
function revocationsTable() {
  const t = {
    rows: [] as Row[],
    down: false,
    holdNext: false,
    release: undefined as ((v: { rows: never[]; rowCount: number }) => void) | undefined,
    db: {
      query: async () => {
        if (t.down) throw new Error('pool: timeout acquiring a connection');
        if (t.holdNext) {
          t.holdNext = false;
          return new Promise<{ rows: never[]; rowCount: number }>((r) => (t.release = r));
        }
        return { rows: [...t.rows] as never[], rowCount: t.rows.length };
      },
    },
  };
  return t;
}

/** A started cache over the stand-in table and one LISTEN connection, heartbeating every 10 ms, with a 30 s freshness bound. */
async function listeningCache() {
  const clock = fixedClock(T0);
  const table = revocationsTable();
  const listener = fakeListener();
  const cache = new RevocationCache({ db: table.db, connectListener: async () => listener, freshnessSeconds: 30, resyncIntervalMs: 3_600_000, heartbeatIntervalMs: 10, clock });
  await cache.start();
  return { clock, table, listener, cache };
}

/** A notice without a kind and value: it names no entry to re-read, so only a full resync tells what changed. */
const unreadableNotice = (listener: EventEmitter) => listener.emit('notification', { channel: 'keyturn_revocations', payload: '{"op":"upsert","id":"1"}' });

/** Waits for a few heartbeats on the connection. */
async function heartbeats(listener: { queries: number }): Promise<void> {
  const seen = listener.queries;
  await until(() => listener.queries >= seen + 4);
}

describe('RevocationCache', () => {
  it('does not let heartbeats vouch for a list that missed notices while disconnected, when the resync after reconnecting fails', async () => {
    const clock = fixedClock(T0);
    const table = revocationsTable();
    const [first, second] = [fakeListener(), fakeListener()];
    let connects = 0;
    const cache = new RevocationCache({
      db: table.db,
      connectListener: async () => [first, second][Math.min(connects++, 1)]!,
      freshnessSeconds: 30,
      resyncIntervalMs: 3_600_000,
      heartbeatIntervalMs: 10,
      reconnectDelayMs: 10,
      clock,
    });
    await cache.start();
    try {
      first.emit('end');
      // While disconnected a jti is revoked (its NOTIFY reaches nobody), and the resync after reconnecting fails.
      table.rows.push(STOLEN);
      table.down = true;
      await until(() => connects === 2);
      clock.advance(120);
      // LISTEN, then heartbeats on the new connection.
      await until(() => second.queries >= 4);
      expect(await checkStolen(cache)).toBe('REVOCATION_STALE');
      // Once a resync succeeds on the new connection, the list is current again and refuses the jti.
      table.down = false;
      await cache.resync();
      expect(await checkStolen(cache)).toBe('REVOKED_JTI');
    } finally {
      await cache.close();
    }
  });

  it('does not let heartbeats vouch for a list after an unreadable notice, when the resync it calls for fails', async () => {
    const { clock, table, listener, cache } = await listeningCache();
    try {
      table.rows.push(STOLEN);
      table.down = true;
      unreadableNotice(listener);
      clock.advance(120);
      await heartbeats(listener);
      expect(await checkStolen(cache)).toBe('REVOCATION_STALE');
      table.down = false;
      await cache.resync();
      expect(await checkStolen(cache)).toBe('REVOKED_JTI');
    } finally {
      await cache.close();
    }
  });

  it('does not let a resync that began before an unreadable notice vouch for the list', async () => {
    const { clock, table, listener, cache } = await listeningCache();
    try {
      table.holdNext = true;
      const inFlight = cache.resync();
      await until(() => table.release !== undefined);
      table.rows.push(STOLEN);
      unreadableNotice(listener);
      table.down = true;
      table.release!({ rows: [] as never[], rowCount: 0 });
      await inFlight;
      clock.advance(120);
      await heartbeats(listener);
      expect(await checkStolen(cache)).toBe('REVOCATION_STALE');
    } finally {
      await cache.close();
    }
  });

  it('refresh applies one identity\'s entries at once, before any notice of them arrives', async () => {
    const { table, cache } = await listeningCache();
    try {
      table.rows.push(STOLEN);
      await cache.refresh('jti', 'stolen');
      expect(await checkStolen(cache)).toBe('REVOKED_JTI');
    } finally {
      await cache.close();
    }
  });

  it('a refresh that fails rejects, and heartbeats do not vouch for the list until a resync succeeds', async () => {
    const { clock, table, listener, cache } = await listeningCache();
    try {
      table.rows.push(STOLEN);
      table.down = true;
      await expect(cache.refresh('jti', 'stolen')).rejects.toThrow();
      clock.advance(120);
      await heartbeats(listener);
      expect(await checkStolen(cache)).toBe('REVOCATION_STALE');
    } finally {
      await cache.close();
    }
  });

  it('applies a freshness bound tightened after start at the next check', async () => {
    const clock = fixedClock(T0);
    let freshness = 60;
    const cache = new RevocationCache({
      db: { query: async () => ({ rows: [] as never[], rowCount: 0 }) },
      connectListener: async () => fakeListener(),
      freshnessSeconds: () => freshness,
      resyncIntervalMs: 3_600_000,
      heartbeatIntervalMs: 3_600_000,
      clock,
    });
    await cache.start();
    try {
      clock.advance(30);
      expect(await outcome(cache.check({ jti: 'j', kid: 'k', iat: T0.getTime() / 1000 }))).toBe('accepted');
      freshness = 10;
      expect(await outcome(cache.check({ jti: 'j', kid: 'k', iat: T0.getTime() / 1000 }))).toBe('REVOCATION_STALE');
    } finally {
      await cache.close();
    }
  });

  it('fails closed when the freshness bound it is given is not a number', async () => {
    const cache = new RevocationCache({
      db: { query: async () => ({ rows: [] as never[], rowCount: 0 }) },
      connectListener: async () => fakeListener(),
      freshnessSeconds: () => Number.NaN,
      resyncIntervalMs: 3_600_000,
      heartbeatIntervalMs: 3_600_000,
      clock: fixedClock(T0),
    });
    await cache.start();
    try {
      expect(await outcome(cache.check({ jti: 'j', kid: 'k', iat: T0.getTime() / 1000 }))).toBe('REVOCATION_STALE');
    } finally {
      await cache.close();
    }
  });
});
