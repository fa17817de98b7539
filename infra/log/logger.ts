import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Field names whose values are secret wherever they appear, at any depth. Values shaped like a
 * secret (Slack tokens, PEM private keys) are redacted under any name.
 */
export const SECRET_FIELDS = [
  'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k',
  'privateKey', 'privateJwk', 'private_key', 'kek', 'dataKey', 'wrappedKey', 'ciphertext',
  'secret', 'clientSecret', 'client_secret', 'password', 'token', 'accessToken', 'access_token',
  'botToken', 'appToken', 'signingSecret', 'authorization', 'Authorization', 'cookie', 'attestation',
];

const SECRET_KEYS = new Set(SECRET_FIELDS.map((f) => f.toLowerCase()));
const SECRET_VALUE = /^(xox[abprs]-|xapp-)|-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const CENSOR = '[REDACTED]';
const MAX_DEPTH = 8;

/**
 * A redacted deep copy: the logged object is never modified (pino's path-based redaction mutated
 * objects reached through two paths, and left them mutated).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? CENSOR : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth]';
  if (value instanceof Error) return { type: value.name, message: value.message, ...(value.stack ? { stack: value.stack } : {}) };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k.toLowerCase()) ? CENSOR : redact(v, depth + 1);
  return out;
}

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  return pino(
    {
      name: opts.name ?? 'keyturn',
      level: opts.level ?? process.env.KEYTURN_LOG_LEVEL ?? 'info',
      formatters: { log: (obj) => redact(obj) as Record<string, unknown> },
      base: { service: 'keyturn' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
