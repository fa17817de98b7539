import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, compactVerify, generateKeyPair } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { loadAuditKey, type AuditSigner } from '../../agents/auditor/audit-key.js';
import { checkpoint, startCheckpointer } from '../../agents/auditor/checkpoint.js';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import { CHECKPOINT_LOG_MESSAGE, checkpointLogFields, parseWitnessLog } from '../../agents/auditor/witness.js';
import { isolatedDatabase, sampleEntry, type IsolatedDb } from './support.js';

let signer: AuditSigner;
let keyDir: string;
let db: IsolatedDb;

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'keyturn-audit-cp-'));
  signer = await loadAuditKey({ env: { KEYTURN_DATA_DIR: keyDir }, warn: () => {} });
  return () => rm(keyDir, { recursive: true, force: true });
});
beforeEach(async () => {
  db = await isolatedDatabase();
  for (let i = 0; i < 3; i++) await appendAudit(db.app, sampleEntry());
});
afterEach(() => db.drop());

async function forge(seq: number, headHash: string, sign: (p: Uint8Array) => Promise<string>): Promise<number> {
  const at = new Date().toISOString();
  const jws = await sign(new TextEncoder().encode(JSON.stringify({ seq, headHash, at })));
  const { rows } = await db.app.query<{ id: string }>('INSERT INTO audit_checkpoints (at, seq, head_hash, jws) VALUES ($1, $2, $3, $4) RETURNING id::text AS id', [at, seq, headHash, jws]);
  return Number(rows[0]!.id);
}

describe('audit checkpoints', () => {
  it('signs {seq, headHash, at} of the head with the audit key', async () => {
    const cp = await checkpoint(db.app, signer);
    const { payload, protectedHeader } = await compactVerify(cp!.jws, signer.publicJwk);
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ seq: 3, headHash: cp!.headHash, at: cp!.at });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: signer.kid });
  });

  it('verify names the entries appended since the newest checkpoint, and none once a checkpoint signs the head', async () => {
    await checkpoint(db.app, signer);
    expect(await verifyAuditChain(db.app, signer.publicJwk)).not.toHaveProperty('uncovered');
    await appendAudit(db.app, sampleEntry());
    await appendAudit(db.app, sampleEntry());
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: true, uncovered: { fromSeq: 4, count: 2, oldestAt: expect.any(String) } });
  });

  it('verifies alongside the chain', async () => {
    await checkpoint(db.app, signer);
    await appendAudit(db.app, sampleEntry());
    await checkpoint(db.app, signer);
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: true, entries: 4, checkpoints: 2, headSeq: 4 });
  });

  it('reports a checkpoint signed by another key as checkpoint-invalid', async () => {
    const { hash } = (await db.app.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 2')).rows[0]!;
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const id = await forge(2, hash, (p) => new CompactSign(p).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid }).sign(privateKey));
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: false, reason: 'checkpoint-invalid', seq: 2, checkpointId: id, expectedHash: hash, foundHash: hash });
  });

  it('a checkpoint row not signed by the audit key does not hide a break in the chain after it', async () => {
    const { hash } = (await db.app.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 1')).rows[0]!;
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await forge(1, hash, (p) => new CompactSign(p).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid }).sign(privateKey));
    await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await db.su.query(`UPDATE audit_log SET details = '{"altered":true}' WHERE seq = 3`);
    await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: false, reason: 'hash-mismatch', seq: 3 });
  });

  it('a checkpoint row not signed by the audit key, beyond the end of the chain, does not stop the checkpointer', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    await forge(1_000_000, 'f'.repeat(64), (p) => new CompactSign(p).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid }).sign(privateKey));
    const cp = await checkpoint(db.app, signer);
    expect(cp).toMatchObject({ seq: expect.any(Number) });
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: false, reason: 'checkpoint-invalid', seq: 1_000_000, message: expect.stringContaining('vouch for nothing') });
  });

  it('reports a validly signed checkpoint whose head hash differs from the chain', async () => {
    const { hash } = (await db.app.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 2')).rows[0]!;
    await forge(2, 'a'.repeat(64), (p) => signer.signJson(JSON.parse(new TextDecoder().decode(p))));
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: false, reason: 'checkpoint-invalid', seq: 2, expectedHash: hash, foundHash: 'a'.repeat(64) });
  });

  it('reports entries removed from the end after a checkpoint', async () => {
    const cp = await checkpoint(db.app, signer);
    await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await db.su.query('DELETE FROM audit_log WHERE seq = 3');
    await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: false, reason: 'checkpoint-invalid', seq: 3, foundHash: cp!.headHash });
  });

  it('a checkpoint the worker logged catches the newest entries deleted together with their checkpoint rows', async () => {
    const cp = (await checkpoint(db.app, signer))!;
    const logged = parseWitnessLog(JSON.stringify({ level: 30, msg: CHECKPOINT_LOG_MESSAGE, ...checkpointLogFields(cp) }), 'worker.log').checkpoints;
    await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await db.su.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_update_delete');
    await db.su.query('DELETE FROM audit_log WHERE seq = 3');
    await db.su.query('DELETE FROM audit_checkpoints');
    await db.su.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER audit_checkpoints_no_update_delete');
    await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    expect(await verifyAuditChain(db.app, signer.publicJwk)).toMatchObject({ ok: true, headSeq: 2 });
    expect(await verifyAuditChain(db.app, signer.publicJwk, { witnesses: logged })).toMatchObject({
      ok: false, reason: 'checkpoint-invalid', seq: 3, foundHash: cp.headHash,
      message: 'the checkpoint logged at worker.log:1 vouches for seq 3, but the chain ends at seq 2: entries were removed from the end',
    });
  });

  it('a logged checkpoint not signed by the audit key breaks verification instead of vouching', async () => {
    const cp = (await checkpoint(db.app, signer))!;
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ seq: cp.seq, headHash: cp.headHash, at: cp.at }))).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid }).sign(privateKey);
    const logged = parseWitnessLog(JSON.stringify({ msg: CHECKPOINT_LOG_MESSAGE, ...checkpointLogFields({ ...cp, jws }) }), 'worker.log').checkpoints;
    const result = await verifyAuditChain(db.app, signer.publicJwk, { witnesses: logged });
    expect(result).toMatchObject({ ok: false, reason: 'checkpoint-invalid', message: expect.stringMatching(/^the checkpoint logged at worker\.log:1 at seq 3 is not signed by the audit key; it is the only such row/) });
    expect(result).not.toHaveProperty('checkpointId');
  });

  it('counts the logged copies it verified', async () => {
    const cp = (await checkpoint(db.app, signer))!;
    const logged = parseWitnessLog(JSON.stringify({ msg: CHECKPOINT_LOG_MESSAGE, ...checkpointLogFields(cp) }), 'worker.log').checkpoints;
    expect(await verifyAuditChain(db.app, signer.publicJwk, { witnesses: logged })).toMatchObject({ ok: true, checkpoints: 2, witnessed: 1 });
  });

  it('refuses to sign a chain that was tampered with', async () => {
    await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await db.su.query(`UPDATE audit_log SET action = 'key.forged' WHERE seq = 2`);
    await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    await expect(checkpoint(db.app, signer)).rejects.toMatchObject({ code: 'AUDIT_CHAIN_BROKEN' });
  });

  it('writes nothing with onlyIfAdvanced when nothing was appended since the last checkpoint', async () => {
    await checkpoint(db.app, signer);
    expect(await checkpoint(db.app, signer, { onlyIfAdvanced: true })).toBeNull();
  });

  it('startCheckpointer checkpoints periodically until stopped', async () => {
    const seen: number[] = [];
    const stop = startCheckpointer(db.app, signer, 50, { onCheckpoint: (cp) => seen.push(cp.seq) });
    await expect.poll(() => seen, { timeout: 5000 }).toEqual([3]);
    await stop();
    const { rows } = await db.app.query('SELECT count(*)::int AS n FROM audit_checkpoints');
    expect(rows[0].n).toBe(1);
  });
});
