import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../infra/postgres/embedded.js';

describe('embedded PostgreSQL start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-pg-twice-'));
  let first: EmbeddedPg | undefined;
  afterAll(async () => {
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
});
