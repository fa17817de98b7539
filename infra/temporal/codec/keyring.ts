import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KeyturnError } from '../../../config/errors.js';
import { createSecretFileOnce, readSecretFile } from '../../../agents/shared/secret-file.js';

const KEY_BYTES = 32;
const HINT = 'Set KEYTURN_PAYLOAD_KEY_FILE to a 0600 file holding base64 of 32 random bytes (`openssl rand -base64 32`), or KEYTURN_PAYLOAD_KEY.';

/** First 16 hex characters of a domain-separated sha256 of the key: names a key without revealing it. */
export function payloadKeyId(key: Buffer): string {
  return createHash('sha256').update('keyturn-payload-key:').update(key).digest('hex').slice(0, 16);
}

/**
 * The AES-256-GCM keys that protect Temporal payloads: one active key that encrypts, and older
 * keys that only decrypt, so the payload key can be rotated while histories written under the old
 * one are still read. Keys live in a private field: never enumerable, serialised or inspected.
 */
export class PayloadKeyring {
  readonly activeId: string;
  readonly #keys: Map<string, Buffer>;

  constructor(active: Buffer, previous: Buffer[] = []) {
    this.#keys = new Map();
    for (const key of [active, ...previous]) {
      if (key.length !== KEY_BYTES) throw new KeyturnError('PAYLOAD_KEY_INVALID', `a payload key must be exactly ${KEY_BYTES} bytes (got ${key.length})`, HINT);
      this.#keys.set(payloadKeyId(key), Buffer.from(key));
    }
    this.activeId = payloadKeyId(active);
  }

  /** The active key, for encryption. */
  active(): { id: string; key: Buffer } {
    return { id: this.activeId, key: this.#keys.get(this.activeId)! };
  }

  /** A key by id, for decryption; undefined when this keyring does not hold it. */
  byId(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  toJSON(): { activeId: string } {
    return { activeId: this.activeId };
  }
}

/** One base64 key per line: the first encrypts, the others only decrypt. Never echoes the text. */
export function parsePayloadKeys(text: string, source: string): PayloadKeyring {
  const lines = text.split(/[\n,]/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const keys = lines.map((l) => (/^[A-Za-z0-9+/_-]+={0,2}$/.test(l) ? Buffer.from(l, 'base64') : Buffer.alloc(0)));
  if (!keys.length || keys.some((k) => k.length !== KEY_BYTES)) {
    throw new KeyturnError('PAYLOAD_KEY_INVALID', `${source} must hold base64 of exactly ${KEY_BYTES} random bytes per line (the first line encrypts)`, HINT);
  }
  return new PayloadKeyring(keys[0]!, keys.slice(1));
}

function readKeyFile(path: string): PayloadKeyring {
  return parsePayloadKeys(readSecretFile(path), path);
}

/** KEYTURN_PAYLOAD_KEY or KEYTURN_PAYLOAD_KEY_FILE (0600); both set is refused, neither returns undefined. */
export function payloadKeyringFromEnv(env: NodeJS.ProcessEnv = process.env): PayloadKeyring | undefined {
  const inline = env.KEYTURN_PAYLOAD_KEY;
  const file = env.KEYTURN_PAYLOAD_KEY_FILE;
  if (inline && file) throw new KeyturnError('PAYLOAD_KEY_CONFIG_AMBIGUOUS', 'both KEYTURN_PAYLOAD_KEY and KEYTURN_PAYLOAD_KEY_FILE are set', 'Set exactly one of them.');
  if (inline) return parsePayloadKeys(inline, 'KEYTURN_PAYLOAD_KEY');
  if (file) return readKeyFile(file);
  return undefined;
}

/** Where `npm run dev` keeps its payload key. */
export const devPayloadKeyPath = (dataDir: string) => join(dataDir, 'payload-key');

/**
 * The payload keyring a process must use: from the environment, else (development only) the data
 * dir's key, generated 0600 on first use when `create` is set. Never runs without one.
 */
export function loadPayloadKeyring(opts: { env?: NodeJS.ProcessEnv; devDataDir?: string; create?: boolean; warn?: (m: string) => void } = {}): PayloadKeyring {
  const fromEnv = payloadKeyringFromEnv(opts.env ?? process.env);
  if (fromEnv) return fromEnv;
  if (opts.devDataDir) {
    const path = devPayloadKeyPath(opts.devDataDir);
    if (opts.create) {
      const fresh = randomBytes(KEY_BYTES);
      try {
        if (createSecretFileOnce(path, `${fresh.toString('base64')}\n`)) opts.warn?.(`generated a development payload key at ${path} (0600); set KEYTURN_PAYLOAD_KEY_FILE for anything real`);
      } finally {
        fresh.fill(0);
      }
    }
    try {
      return readKeyFile(path);
    } catch (e) {
      if (!(e instanceof KeyturnError && e.code === 'SECRET_FILE_UNREADABLE')) throw e;
    }
  }
  throw new KeyturnError('PAYLOAD_KEY_MISSING', 'no Temporal payload key configured: keyturn never sends plaintext payloads to Temporal', HINT);
}
