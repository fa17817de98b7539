import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { isTokenRejected } from '../../agents/validator/errors.js';
import { pgListener, RevocationCache } from '../../agents/validator/revocation-list.js';
import { migrate } from '../../db/migrate.js';
import { createPool, type Pool } from '../../db/pool.js';
import { freePort } from '../../infra/net.js';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../infra/postgres/embedded.js';
import { eventually } from '../policy/support.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * A PostgreSQL server of these tests' own, stopped and started again on the same port and data
 * directory while keyturn runs against it: a real outage, not a refused query.
 */
describe('PostgreSQL outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-outage-'));
  let port: number;
  let pg: EmbeddedPg | undefined;
  const start = async () => {
    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port });
    return pg;
  };
  const stop = async () => {
    await pg?.stop();
    pg = undefined;
  };

  beforeAll(async () => {
    port = await freePort();
    await migrate((await start()).url);
  }, 120_000);
  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('during activation', () => {
    let stack: RotationStack | undefined;
    afterAll(async () => {
      if (!pg) await start();
      await stack?.stop();
    });

    it('the activation step retries, and the run completes once PostgreSQL is back, with one active key and an intact audit chain', async () => {
      stack = await startRotationStack({ name: 'outage', databaseUrl: pg!.url, issuer: { prePublishLead: '3s', postRetireOverlap: '6s' } });
      const oldKid = await seedActiveKey(stack);
      const handle = await stack.rotate('outage drill');
      await stack.decide(handle, 'approve', 'cli:alice');
      await stack.waitFor(handle, (s) => s.phase === 'pre_publication', 'the pre-publication wait');

      await stop();
      let attempts = 0;
      await eventually(async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        attempts = Math.max(0, ...pending.map((a) => a.attempt ?? 0));
        return attempts >= 3;
      }, 60_000);
      const during = await stack.status(handle);
      await start();

      const r = await result(handle);
      const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
      expect(attempts).toBeGreaterThanOrEqual(3);
      expect(during.phase).toBe('activating');
      expect(r.outcome).toBe('completed');
      expect(keys.filter((k) => k.state === 'active').map((k) => k.kid)).toEqual([r.newKid]);
      expect(keys.find((k) => k.kid === oldKid)!.state).toBe('retired');
      expect(keys).toHaveLength(2);
      expect(await stack.jwksKids()).toEqual([r.newKid]);
      expect(await verifyAuditChain(stack.pool, null)).toMatchObject({ ok: true });
    }, 180_000);
  });

  describe('for a validator', () => {
    let cache: RevocationCache | undefined;
    let db: Pool | undefined;
    afterAll(async () => {
      if (!pg) await start();
      await cache?.close();
      await db?.end();
    });

    const codeOf = async () => {
      try {
        await cache!.check({ jti: randomUUID(), kid: 'kid-outage', sub: 'client-outage', iat: Math.floor(Date.now() / 1000) - 1 });
        return 'ok';
      } catch (e) {
        if (isTokenRejected(e)) return e.code;
        throw e;
      }
    };

    it('fails closed with REVOCATION_STALE once freshness is lost, and accepts again when PostgreSQL returns', async () => {
      db = createPool(pg!.url, { max: 2 });
      cache = new RevocationCache({ db, connectListener: pgListener(pg!.url, 'keyturn-outage-validator'), freshnessSeconds: 2, heartbeatIntervalMs: 200, resyncIntervalMs: 500, reconnectDelayMs: 200 });
      await cache.start();
      expect(await codeOf()).toBe('ok');

      await stop();
      await eventually(async () => (await codeOf()) === 'REVOCATION_STALE', 30_000);
      await start();
      await eventually(async () => (await codeOf()) === 'ok', 30_000);
    }, 120_000);
  });
});
