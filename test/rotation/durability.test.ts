import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/net.js';
import { startDevServer, type DevServer } from '../../infra/temporal/dev-server.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey, sleep } from './support.js';

async function keysOf(stack: RotationStack) {
  return stack.services.keyManager.listKeys({ issuer: stack.issuer });
}

describe('the file-backed Temporal server restarted during the overlap', () => {
  let stack: RotationStack;
  let server: DevServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-restart-'));
  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('still retires the previous key, not before the overlap has passed', async () => {
    const port = await freePort();
    const uiPort = await freePort();
    const start = () => startDevServer({ port, uiPort, dbFilename: join(dir, 'temporal.db'), say: () => {} });
    server = await start();
    stack = await startRotationStack({ name: 'restart', temporalAddress: server.address, issuer: { postRetireOverlap: '10s' } });
    const oldKid = await seedActiveKey(stack);
    const handle = await stack.rotate('restart drill');
    await stack.decide(handle, 'approve', 'cli:alice');
    const overlap = await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');

    await server.stop();
    server = undefined;
    await sleep(1_000);
    server = await start();

    const r = await result(handle);
    const old = (await keysOf(stack)).find((k) => k.kid === oldKid)!;
    expect(r.outcome).toBe('completed');
    expect(old.state).toBe('retired');
    expect(new Date(old.retiredAt!).getTime()).toBeGreaterThanOrEqual(new Date(overlap.deadlines.retireAt!).getTime());
  }, 180_000);
});
