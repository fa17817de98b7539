import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { freePort } from '../../infra/net.js';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../infra/postgres/embedded.js';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-pg-twice-'));
  let first: EmbeddedPg | undefined;
  let squatter: Server | undefined;
  afterAll(async () => {
    squatter?.close();
    await first?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('on a data directory another server holds fails with POSTGRES_START_FAILED giving PostgreSQL\'s reason', async () => {
    first = await startEmbeddedPostgres({ dataDir: join(dir, 'data') });
    const error = await startEmbeddedPostgres({ dataDir: join(dir, 'data') }).then(() => undefined, (e: unknown) => e);
    expect(isKeyturnError(error, 'POSTGRES_START_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/lock file|postmaster\.pid|already/i);
    expect((error as Error).message).not.toContain('undefined');
  }, 60_000);

  it('on a port another program listens on fails with POSTGRES_START_FAILED saying the address is in use', async () => {
    const port = await freePort();
    squatter = createServer();
    await new Promise<void>((resolve) => squatter!.listen(port, '127.0.0.1', resolve));
    const error = await startEmbeddedPostgres({ dataDir: join(dir, 'other'), port }).then(() => undefined, (e: unknown) => e);
    expect(isKeyturnError(error, 'POSTGRES_START_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/already in use/i);
  }, 60_000);

  it('on a port it picked that another program took first, starts on another one', async () => {
    const taken = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve));
    let calls = 0;
    try {
      const pg = await startEmbeddedPostgres({ pickPort: async () => (calls++ === 0 ? taken : freePort()) });
      await pg.stop();
      expect(pg.port).not.toBe(taken);
      expect(calls).toBe(2);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('stop() returns once PostgreSQL has already exited on its own signal, as after Ctrl-C to the process group', async () => {
    const pg = await startEmbeddedPostgres();
    const pid = Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await expect.poll(() => isRunning(pid), { timeout: 30_000 }).toBe(false);
    await pg.stop();
    expect(existsSync(pg.dataDir)).toBe(false);
  }, 60_000);
});
