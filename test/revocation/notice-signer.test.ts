import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateChannelKey } from '../../agents/approvals/channel-keys.js';
import { createServices } from '../../workers/services.js';
import { testPool } from '../support/db.js';

const pool = testPool();
afterAll(() => pool.end());

describe("the worker's revocation-notice key", () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyturn-notice-key-'));
  const saved = process.env.KEYTURN_REVOCATION_KEY_FILE;
  afterEach(() => {
    if (saved === undefined) delete process.env.KEYTURN_REVOCATION_KEY_FILE;
    else process.env.KEYTURN_REVOCATION_KEY_FILE = saved;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is read again after a failed load, so a key file put right meanwhile is used without a restart', async () => {
    const file = join(dir, 'revocation-key.jwk');
    process.env.KEYTURN_REVOCATION_KEY_FILE = file;
    const services = await createServices({ pool, devDataDir: dir, warn: () => {} });
    await expect(services.noticeSigner()).rejects.toMatchObject({ code: 'SECRET_FILE_MISSING' });
    writeFileSync(file, `${JSON.stringify((await generateChannelKey()).privateJwk)}\n`, { mode: 0o600 });
    expect((await services.noticeSigner()).publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
  });
});
