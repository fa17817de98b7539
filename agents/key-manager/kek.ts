import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KeyturnError } from '../../config/errors.js';
import { createSecretFileOnce, readSecretFile } from '../shared/secret-file.js';
import type { KekProvider } from './envelope.js';

const KEK_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** First 16 hex characters of sha256(kek): identifies a KEK without revealing it. */
export function kekId(kek: Buffer): string {
  return createHash('sha256').update(kek).digest('hex').slice(0, 16);
}

/**
 * A KEK held in this process's memory: wraps DEKs with AES-256-GCM (random 12-byte nonce; the
 * wrapped form is nonce | ciphertext | tag). The key lives in a private field: it is not enumerable,
 * not serialised and not shown by util.inspect. After a KEK rotation, the earlier KEKs are `older`:
 * they open the keys they sealed until `keyturn keys reseal` has moved those to this one.
 */
export class LocalKekProvider implements KekProvider {
  readonly id: string;
  readonly #kek: Buffer;
  readonly #older = new Map<string, LocalKekProvider>();

  constructor(kek: Buffer, older: readonly Buffer[] = []) {
    if (kek.length !== KEK_BYTES) {
      throw new KeyturnError('KEK_INVALID', `a KEK must be exactly ${KEK_BYTES} bytes (got ${kek.length})`, 'Generate one with `openssl rand -base64 32`.');
    }
    this.#kek = Buffer.from(kek);
    this.id = kekId(this.#kek);
    for (const o of older) {
      const provider = new LocalKekProvider(o);
      if (provider.id !== this.id) this.#older.set(provider.id, provider);
    }
  }

  forId(id: string): KekProvider | undefined {
    return id === this.id ? this : this.#older.get(id);
  }

  get olderIds(): string[] {
    return [...this.#older.keys()];
  }

  async wrap(dek: Buffer, aad: Buffer): Promise<Buffer> {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    return Buffer.concat([nonce, cipher.update(dek), cipher.final(), cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    if (wrapped.length < NONCE_BYTES + TAG_BYTES + 1) throw new KeyturnError('KEK_MISMATCH', 'wrapped data key is malformed');
    const decipher = createDecipheriv('aes-256-gcm', this.#kek, wrapped.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(NONCE_BYTES, wrapped.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new KeyturnError('KEK_MISMATCH', 'data key did not unwrap under this KEK');
    }
  }

  /** KEYTURN_KEK or KEYTURN_KEK_FILE (0600); refuses when neither or both are set. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): LocalKekProvider {
    return requireKekFromEnv(env);
  }

  toJSON(): { id: string; olderIds: string[] } {
    return { id: this.id, olderIds: this.olderIds };
  }
}

/** Parses a KEK given as base64 (or base64url) text of exactly 32 bytes. Never echoes the input. */
export function parseKek(text: string, source: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (bytes.length !== KEK_BYTES) {
    throw new KeyturnError('KEK_INVALID', `${source} must hold base64 of exactly ${KEK_BYTES} random bytes`, 'Generate one with `openssl rand -base64 32`.');
  }
  return bytes;
}

/**
 * One KEK per line (or separated by spaces): the first seals, later ones only open what they sealed
 * (a KEK rotation in progress). Never echoes the input.
 */
export function parseKekRing(text: string, source: string): LocalKekProvider {
  const keks = text.split(/\s+/).filter((t) => t !== '').map((t, i) => parseKek(t, i === 0 ? source : `${source} (KEK ${i + 1})`));
  if (keks.length === 0) throw new KeyturnError('KEK_INVALID', `${source} holds no KEK`, 'Generate one with `openssl rand -base64 32`.');
  try {
    return new LocalKekProvider(keks[0]!, keks.slice(1));
  } finally {
    for (const k of keks) k.fill(0);
  }
}

/** Reads a KEK file (one KEK per line, the first sealing) after checking it is owner-only (0600 or stricter). */
export function readKekFile(path: string): LocalKekProvider {
  return parseKekRing(readSecretFile(path), path);
}

/**
 * The KEK from the environment: KEYTURN_KEK (base64 of 32 bytes) or KEYTURN_KEK_FILE (a 0600 file
 * holding the same). Both set is refused (ambiguous); neither returns undefined.
 */
export function kekFromEnv(env: NodeJS.ProcessEnv = process.env): LocalKekProvider | undefined {
  const inline = env.KEYTURN_KEK;
  const file = env.KEYTURN_KEK_FILE;
  if (inline && file) {
    throw new KeyturnError('KEK_CONFIG_AMBIGUOUS', 'both KEYTURN_KEK and KEYTURN_KEK_FILE are set', 'Set exactly one of them.');
  }
  if (inline) return parseKekRing(inline, 'KEYTURN_KEK');
  if (file) return readKekFile(file);
  return undefined;
}

/** Like kekFromEnv, but a missing KEK is an error: production must never run without one. */
export function requireKekFromEnv(env: NodeJS.ProcessEnv = process.env): LocalKekProvider {
  const kek = kekFromEnv(env);
  if (!kek) {
    throw new KeyturnError('KEK_MISSING', 'no key-encryption key configured', 'Set KEYTURN_KEK (base64 of 32 random bytes) or KEYTURN_KEK_FILE (a 0600 file holding it).');
  }
  return kek;
}

export interface DevKek {
  provider: LocalKekProvider;
  path: string;
  /** True when this call generated the file. */
  created: boolean;
  /** Always true: a KEK stored beside the data it protects is for local development only; `dev` should say so. */
  warn: true;
}

/** Development only: loads `<dataDir>/kek`, generating it (mode 0600, exclusive create) on first use. */
export function loadOrCreateDevKek(dataDir: string): DevKek {
  const path = join(dataDir, 'kek');
  const fresh = randomBytes(KEK_BYTES);
  let created: boolean;
  try {
    created = createSecretFileOnce(path, `${fresh.toString('base64')}\n`);
  } finally {
    fresh.fill(0);
  }
  return { provider: readKekFile(path), path, created, warn: true };
}
