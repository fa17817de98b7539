import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/net.js';
import { stopChild } from '../../infra/process.js';
import { startDevServer, type DevServer } from '../../infra/temporal/dev-server.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey, sleep } from './support.js';

/** `workers/main.ts` as its own process, as docker-compose runs it. */
function workerProcess(stack: RotationStack): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env: stack.workerProcessEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  child.on('exit', (code, signal) => {
    if (code && code !== 0) process.stderr.write(`worker process exited ${code} ${signal}: ${err}\n`);
  });
  return child;
}

async function keysOf(stack: RotationStack) {
  return stack.services.keyManager.listKeys({ issuer: stack.issuer });
}

describe('a worker killed with SIGKILL between activation and the canary', () => {
  let stack: RotationStack;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) await stopChild(c, 5_000);
    await stack?.stop();
  });

  it('is replaced by another worker, the run resumes and completes, and no second key is generated', async () => {
    stack = await startRotationStack({ name: 'crash', noWorker: true, issuer: { prePublishLead: '2s' } });
    children.push(workerProcess(stack));
    const oldKid = await seedActiveKey(stack);
    const handle = await stack.rotate('crash drill');
    await stack.decide(handle, 'approve', 'cli:alice');

    // Watch PostgreSQL for the activation and kill the worker the moment it lands.
    let newKid: string | undefined;
    while (!newKid) {
      const active = (await keysOf(stack)).find((k) => k.state === 'active' && k.kid !== oldKid);
      newKid = active?.kid;
      if (!newKid) await sleep(5);
    }
    children[0]!.kill('SIGKILL');
    const killedAt = new Date();

    children.push(workerProcess(stack));
    const r = await result(handle);
    const keys = await keysOf(stack);
    expect(r.reason).toBeUndefined();
    expect(r).toMatchObject({ outcome: 'completed', newKid, previousKid: oldKid });
    expect(keys.map((k) => `${k.kid}:${k.state}`).sort()).toEqual([`${newKid}:active`, `${oldKid}:retired`].sort());
    expect(await stack.jwksKids()).toEqual([newKid]);
    const { rows } = await stack.pool.query<{ at: Date }>(
      `SELECT at FROM audit_log WHERE action = 'token.canary' AND details ->> 'step' = 'canary-after' AND actor ->> 'workflowId' = $1`,
      [handle.workflowId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.at.getTime()).toBeGreaterThan(killedAt.getTime());
  });
});

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
  });
});
