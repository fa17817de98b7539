import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import { liveKekHolders } from '../../agents/key-manager/kek-holders.js';
import { resealUnderActiveKek } from '../../agents/key-manager/reseal.js';
import { eventually } from '../policy/support.js';
import { workerProcessStack } from '../support/worker-process.js';
import { actor, errorCode, keyIn, policyVersion } from './support.js';

const fixture = workerProcessStack('kek-holder');

describe('a running worker process and keys reseal', () => {
  it('a worker on the old KEK holds the reseal back until it stops, and its report goes with it', async () => {
    const { db, stack, env } = await fixture.start();
    const oldKek = Buffer.from(readFileSync(env.KEYTURN_KEK_FILE!, 'utf8').trim().split('\n')[0]!, 'base64');
    const old = new LocalKekProvider(oldKek);
    const key = await keyIn(stack.services.keyManager, 'active', stack.issuer);
    const others = new Set((await liveKekHolders(db.app)).map((h) => h.holder));

    const worker = fixture.spawnWorker(env);
    let holder: string | undefined;
    await eventually(async () => {
      holder = (await liveKekHolders(db.app)).find((h) => !others.has(h.holder) && h.sealsWith === old.id)?.holder;
      return holder !== undefined;
    }, 60_000);
    expect(holder).toMatch(new RegExp(`:${worker.pid}:`));

    const ring = new LocalKekProvider(randomBytes(32), [oldKek]);
    const reseal = () => resealUnderActiveKek({ pool: db.app, kek: ring, appendAudit }, { actor, policyVersion });
    expect(await errorCode(reseal())).toBe('KEK_NOT_EVERYWHERE');

    await fixture.stopWorker(10_000);
    expect((await liveKekHolders(db.app)).map((h) => h.holder)).not.toContain(holder);
    expect((await reseal()).resealed.map((r) => r.kid)).toEqual([key.kid]);
  }, 120_000);
});
