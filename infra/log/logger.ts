import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Field names whose values are secret wherever they appear. pino redacts them before
 * serialisation, so a secret never reaches a log line even when a whole object is logged.
 */
export const SECRET_FIELDS = [
  'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k',
  'privateKey', 'privateJwk', 'private_key', 'kek', 'dataKey', 'wrappedKey', 'ciphertext',
  'secret', 'clientSecret', 'client_secret', 'password', 'token', 'accessToken', 'access_token',
  'botToken', 'appToken', 'signingSecret', 'authorization', 'Authorization', 'cookie',
];

const redactPaths = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`]);

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  return pino(
    {
      name: opts.name ?? 'keyturn',
      level: opts.level ?? process.env.KEYTURN_LOG_LEVEL ?? 'info',
      redact: { paths: redactPaths, censor: '[REDACTED]' },
      base: { service: 'keyturn' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
