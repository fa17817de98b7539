import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { fixedClock } from '../../agents/shared/clock.js';
import { isTokenRejected, type RejectionCode } from '../../agents/validator/errors.js';
import { liftRevocation, makePermanent, PgSingleUseStore, pgListener, purgeExpiredRevocations, revoke, RevocationCache, type RevocationCacheOptions } from '../../agents/validator/revocation-list.js';
import type { RevocationSubject } from '../../agents/validator/types.js';
import { superuserPool, testPool, unique } from '../support/db.js';
import { expectRejected, NOW, T0, testKey, token, validatorFor } from './support.js';

const pool = testPool();
const writer = testPool();
const admin = superuserPool();
const HOUR = 3_600_000;
const expiresAt = new Date(T0.getTime() + HOUR);
const caches: RevocationCache[] = [];

afterEach(async () => {
  for (const c of caches.splice(0)) await c.close();
});
afterAll(async () => {
  await Promise.all([pool.end(), writer.end(), admin.end()]);
});

/** A started cache whose background loops are slow unless the test says otherwise. */
async function cache(o: Partial<RevocationCacheOptions> = {}) {
  const c = new RevocationCache({
    db: pool,
    connectListener: pgListener(inject('databaseUrl')),
    freshnessSeconds: 30,
    resyncIntervalMs: HOUR,
    heartbeatIntervalMs: HOUR,
    clock: fixedClock(T0),
    ...o,
  });
  caches.push(c);
  await c.start();
  return c;
}

const subject = (o: Partial<RevocationSubject> = {}): RevocationSubject => ({ jti: randomUUID(), kid: unique('kid'), sub: unique('sub'), iat: NOW - 10, ...o });

async function codeOf(c: RevocationCache, s: RevocationSubject): Promise<RejectionCode | 'ok'> {
  try {
    await c.check(s);
    return 'ok';
  } catch (e) {
    if (isTokenRejected(e)) return e.code;
    throw e;
  }
}

/** Polls until `fn` holds (generous bound; no timing assertion). */
async function eventually(fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('RevocationCache', () => {
  it('sees a revocation written by another pool through LISTEN/NOTIFY, without a resync', async () => {
    const c = await cache();
    const s = subject();
    await revoke(writer, { kind: 'jti', value: s.jti, expiresAt, reason: 'test' });
    await eventually(async () => (await codeOf(c, s)) === 'REVOKED_JTI');
  });

  it('applies a notice in the http/oauth.ts shape ({kind, value} only)', async () => {
    const c = await cache();
    const s = subject();
    await writer.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, $2, false, 'oauth')`, [s.jti, expiresAt]);
    await writer.query(`SELECT pg_notify('keyturn_revocations', $1)`, [JSON.stringify({ kind: 'jti', value: s.jti })]);
    await eventually(async () => (await codeOf(c, s)) === 'REVOKED_JTI');
  });

  it('accepts a token again once its temporary revocation is lifted', async () => {
    const c = await cache();
    const s = subject();
    const r = await revoke(writer, { kind: 'kid', value: s.kid, expiresAt, temporary: true, reason: 'suspended' });
    await eventually(async () => (await codeOf(c, s)) === 'REVOKED_KID');
    await liftRevocation(writer, r.id);
    await eventually(async () => (await codeOf(c, s)) === 'ok');
  });

  it('revokes only tokens issued before not_before for a sub revocation with `before`', async () => {
    const c = await cache();
    const sub = unique('sub');
    await revoke(writer, { kind: 'sub', value: sub, before: T0, expiresAt, reason: 'credential leak' });
    await c.resync();
    expect(await codeOf(c, subject({ sub, iat: NOW - 1 }))).toBe('REVOKED_SUB');
    expect(await codeOf(c, subject({ sub, iat: NOW }))).toBe('ok');
  });

  it('ignores an entry past its expires_at', async () => {
    const clock = fixedClock(T0);
    const c = await cache({ clock });
    const s = subject();
    await revoke(writer, { kind: 'jti', value: s.jti, expiresAt: new Date(T0.getTime() + 10_000), reason: 'test' });
    await c.resync();
    clock.advance(11);
    expect(await codeOf(c, s)).toBe('ok');
  });

  it('fails closed with REVOCATION_STALE once unconfirmed for longer than the freshness bound', async () => {
    const clock = fixedClock(T0);
    const c = await cache({ clock, freshnessSeconds: 30 });
    expect(await codeOf(c, subject())).toBe('ok');
    clock.advance(31);
    expect(await codeOf(c, subject())).toBe('REVOCATION_STALE');
  });

  it('is fresh again after a successful resync', async () => {
    const clock = fixedClock(T0);
    const c = await cache({ clock });
    clock.advance(31);
    await c.resync();
    expect(await codeOf(c, subject())).toBe('ok');
  });

  it('stays stale while resyncs fail (database unreachable)', async () => {
    const clock = fixedClock(T0);
    const broken = { query: async () => Promise.reject(new Error('connection refused')) };
    const c = new RevocationCache({ db: broken, connectListener: pgListener(inject('databaseUrl')), freshnessSeconds: 30, resyncIntervalMs: HOUR, heartbeatIntervalMs: HOUR, clock });
    caches.push(c);
    await expect(c.start()).rejects.toThrow(/connection refused/);
    expect(await codeOf(c, subject())).toBe('REVOCATION_STALE');
  });

  it('is confirmed by heartbeats on a healthy LISTEN connection', async () => {
    const clock = fixedClock(T0);
    const c = await cache({ clock, heartbeatIntervalMs: 20 });
    clock.advance(120);
    await eventually(async () => c.lastConfirmedAt?.getTime() === T0.getTime() + 120_000);
    expect(await codeOf(c, subject())).toBe('ok');
  });

  it('reconnects its LISTEN connection after the database drops it', async () => {
    const app = unique('kt-rev');
    const c = await cache({ connectListener: pgListener(inject('databaseUrl'), app), reconnectDelayMs: 50 });
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [app]);
    await eventually(async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [app])).rowCount === 1);
    const s = subject();
    await revoke(writer, { kind: 'jti', value: s.jti, expiresAt, reason: 'after reconnect' });
    await eventually(async () => (await codeOf(c, s)) === 'REVOKED_JTI');
  });
});

describe('revocation writers', () => {
  it('returns the same entry for a repeated revocation', async () => {
    const value = unique('jti');
    const a = await revoke(writer, { kind: 'jti', value, expiresAt, reason: 'one' });
    const b = await revoke(writer, { kind: 'jti', value, expiresAt, reason: 'two' });
    expect(b.id).toBe(a.id);
  });

  it('never downgrades a permanent revocation to temporary', async () => {
    const value = unique('jti');
    await revoke(writer, { kind: 'jti', value, expiresAt, reason: 'permanent' });
    expect((await revoke(writer, { kind: 'jti', value, expiresAt, temporary: true, reason: 'temp' })).temporary).toBe(false);
  });

  it('refuses to lift a permanent revocation', async () => {
    const r = await revoke(writer, { kind: 'sub', value: unique('sub'), expiresAt, reason: 'permanent' });
    const e = await liftRevocation(writer, r.id).catch((x: unknown) => x);
    expect(isKeyturnError(e, 'REVOCATION_PERMANENT')).toBe(true);
  });

  it('refuses to lift a suspension made permanent', async () => {
    const r = await revoke(writer, { kind: 'kid', value: unique('kid'), expiresAt, temporary: true, reason: 'suspended' });
    await makePermanent(writer, r.id);
    const e = await liftRevocation(writer, r.id).catch((x: unknown) => x);
    expect(isKeyturnError(e, 'REVOCATION_PERMANENT')).toBe(true);
  });

  it('reports an unknown id when lifting', async () => {
    const e = await liftRevocation(writer, '999999999999').catch((x: unknown) => x);
    expect(isKeyturnError(e, 'REVOCATION_NOT_FOUND')).toBe(true);
  });

  it('refuses `before` on a jti revocation', async () => {
    const e = await revoke(writer, { kind: 'jti', value: unique('jti'), before: T0, expiresAt, reason: 'x' }).catch((x: unknown) => x);
    expect(isKeyturnError(e, 'REVOCATION_INVALID')).toBe(true);
  });
});

describe('PgSingleUseStore', () => {
  let key: Awaited<ReturnType<typeof testKey>>;
  beforeAll(async () => {
    key = await testKey('ES256');
  });

  it('refuses the second use of a single-use token', async () => {
    const v = validatorFor([key], { singleUse: new PgSingleUseStore(pool) });
    const t = token(key, { claims: { jti: unique('jti') } });
    await v.verify(t, { singleUse: true });
    await expectRejected(v.verify(t, { singleUse: true }), 'TOKEN_REPLAYED');
  });

  it('lets exactly one of many concurrent uses through', async () => {
    const v = validatorFor([key], { singleUse: new PgSingleUseStore(pool) });
    const t = token(key, { claims: { jti: unique('jti') } });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => v.verify(t, { singleUse: true })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('purges deny-list entries that can no longer match a valid token, and keeps the others', async () => {
    const [gone, live] = [unique('expired'), unique('live')];
    await pool.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, now() - interval '1 second', false, 't'), ('jti', $2, now() + interval '1 hour', false, 't')`, [gone, live]);
    expect(await purgeExpiredRevocations(pool, new Date())).toBeGreaterThanOrEqual(1);
    const left = await pool.query<{ value: string }>('SELECT value FROM revocations WHERE value = ANY($1)', [[gone, live]]);
    expect(left.rows.map((r) => r.value)).toEqual([live]);
  });

  it('purges used jtis whose tokens can no longer be valid', async () => {
    const jti = unique('jti');
    await pool.query(`INSERT INTO used_jtis (jti, expires_at) VALUES ($1, $2)`, [jti, new Date(T0.getTime() - 1000)]);
    await new PgSingleUseStore(pool, { clock: fixedClock(T0) }).purge();
    expect((await pool.query(`SELECT 1 FROM used_jtis WHERE jti = $1`, [jti])).rowCount).toBe(0);
  });
});
