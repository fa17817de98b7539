import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { openPrivateKey, sealPrivateKey, type KekProvider, type SealedKey } from './envelope.js';
import { LocalKekProvider } from './kek.js';

const binding = { issuer: 'https://a.example', kid: 'kid-a' };
const secret = Buffer.from('private key bytes that must stay secret');

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `non-keyturn: ${(e as Error).message}`;
  }
}

function flip(buf: Buffer, index: number): Buffer {
  const out = Buffer.from(buf);
  out[index] = out[index]! ^ 0x01;
  return out;
}

describe('envelope encryption', () => {
  it('opens what it sealed for the same binding and KEK', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const sealed = await sealPrivateKey(secret, binding, kek);
    expect(await openPrivateKey(sealed, binding, kek)).toEqual(secret);
  });

  it('uses a fresh data key and nonce for every seal', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const a = await sealPrivateKey(secret, binding, kek);
    const b = await sealPrivateKey(secret, binding, kek);
    expect(a.nonce.length).toBe(12);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.wrappedDek.equals(b.wrappedDek)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('never stores the plaintext inside the sealed parts', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    for (const part of [s.ciphertext, s.wrappedDek, s.nonce]) expect(part.includes(secret)).toBe(false);
  });

  it('refuses a flipped ciphertext byte with KEY_CIPHERTEXT_TAMPERED', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    const tampered: SealedKey = { ...s, ciphertext: flip(s.ciphertext, s.ciphertext.length - 20) };
    expect(await codeOf(openPrivateKey(tampered, binding, kek))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });

  it('refuses a flipped authentication tag with KEY_CIPHERTEXT_TAMPERED', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    expect(await codeOf(openPrivateKey({ ...s, ciphertext: flip(s.ciphertext, s.ciphertext.length - 1) }, binding, kek))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });

  it('refuses a changed nonce with KEY_CIPHERTEXT_TAMPERED', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    expect(await codeOf(openPrivateKey({ ...s, nonce: flip(s.nonce, 0) }, binding, kek))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });

  it('refuses a different KEK with KEK_MISMATCH', async () => {
    const s = await sealPrivateKey(secret, binding, new LocalKekProvider(randomBytes(32)));
    expect(await codeOf(openPrivateKey(s, binding, new LocalKekProvider(randomBytes(32))))).toBe('KEK_MISMATCH');
  });

  it('refuses a KEK that claims the right id but cannot unwrap with KEK_MISMATCH', async () => {
    const real = new LocalKekProvider(randomBytes(32));
    const other = new LocalKekProvider(randomBytes(32));
    const impostor: KekProvider = { id: real.id, wrap: (d, a) => other.wrap(d, a), unwrap: (w, a) => other.unwrap(w, a) };
    const s = await sealPrivateKey(secret, binding, real);
    expect(await codeOf(openPrivateKey(s, binding, impostor))).toBe('KEK_MISMATCH');
  });

  it('refuses a ciphertext sealed for another kid with KEY_BINDING_MISMATCH', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    expect(await codeOf(openPrivateKey(s, { ...binding, kid: 'kid-b' }, kek))).toBe('KEY_BINDING_MISMATCH');
  });

  it('refuses a ciphertext sealed for another issuer with KEY_BINDING_MISMATCH', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    expect(await codeOf(openPrivateKey(s, { ...binding, issuer: 'https://b.example' }, kek))).toBe('KEY_BINDING_MISMATCH');
  });

  it('refuses a rewritten binding header (AAD) with KEY_CIPHERTEXT_TAMPERED', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const s = await sealPrivateKey(secret, binding, kek);
    // Same length, so only the header's content changes: 'kid-a' → 'kid-b'.
    const forged = Buffer.from(s.ciphertext.toString('latin1').replace('"kid":"kid-a"', '"kid":"kid-b"'), 'latin1');
    expect(forged.equals(s.ciphertext)).toBe(false);
    expect(await codeOf(openPrivateKey({ ...s, ciphertext: forged }, { ...binding, kid: 'kid-b' }, kek))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });
});

describe('envelope encryption: parts moved between keys', () => {
  it('refuses another key\'s wrapped data key with KEY_CIPHERTEXT_TAMPERED', async () => {
    const kek = new LocalKekProvider(randomBytes(32));
    const a = await sealPrivateKey(secret, binding, kek);
    const b = await sealPrivateKey(secret, binding, kek);
    expect(await codeOf(openPrivateKey({ ...a, wrappedDek: b.wrappedDek }, binding, kek))).toBe('KEY_CIPHERTEXT_TAMPERED');
  });
});

describe('a KEK rotation in progress', () => {
  it('opens a key sealed under the older KEK of the ring, and seals new keys under the first', async () => {
    const older = randomBytes(32);
    const sealed = await sealPrivateKey(secret, binding, new LocalKekProvider(older));
    const ring = new LocalKekProvider(randomBytes(32), [older]);
    expect(await openPrivateKey(sealed, binding, ring)).toEqual(secret);
    expect((await sealPrivateKey(secret, binding, ring)).kekId).toBe(ring.id);
  });

  it('refuses with KEK_MISMATCH, naming the configured KEK ids, once the older KEK is gone from the ring', async () => {
    const sealed = await sealPrivateKey(secret, binding, new LocalKekProvider(randomBytes(32)));
    const ring = new LocalKekProvider(randomBytes(32), [randomBytes(32)]);
    const error = await openPrivateKey(sealed, binding, ring).then(() => undefined, (e: Error) => e);
    expect(error).toMatchObject({ code: 'KEK_MISMATCH' });
    expect(error!.message).toContain(ring.id);
    expect(error!.message).toContain(ring.olderIds[0]);
  });
});
