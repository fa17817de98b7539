import type { Env } from '../config/env.js';
import type { CodecRouteOptions } from '../http/codec.js';
import { EncryptionCodec } from '../infra/temporal/codec/encryption-codec.js';
import type { PayloadKeyring } from '../infra/temporal/codec/keyring.js';
import { loadCodecOperatorToken } from '../infra/temporal/codec/operator-token.js';
import { pgCodecSessionEnds } from '../infra/temporal/codec/session-ends.js';
import type { Queryable } from '../agents/shared/db.js';

/** The Web UI origins allowed by default: the configured UI URL, else the local dev UI on both loopback names. */
export function codecAllowedOrigins(env: Env): string[] {
  if (env.KEYTURN_CODEC_ALLOWED_ORIGINS) return env.KEYTURN_CODEC_ALLOWED_ORIGINS.split(',').map((o) => new URL(o.trim()).origin);
  if (env.KEYTURN_TEMPORAL_UI_URL) return [new URL(env.KEYTURN_TEMPORAL_UI_URL).origin];
  return [`http://localhost:${env.KEYTURN_TEMPORAL_UI_PORT}`, `http://127.0.0.1:${env.KEYTURN_TEMPORAL_UI_PORT}`];
}

/** The codec endpoint's options, or undefined (endpoint not served) when no operator token is configured. */
export function codecRoutesFor(env: Env, keyring: PayloadKeyring, db: Queryable, opts: { env?: NodeJS.ProcessEnv; devDataDir?: string; warn?: (m: string) => void } = {}): CodecRouteOptions | undefined {
  const token = loadCodecOperatorToken(opts);
  if (!token) return undefined;
  return { codec: new EncryptionCodec(keyring, 'operator'), token, sessionEnds: pgCodecSessionEnds(db), allowedOrigins: codecAllowedOrigins(env), publicOrigin: new URL(env.publicUrl).origin, secureCookie: env.publicUrl.startsWith('https:') };
}

/** Spreads into createKeyturnHttp's deps (exactOptionalPropertyTypes forbids an explicit undefined). */
export const withCodec = (codec: CodecRouteOptions | undefined) => (codec ? { codec } : {});
