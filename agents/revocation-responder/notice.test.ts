import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import {
  buildRevocationNotice,
  loadDevRevocationNoticeKey,
  loadRevocationNoticeKey,
  REVOCATION_NOTICE_TYP,
  revocationNoticeSignerFromJwk,
  signRevocationNotice,
  verifyRevocationNotice,
  type RevocationNoticeSigner,
} from './notice.js';

async function privateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return exportJWK(privateKey);
}

const SENT = '2030-01-02T03:04:05.000Z';
const notice = buildRevocationNotice({ seq: 1, event: 'revocation.confirmed', kind: 'kid', value: 'k'.repeat(43), issuer: 'https://issuer.test', revokedAt: SENT, aud: 'billing', jti: 'notice-1' });
/** The subscriber's clock, a minute after the notice was sent. */
const inTime = { now: () => new Date(Date.parse(SENT) + 60_000) };

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `not a KeyturnError: ${String(e)}`;
  }
  return 'resolved';
}

function tamperPayload(jws: string, edit: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = jws.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  edit(payload);
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

describe('revocation notices', () => {
  let jwk: JWK;
  let signer: RevocationNoticeSigner;
  beforeAll(async () => {
    jwk = await privateJwk();
    signer = await revocationNoticeSignerFromJwk(jwk, 'test');
  });

  it('sign as an EdDSA JWS with typ keyturn-revocation+jws and the key id, and verify', async () => {
    const jws = await signRevocationNotice(notice, signer);
    const header = JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    expect(header).toEqual({ alg: 'EdDSA', typ: REVOCATION_NOTICE_TYP, kid: signer.kid });
    expect(JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString())).toEqual(notice);
    await expect(verifyRevocationNotice(jws, signer.publicJwk, inTime)).resolves.toEqual({ notice, kid: signer.kid });
    await expect(verifyRevocationNotice(jws, { keys: [signer.publicJwk] }, inTime)).resolves.toMatchObject({ notice });
  });

  it('sign deterministically: a rebuilt notice with the same jti is the same bytes', async () => {
    expect(await signRevocationNotice({ ...notice }, signer)).toBe(await signRevocationNotice(notice, signer));
  });

  it('issue a resent notice anew (iat and exp from the resend) with the same jti and revokedAt', () => {
    const resentAt = new Date(Date.parse(SENT) + 3_600_000);
    const resent = buildRevocationNotice({ ...notice, issuedAt: resentAt });
    expect(resent).toEqual({ ...notice, iat: resentAt.getTime() / 1000, exp: resentAt.getTime() / 1000 + 600 });
  });

  it('refuse a tampered payload, a swapped signature and a truncated token', async () => {
    const jws = await signRevocationNotice(notice, signer);
    expect(await code(verifyRevocationNotice(tamperPayload(jws, (p) => (p.value = 'other')), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    const other = await signRevocationNotice({ ...notice, jti: 'notice-2' }, signer);
    const [h, p] = jws.split('.');
    expect(await code(verifyRevocationNotice(`${h}.${p}.${other.split('.')[2]}`, signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    expect(await code(verifyRevocationNotice(`${h}.${p}.`, signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    expect(await code(verifyRevocationNotice('garbage', signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
  });

  it('refuse a notice signed by an untrusted key, even under the trusted kid', async () => {
    const mallory = await revocationNoticeSignerFromJwk({ ...(await privateJwk()), kid: signer.kid }, 'mallory');
    expect(await code(verifyRevocationNotice(await signRevocationNotice(notice, mallory), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    const stranger = await revocationNoticeSignerFromJwk(await privateJwk(), 'stranger');
    expect(await code(verifyRevocationNotice(await signRevocationNotice(notice, stranger), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
  });

  it('refuse another typ, alg none, and a payload with extra or missing members', async () => {
    const { importJWK } = await import('jose');
    const key = await importJWK(jwk, 'EdDSA');
    const signWith = (header: Record<string, unknown>, payload: unknown) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, ...header }).sign(key);
    expect(await code(verifyRevocationNotice(await signWith({ typ: 'JWT' }, notice), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    expect(await code(verifyRevocationNotice(await signWith({}, notice), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    expect(await code(verifyRevocationNotice(await signWith({ typ: REVOCATION_NOTICE_TYP }, { ...notice, extra: 1 }), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    const { jti: _jti, ...noJti } = notice;
    expect(await code(verifyRevocationNotice(await signWith({ typ: REVOCATION_NOTICE_TYP }, noJti), signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: REVOCATION_NOTICE_TYP, kid: signer.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(notice)).toString('base64url')}.`;
    expect(await code(verifyRevocationNotice(none, signer.publicJwk, inTime))).toBe('REVOCATION_NOTICE_INVALID');
  });

  it('refuse a notice signed for another subscriber when the subscriber names itself', async () => {
    const jws = await signRevocationNotice(notice, signer);
    await expect(verifyRevocationNotice(jws, signer.publicJwk, { ...inTime, audience: 'billing' })).resolves.toMatchObject({ notice });
    expect(await code(verifyRevocationNotice(jws, signer.publicJwk, { ...inTime, audience: 'payments' }))).toBe('REVOCATION_NOTICE_INVALID');
  });

  it('refuse a notice past its exp (an old one replayed) or dated in the future, within a minute of skew', async () => {
    const jws = await signRevocationNotice(notice, signer);
    const at = (ms: number) => ({ now: () => new Date(Date.parse(SENT) + ms) });
    expect(notice.exp - notice.iat).toBe(600);
    await expect(verifyRevocationNotice(jws, signer.publicJwk, at(600_000 + 59_000))).resolves.toMatchObject({ notice });
    expect(await code(verifyRevocationNotice(jws, signer.publicJwk, at(600_000 + 61_000)))).toBe('REVOCATION_NOTICE_INVALID');
    expect(await code(verifyRevocationNotice(jws, signer.publicJwk, at(-61_000)))).toBe('REVOCATION_NOTICE_INVALID');
  });

  it('carry a subject revocation\'s cutoff (before), and refuse one on any other kind', () => {
    const sub = buildRevocationNotice({ seq: 1, event: 'revocation.lifted', kind: 'sub', value: 'client-1', before: '2030-01-01T00:00:00Z', issuer: 'https://i', revokedAt: SENT, aud: 'billing' });
    expect(sub.before).toBe('2030-01-01T00:00:00.000Z');
    expect(() => buildRevocationNotice({ seq: 1, event: 'revocation.lifted', kind: 'jti', value: 'j', before: '2030-01-01T00:00:00Z', issuer: 'https://i', revokedAt: SENT, aud: 'billing' })).toThrow(/before/);
  });

  it('build notices with a fresh jti by default and refuse malformed ones', () => {
    const a = buildRevocationNotice({ seq: 1, event: 'revocation.contained', kind: 'jti', value: 'j1', issuer: 'https://i', revokedAt: new Date(0), aud: 'billing' });
    const b = buildRevocationNotice({ seq: 1, event: 'revocation.contained', kind: 'jti', value: 'j1', issuer: 'https://i', revokedAt: new Date(0), aud: 'billing' });
    expect(a.jti).not.toBe(b.jti);
    expect(a.revokedAt).toBe('1970-01-01T00:00:00.000Z');
    expect(() => buildRevocationNotice({ seq: 1, event: 'revocation.bogus' as never, kind: 'jti', value: 'j', issuer: 'i', revokedAt: new Date(), aud: 'billing' })).toThrow(/event/);
    expect(() => buildRevocationNotice({ seq: 1, event: 'revocation.lifted', kind: 'jti', value: '', issuer: 'i', revokedAt: new Date(), aud: 'billing' })).toThrow(/value/);
  });

  it('never expose the private key through inspect, JSON or errors', async () => {
    expect(inspect(signer)).not.toContain(jwk.d!);
    expect(JSON.stringify(signer)).not.toContain(jwk.d!);
    expect(JSON.stringify(signer.publicJwk)).not.toContain('"d"');
    const bad = JSON.stringify({ ...jwk, crv: 'X25519' });
    await revocationNoticeSignerFromJwk(bad, 'env').then(
      () => expect.unreachable(),
      (e: Error) => expect(`${e.message} ${(e as { hint?: string }).hint}`).not.toContain(jwk.d!),
    );
  });
});

describe('loadRevocationNoticeKey', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyturn-notice-key-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('loads a 0600 JWK file and refuses a group/world-readable one', async () => {
    const jwk = await privateJwk();
    const path = join(dir, 'notice.jwk');
    await writeFile(path, JSON.stringify(jwk), { mode: 0o600 });
    const signer = await loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY_FILE: path } });
    expect(signer.publicJwk.x).toBe(jwk.x);
    expect(signer.source).toBe(path);
    await chmod(path, 0o644);
    expect(await code(loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY_FILE: path } }))).toBe('SECRET_FILE_PERMISSIONS');
  });

  it('loads the JWK from KEYTURN_REVOCATION_KEY, and says what is missing otherwise', async () => {
    const jwk = await privateJwk();
    const signer = await loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY: JSON.stringify(jwk) } });
    expect(signer.publicJwk.x).toBe(jwk.x);
    expect(await code(loadRevocationNoticeKey({ env: {} }))).toBe('REVOCATION_KEY_MISSING');
    expect(await code(loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY_FILE: join(dir, 'absent.jwk') } }))).toBe('SECRET_FILE_MISSING');
    expect(await code(loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY: '{"kty":"EC"}' } }))).toBe('REVOCATION_KEY_INVALID');
    expect(await code(loadRevocationNoticeKey({ env: { KEYTURN_REVOCATION_KEY: 'not json' } }))).toBe('REVOCATION_KEY_INVALID');
  });

  it('on a development machine, generates a 0600 key in the data directory once, and uses a configured one first', async () => {
    const devDir = await mkdtemp(join(dir, 'dev-'));
    const said: string[] = [];
    const first = await loadDevRevocationNoticeKey(devDir, {}, (m) => said.push(m));
    const again = await loadDevRevocationNoticeKey(devDir, {}, (m) => said.push(m));
    expect(again.publicJwk.x).toBe(first.publicJwk.x);
    expect(said).toEqual([expect.stringContaining('revocation-key.jwk')]);
    expect((await stat(join(devDir, 'revocation-key.jwk'))).mode & 0o777).toBe(0o600);
    const jwk = await privateJwk();
    const configured = await loadDevRevocationNoticeKey(devDir, { KEYTURN_REVOCATION_KEY: JSON.stringify(jwk) }, () => {});
    expect(configured.publicJwk.x).toBe(jwk.x);
  });
});
