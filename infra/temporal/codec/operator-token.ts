import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { KeyturnError } from '../../../config/errors.js';
import { createSecretFileOnce, readSecretFile } from '../../../agents/shared/secret-file.js';
import type { CodecSession } from './session-ends.js';

const MIN_LENGTH = 32;
const HINT = 'Set KEYTURN_CODEC_TOKEN_FILE to a 0600 file holding at least 32 random characters (`openssl rand -base64 32`), or KEYTURN_CODEC_TOKEN.';

/**
 * The secret an operator presents to the codec endpoint, directly (`Authorization: Bearer`) or
 * through a browser session it signs. Held in a private field; only digests are ever compared.
 */
export class CodecOperatorToken {
  readonly #digest: Buffer;
  readonly #sessionKey: Buffer;

  constructor(token: string) {
    if (token.length < MIN_LENGTH) throw new KeyturnError('CODEC_TOKEN_INVALID', `the codec token must be at least ${MIN_LENGTH} characters (got ${token.length})`, HINT);
    this.#digest = createHash('sha256').update(token).digest();
    this.#sessionKey = createHash('sha256').update('keyturn-codec-session:').update(token).digest();
  }

  /** Constant-time comparison of a presented token. */
  matches(presented: string): boolean {
    return timingSafeEqual(createHash('sha256').update(presented).digest(), this.#digest);
  }

  /**
   * A browser session value: `v2.<issued ms>.<expiry s>.<nonce>.<hmac>`. Rotating the token ends every
   * session; so does `keyturn codec end-sessions`, and signing out ends one (see session-ends.ts).
   */
  issueSession(nowMs: number, ttlSeconds: number): string {
    const body = `v2.${Math.floor(nowMs)}.${Math.floor(nowMs / 1000) + ttlSeconds}.${randomBytes(12).toString('base64url')}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The session a cookie value carries, when this token signed it and it has not expired; else undefined. */
  openSession(value: string | undefined, nowMs: number): CodecSession | undefined {
    const parts = value?.split('.') ?? [];
    if (parts.length !== 5 || parts[0] !== 'v2') return undefined;
    const body = parts.slice(0, 4).join('.');
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(parts[4]!);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const session = { issuedAtMs: Number(parts[1]), expiresAtMs: Number(parts[2]) * 1000, nonce: parts[3]! };
    return session.expiresAtMs > nowMs ? session : undefined;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.#sessionKey).update(body).digest('base64url');
  }

  toJSON(): Record<string, never> {
    return {};
  }
}

function readTokenFile(path: string): CodecOperatorToken {
  return new CodecOperatorToken(readSecretFile(path).trim());
}

export const devCodecTokenPath = (dataDir: string) => join(dataDir, 'codec-token');

/**
 * KEYTURN_CODEC_TOKEN or KEYTURN_CODEC_TOKEN_FILE (0600); in development, the data dir's token,
 * generated on first use. Undefined when none is configured: the codec endpoint is then not served.
 */
export function loadCodecOperatorToken(opts: { env?: NodeJS.ProcessEnv; devDataDir?: string; warn?: (m: string) => void } = {}): CodecOperatorToken | undefined {
  const env = opts.env ?? process.env;
  if (env.KEYTURN_CODEC_TOKEN && env.KEYTURN_CODEC_TOKEN_FILE) throw new KeyturnError('CODEC_TOKEN_CONFIG_AMBIGUOUS', 'both KEYTURN_CODEC_TOKEN and KEYTURN_CODEC_TOKEN_FILE are set', 'Set exactly one of them.');
  if (env.KEYTURN_CODEC_TOKEN) return new CodecOperatorToken(env.KEYTURN_CODEC_TOKEN);
  if (env.KEYTURN_CODEC_TOKEN_FILE) return readTokenFile(env.KEYTURN_CODEC_TOKEN_FILE);
  if (!opts.devDataDir) return undefined;
  const path = devCodecTokenPath(opts.devDataDir);
  if (createSecretFileOnce(path, `${randomBytes(32).toString('base64url')}\n`)) opts.warn?.(`generated a development codec token at ${path} (0600); set KEYTURN_CODEC_TOKEN_FILE for anything real`);
  return readTokenFile(path);
}
