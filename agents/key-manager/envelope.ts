import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';

/**
 * Envelope encryption of private keys at rest: each key gets a fresh random AES-256 data key (DEK)
 * and 12-byte nonce; the DEK is wrapped by a key-encryption key (KEK) behind KekProvider, so Vault
 * Transit or a cloud KMS can replace the local KEK without touching callers.
 *
 * Sealed blob (what goes in `private_ciphertext`):
 *   "KT" | 0x01 | u16 header length | header JSON {"iss","kid","kek"} | AES-GCM ciphertext | 16-byte tag
 * The header is the binding: it is checked before anything is decrypted (KEY_BINDING_MISMATCH), and
 * the exact header bytes (issuer, kid, kek id) are the associated data of the payload encryption, so
 * a forged header or a DEK/ciphertext moved between rows fails the tag (KEY_CIPHERTEXT_TAMPERED).
 * The DEK wrap's associated data names only the KEK, so a failed unwrap means exactly one thing: this
 * is not the KEK that wrapped it (KEK_MISMATCH).
 */
export interface KekProvider {
  /** Stable identifier of the KEK (for the local KEK: first 16 hex of its sha256). Not secret. */
  readonly id: string;
  wrap(dek: Buffer, aad: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** KEK rotation: earlier KEKs, which only open what they sealed (never seal), by id. */
  forId?(id: string): KekProvider | undefined;
  readonly olderIds?: readonly string[];
}

/** Which key a ciphertext belongs to. */
export interface KeyBinding {
  issuer: string;
  kid: string;
}

export interface SealedKey {
  ciphertext: Buffer;
  wrappedDek: Buffer;
  nonce: Buffer;
  kekId: string;
}

const MAGIC = Buffer.from('KT\x01', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const DEK_BYTES = 32;

function tampered(binding: KeyBinding, why: string): KeyturnError {
  return new KeyturnError(
    'KEY_CIPHERTEXT_TAMPERED',
    `the encrypted private key of ${binding.kid} failed its integrity check (${why})`,
    'The stored ciphertext was altered or corrupted. Revoke the key and generate a new one; investigate who could write signing_keys.',
    { kid: binding.kid },
  );
}

function kekMismatch(binding: KeyBinding, why: string): KeyturnError {
  return new KeyturnError(
    'KEK_MISMATCH',
    `the private key of ${binding.kid} cannot be unwrapped with the configured KEK (${why})`,
    'Configure the KEK this key was sealed with (KEYTURN_KEK / KEYTURN_KEK_FILE; after a KEK rotation, as a later line), or revoke the key.',
    { kid: binding.kid },
  );
}

function wrapAad(kekId: string): Buffer {
  return Buffer.from(`keyturn/dek/v1|kek=${kekId}`, 'utf8');
}

function encodeHeader(binding: KeyBinding, kekId: string): Buffer {
  const header = Buffer.from(JSON.stringify({ iss: binding.issuer, kid: binding.kid, kek: kekId }), 'utf8');
  if (header.length > 0xffff) throw new KeyturnError('KEY_PARAMS_INVALID', 'issuer or kid too long to seal', 'Use a shorter issuer.');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(header.length);
  return Buffer.concat([MAGIC, len, header]);
}

interface ParsedBlob {
  prefix: Buffer;
  header: { iss: string; kid: string; kek: string };
  body: Buffer;
  tag: Buffer;
}

function parseBlob(blob: Buffer, expected: KeyBinding): ParsedBlob {
  if (blob.length < MAGIC.length + 2 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw tampered(expected, 'unknown format');
  const headerLen = blob.readUInt16BE(MAGIC.length);
  const prefixLen = MAGIC.length + 2 + headerLen;
  if (blob.length < prefixLen + TAG_BYTES + 1) throw tampered(expected, 'truncated');
  let header: unknown;
  try {
    header = JSON.parse(blob.subarray(MAGIC.length + 2, prefixLen).toString('utf8'));
  } catch {
    throw tampered(expected, 'unreadable header');
  }
  const h = header as Record<string, unknown>;
  if (typeof h !== 'object' || h === null || typeof h.iss !== 'string' || typeof h.kid !== 'string' || typeof h.kek !== 'string') {
    throw tampered(expected, 'malformed header');
  }
  return {
    prefix: blob.subarray(0, prefixLen),
    header: { iss: h.iss, kid: h.kid, kek: h.kek },
    body: blob.subarray(prefixLen, blob.length - TAG_BYTES),
    tag: blob.subarray(blob.length - TAG_BYTES),
  };
}

/** Encrypts `plaintext` for `binding` under a fresh DEK wrapped by `kek`. The DEK is wiped afterwards. */
export async function sealPrivateKey(plaintext: Buffer, binding: KeyBinding, kek: KekProvider): Promise<SealedKey> {
  const dek = randomBytes(DEK_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const aad = encodeHeader(binding, kek.id);
  try {
    const cipher = createCipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const wrappedDek = await kek.wrap(dek, wrapAad(kek.id));
    return { ciphertext: Buffer.concat([aad, body, cipher.getAuthTag()]), wrappedDek, nonce, kekId: kek.id };
  } finally {
    dek.fill(0);
  }
}

/**
 * Decrypts a sealed key, failing closed with a distinct code for each way it can be wrong:
 * KEY_BINDING_MISMATCH (sealed for another issuer/kid), KEK_MISMATCH (other KEK, or the DEK does not
 * unwrap), KEY_CIPHERTEXT_TAMPERED (payload, nonce, tag or header altered). Only KeyManager calls this.
 */
export async function openPrivateKey(sealed: SealedKey, expected: KeyBinding, kek: KekProvider): Promise<Buffer> {
  const blob = parseBlob(sealed.ciphertext, expected);
  if (blob.header.iss !== expected.issuer || blob.header.kid !== expected.kid) {
    throw new KeyturnError(
      'KEY_BINDING_MISMATCH',
      `the ciphertext stored for ${expected.kid} was sealed for a different key or issuer`,
      'Encrypted key material was moved between rows. Revoke the affected keys and investigate who could write signing_keys.',
      { kid: expected.kid },
    );
  }
  const sealedWith = sealed.kekId === kek.id ? kek : kek.forId?.(sealed.kekId);
  if (!sealedWith || blob.header.kek !== sealed.kekId) {
    throw kekMismatch(expected, `sealed under KEK ${sealed.kekId}, configured KEKs are ${[kek.id, ...(kek.olderIds ?? [])].join(', ')}`);
  }
  if (sealed.nonce.length !== NONCE_BYTES) throw tampered(expected, 'bad nonce length');

  let dek: Buffer;
  try {
    dek = await sealedWith.unwrap(sealed.wrappedDek, wrapAad(sealedWith.id));
  } catch {
    throw kekMismatch(expected, 'data key did not unwrap');
  }
  try {
    if (dek.length !== DEK_BYTES) throw kekMismatch(expected, 'unwrapped data key has the wrong length');
    const decipher = createDecipheriv('aes-256-gcm', dek, sealed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(blob.prefix);
    decipher.setAuthTag(blob.tag);
    try {
      return Buffer.concat([decipher.update(blob.body), decipher.final()]);
    } catch {
      throw tampered(expected, 'authentication tag mismatch');
    }
  } finally {
    dek.fill(0);
  }
}
