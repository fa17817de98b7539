import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import { KekHolderReport, kekIdsOf, liveKekHolders, reportKekHolder } from '../../agents/key-manager/kek-holders.js';
import { resealUnderActiveKek } from '../../agents/key-manager/reseal.js';
import { testPool, unique } from '../support/db.js';
import { actor, errorCode, keyIn, keyManager, policyVersion } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

const kekOf = async (kid: string) => (await pool.query<{ kek_id: string }>('SELECT kek_id FROM signing_keys WHERE kid = $1', [kid])).rows[0]!.kek_id;
const resealed = async (kid: string) => Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log WHERE action = 'key.resealed' AND subject ->> 'kid' = $1`, [kid])).rows[0]!.n);

/** A key sealed under a fresh KEK, and the ring that moves it to a new KEK. */
async function rotatedKek() {
  const [oldKek, newKek] = [randomBytes(32), randomBytes(32)];
  const old = new LocalKekProvider(oldKek);
  const key = await keyIn(keyManager(pool, { kek: old }), 'active');
  return { key, old, ring: new LocalKekProvider(newKek, [oldKek]) };
}
const reseal = (kek: LocalKekProvider) => resealUnderActiveKek({ pool, kek, appendAudit }, { actor, policyVersion });

describe('keys reseal and the running processes', () => {
  it('is refused with KEK_NOT_EVERYWHERE while a live process opens the old KEK but not the new one, and changes nothing', async () => {
    const { key, old, ring } = await rotatedKek();
    await reportKekHolder(pool, unique('old-worker'), new Date(), kekIdsOf(old));
    expect(await errorCode(reseal(ring))).toBe('KEK_NOT_EVERYWHERE');
    expect([await kekOf(key.kid), await resealed(key.kid)]).toEqual([old.id, 0]);
  });

  it('the refusal names the process and says what to do, without any KEK', async () => {
    const { old, ring } = await rotatedKek();
    const holder = unique('old-worker');
    await reportKekHolder(pool, holder, new Date(), kekIdsOf(old));
    const e = (await reseal(ring).catch((x: unknown) => x)) as Error & { hint?: string };
    expect(e.message).toContain(`${holder} (seals with ${old.id}`);
    expect(e.hint).toMatch(/^Restart them with the new KEK file/);
  });

  it('proceeds once that process reports the new ring', async () => {
    const { key, old, ring } = await rotatedKek();
    const holder = unique('worker');
    await reportKekHolder(pool, holder, new Date(), kekIdsOf(old));
    await reportKekHolder(pool, holder, new Date(), kekIdsOf(ring));
    const out = await reseal(ring);
    expect(out.resealed.map((r) => r.kid)).toEqual([key.kid]);
    expect(out.holders.map((h) => h.holder)).toContain(holder);
  });

  it('is not held up by a process that stopped reporting 45 s ago', async () => {
    const { key, old, ring } = await rotatedKek();
    const holder = unique('crashed-worker');
    await reportKekHolder(pool, holder, new Date(), kekIdsOf(old));
    await pool.query(`UPDATE kek_holders SET seen_at = now() - interval '46 seconds' WHERE holder = $1`, [holder]);
    expect((await reseal(ring)).resealed.map((r) => r.kid)).toEqual([key.kid]);
  });

  it('is not held up by a process that holds none of the KEKs being moved (another deployment)', async () => {
    const { key, ring } = await rotatedKek();
    await reportKekHolder(pool, unique('elsewhere'), new Date(), kekIdsOf(new LocalKekProvider(randomBytes(32))));
    expect((await reseal(ring)).resealed.map((r) => r.kid)).toEqual([key.kid]);
  });
});

describe('keys reseal while a process starts on the old KEK', () => {
  it('stops before the next key: the keys already moved stay moved, the rest stay as they were', async () => {
    const [oldKek, newKek] = [randomBytes(32), randomBytes(32)];
    const old = new LocalKekProvider(oldKek);
    const km = keyManager(pool, { kek: old });
    const [first, second] = [await keyIn(km, 'active'), await keyIn(km, 'active')];
    const ring = new LocalKekProvider(newKek, [oldKek]);
    // The first key's audit entry is where a worker on the old KEK alone happens to start.
    let started = false;
    const startingWorker: typeof appendAudit = async (db, entry) => {
      const written = await appendAudit(db, entry);
      if (!started && entry.action === 'key.resealed') {
        started = true;
        await reportKekHolder(pool, unique('late-worker'), new Date(), kekIdsOf(old));
      }
      return written;
    };
    expect(await errorCode(resealUnderActiveKek({ pool, kek: ring, appendAudit: startingWorker }, { actor, policyVersion }))).toBe('KEK_NOT_EVERYWHERE');
    expect([await kekOf(first.kid), await kekOf(second.kid)]).toEqual([ring.id, old.id]);
  });
});

describe('KekHolderReport', () => {
  it('reports the KEK ids a process holds while it runs and withdraws them when it stops', async () => {
    const { ring } = await rotatedKek();
    const report = new KekHolderReport(pool, kekIdsOf(ring));
    await report.start();
    expect((await liveKekHolders(pool)).find((h) => h.holder === report.holder)).toMatchObject({ sealsWith: ring.id, opens: [ring.id, ...ring.olderIds] });
    await report.stop();
    expect((await liveKekHolders(pool)).map((h) => h.holder)).not.toContain(report.holder);
  });
});
