import { KeyObject } from 'node:crypto';
import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Field names whose values are secret wherever they appear, at any depth (compared without case).
 * Values shaped like a secret (Slack tokens, PEM private keys, JWTs) and key material (bytes, key
 * objects) are redacted under any name.
 */
export const SECRET_FIELDS = [
  'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k',
  'privateKey', 'privateJwk', 'private_key', 'kek', 'dataKey', 'wrappedKey', 'ciphertext',
  'secret', 'clientSecret', 'client_secret', 'password', 'token', 'accessToken', 'access_token',
  'refreshToken', 'refresh_token', 'idToken', 'id_token', 'payloadKey', 'codecToken',
  'botToken', 'appToken', 'signingSecret', 'authorization', 'Authorization', 'cookie', 'attestation',
];

const SECRET_KEYS = new Set(SECRET_FIELDS.map((f) => f.toLowerCase()));
const SECRET_VALUE = /^(xox[abprs]-|xapp-)|-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** A Slack token within other text. */
const SLACK_TOKEN = /\b(?:xox[abprs]|xapp)-[\w-]+/g;
/** A compact JWS (three base64url segments) or JWE (five), its header starting `{"` (`eyJ`). */
const JWT = /eyJ[\w-]+(?:\.[\w-]*){2,}/g;
const CENSOR = '[REDACTED]';
const MAX_DEPTH = 8;

function redactString(value: string): string {
  if (SECRET_VALUE.test(value)) return CENSOR;
  const text = value.includes('xox') || value.includes('xapp-') ? value.replace(SLACK_TOKEN, CENSOR) : value;
  return text.includes('eyJ') ? text.replace(JWT, '[redacted jwt]') : text;
}

/** Keys and raw bytes, under any name: a Buffer would otherwise be printed byte by byte. */
function keyMaterial(value: object): string | undefined {
  if (value instanceof KeyObject || Object.prototype.toString.call(value) === '[object CryptoKey]') return '[redacted key]';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return '[redacted bytes]';
  return undefined;
}

/** An error as its type, code and message (and stack): never its other properties, which may quote secrets or rows. */
function redactError(e: Error): Record<string, unknown> {
  const { code } = e as { code?: unknown };
  return {
    type: e.name,
    ...(typeof code === 'string' ? { code: redactString(code) } : typeof code === 'number' ? { code } : {}),
    message: redactString(e.message),
    ...(e.stack ? { stack: redactString(e.stack) } : {}),
  };
}

/**
 * Text that is public by construction and must be logged as it is, though it looks like a secret:
 * a signed audit checkpoint (a JWS), which `keyturn audit verify --witness` reads back from the log.
 */
export class PublicText {
  readonly text: string;
  /** Only a compact JWS (three base64url segments): nothing else, a PEM key say, gets past redaction this way. */
  constructor(text: string) {
    this.text = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(text) ? text : redactString(text);
  }
  toJSON(): string {
    return this.text;
  }
}

/**
 * A redacted deep copy: the logged object is never modified (pino's path-based redaction mutated
 * objects reached through two paths, and left them mutated).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value instanceof PublicText) return value.text;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth]';
  const material = keyMaterial(value);
  if (material) return material;
  if (value instanceof Error) return redactError(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.has(k.toLowerCase()) ? CENSOR : redact(v, depth + 1);
  return out;
}

/**
 * A log call's arguments, redacted: the message and format arguments (the first object is redacted by
 * the log formatter). An error logged alone gives its (redacted) message as the line's message, as
 * pino would give the error's own.
 */
function redactedCall(args: unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (first instanceof Error && rest.length === 0) return [{ err: first }, redactString(first.message)];
  const head = typeof first === 'string' ? redactString(first) : first;
  return [head, ...rest.map((a) => (typeof a === 'string' ? redactString(a) : redact(a)))];
}

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      name: opts.name ?? 'keyturn',
      level: opts.level ?? process.env.KEYTURN_LOG_LEVEL ?? 'info',
      formatters: { log: (obj) => redact(obj) as Record<string, unknown> },
      // The message too, and its format arguments (%j, %o…): text can carry a token as well as a field.
      hooks: {
        logMethod(args, method) {
          return method.apply(this, redactedCall(args) as Parameters<typeof method>);
        },
      },
      base: { service: 'keyturn' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  // A child logger's bindings are printed on every line it writes, and pino's bindings formatter
  // does not see them: they are redacted as they are bound (children of children included).
  const bindChild = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return bindChild.call(this, redact(bindings) as typeof bindings, options);
  } as typeof logger.child;
  return logger;
}

export type { Logger };
