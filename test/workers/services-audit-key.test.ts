import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { checkpointSigner, createServices } from '../../workers/services.js';
import { testPool } from '../support/db.js';

const pool = testPool();
afterAll(() => pool.end());

describe('the audit checkpoint key', () => {
  const saved = { kek: process.env.KEYTURN_KEK, file: process.env.KEYTURN_AUDIT_KEY_FILE, kekFile: process.env.KEYTURN_KEK_FILE };
  afterEach(() => {
    for (const [name, value] of [['KEYTURN_KEK', saved.kek], ['KEYTURN_AUDIT_KEY_FILE', saved.file], ['KEYTURN_KEK_FILE', saved.kekFile]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('is not loaded by a process that signs no checkpoints (the HTTP service), which starts without it', async () => {
    process.env.KEYTURN_KEK = randomBytes(32).toString('base64');
    delete process.env.KEYTURN_KEK_FILE;
    process.env.KEYTURN_AUDIT_KEY_FILE = '/nonexistent/keyturn-audit.jwk';
    const services = await createServices({ pool, warn: () => {}, signsCheckpoints: false });
    expect(services.auditSigner).toBeUndefined();
    expect(() => checkpointSigner(services)).toThrow(expect.objectContaining({ code: 'AUDIT_KEY_MISSING' }));
  });

  it('is required by a process that signs checkpoints', async () => {
    process.env.KEYTURN_KEK = randomBytes(32).toString('base64');
    delete process.env.KEYTURN_KEK_FILE;
    process.env.KEYTURN_AUDIT_KEY_FILE = '/nonexistent/keyturn-audit.jwk';
    await expect(createServices({ pool, warn: () => {} })).rejects.toMatchObject({ code: expect.stringMatching(/AUDIT_KEY|SECRET_FILE/) });
  });
});
