/**
 * A relying party in its own process for the revocation row: keyturn's Validator with its
 * LISTEN/NOTIFY revocation list. For each stdin line (a token) it verifies once (must pass, answers
 * "ready"), then on "watch" re-verifies every millisecond until refused and answers the wall-clock ms.
 */
import { createInterface } from 'node:readline';
import type { SigningAlgorithm } from '../agents/planner/policy-types.js';
import { createValidator, pgListener, RevocationCache } from '../agents/validator/index.js';
import { createPool } from '../db/pool.js';

const env = process.env as Record<string, string>;
const pool = createPool(env.DATABASE_URL!, { max: 2 });
const revocation = new RevocationCache({ db: pool, connectListener: pgListener(env.DATABASE_URL!, 'bench-relying-party'), freshnessSeconds: 30 });
await revocation.start();
const validator = createValidator({ issuer: env.ISSUER!, audience: env.AUDIENCE!, algorithms: [env.ALG as SigningAlgorithm], jwksUri: env.JWKS_URI!, clockSkewSeconds: 0, maxTokenAgeSeconds: 600, revocation });
let token = '';
for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('token ')) {
    token = line.slice(6);
    const ok = await validator.verify(token).then(() => true, () => false);
    process.stdout.write(ok ? 'ready\n' : 'refused-already\n');
  } else if (line === 'watch') {
    const deadline = Date.now() + 10_000;
    let refusedAt = 0;
    while (!refusedAt && Date.now() < deadline) {
      if (!(await validator.verify(token).then(() => true, () => false))) refusedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 1));
    }
    process.stdout.write(`${refusedAt || 'timeout'}\n`);
  }
}
validator.close();
await revocation.close();
await pool.end();
