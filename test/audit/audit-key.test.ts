import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { compactVerify, exportJWK, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importAuditPublicKey, loadAuditKey } from '../../agents/auditor/audit-key.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyturn-audit-key-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function keyFile(mode: number): Promise<string> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const path = join(dir, 'audit.jwk');
  await writeFile(path, JSON.stringify(await exportJWK(privateKey)));
  await chmod(path, mode);
  return path;
}

describe('loadAuditKey', () => {
  it('refuses a KEYTURN_AUDIT_KEY_FILE with mode 0644 with SECRET_FILE_PERMISSIONS', async () => {
    const path = await keyFile(0o644);
    await expect(loadAuditKey({ env: { KEYTURN_AUDIT_KEY_FILE: path } })).rejects.toMatchObject({ code: 'SECRET_FILE_PERMISSIONS', hint: expect.stringContaining(`chmod 600 ${path}`) });
  });

  it('loads a KEYTURN_AUDIT_KEY_FILE with mode 0600', async () => {
    const signer = await loadAuditKey({ env: { KEYTURN_AUDIT_KEY_FILE: await keyFile(0o600) } });
    expect(signer.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
  });

  it('generates a dev key into the data dir with mode 0600, and warns', async () => {
    const warnings: string[] = [];
    const signer = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: (m) => warnings.push(m) });
    expect((await stat(join(dir, 'audit-key.jwk'))).mode & 0o777).toBe(0o600);
    expect(signer.source).toBe(join(dir, 'audit-key.jwk'));
    expect(warnings).toHaveLength(1);
  });

  it('reuses the generated dev key on the next load', async () => {
    const first = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: () => {} });
    const second = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: () => {} });
    expect(second.kid).toBe(first.kid);
  });

  it('returns null with create: false when there is no key', async () => {
    expect(await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, create: false })).toBeNull();
  });

  it('never exposes the private key through JSON, inspect or the public JWK', async () => {
    const signer = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: () => {} });
    expect(JSON.stringify(signer)).not.toMatch(/"d"/);
    expect(inspect(signer, { depth: 5, showHidden: true })).not.toMatch(/privateKey|"d"/);
    expect(signer.publicJwk).not.toHaveProperty('d');
  });

  it('signs JSON that the exported public key verifies', async () => {
    const signer = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: () => {} });
    const jws = await signer.signJson({ seq: 1 });
    const { payload } = await compactVerify(jws, await importAuditPublicKey(signer.publicJwk));
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ seq: 1 });
  });
});
