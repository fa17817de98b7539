/**
 * A relying party in its own process: keyturn's Validator library with its LISTEN/NOTIFY
 * revocation list. Reads one token per stdin line and answers one JSON line: {"ok":true} or {"code":…}.
 */
import { createInterface } from 'node:readline';
import { createValidator, isTokenRejected, pgListener, RevocationCache } from '../../agents/validator/index.js';
import type { SigningAlgorithm } from '../../agents/planner/policy-types.js';
import { createPool } from '../../db/pool.js';

const env = process.env as Record<string, string>;
const pool = createPool(env.DATABASE_URL!, { max: 2 });
const revocation = new RevocationCache({
  db: pool,
  connectListener: pgListener(env.DATABASE_URL!, 'test-relying-party'),
  freshnessSeconds: Number(env.FRESHNESS_SECONDS),
  resyncIntervalMs: 500,
  heartbeatIntervalMs: 500,
  reconnectDelayMs: 200,
  onError: () => {},
});
await revocation.start().catch(() => undefined);
const validator = createValidator({
  issuer: env.ISSUER!, audience: env.AUDIENCE!, algorithms: [env.ALG as SigningAlgorithm], jwksUri: env.JWKS_URI!,
  clockSkewSeconds: 1, maxTokenAgeSeconds: 600, jwksCooldownMs: 0, revocation,
});
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  try {
    await validator.verify(line.trim());
    process.stdout.write('{"ok":true}\n');
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ code: isTokenRejected(e) ? e.code : 'ERROR' })}\n`);
  }
}
validator.close();
await revocation.close();
await pool.end();
