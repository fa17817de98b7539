import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCodec } from '../../cli/commands/codec.js';
import { runCli } from '../support/cli.js';
import { CodecOperatorToken } from '../../infra/temporal/codec/operator-token.js';
import { CLOCK_MARGIN_MS, pgCodecSessionEnds } from '../../infra/temporal/codec/session-ends.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';

// A database of its own: ending every session is global.
let db: PolicyDb;
const savedUrl = process.env.DATABASE_URL;
beforeAll(async () => {
  db = await policyDatabase();
  process.env.DATABASE_URL = db.url;
});
afterAll(async () => {
  process.env.DATABASE_URL = savedUrl;
  await db.drop();
});

const run = async (...args: string[]) => (await runCli(registerCodec, ...args)).out;

describe('keyturn codec end-sessions', () => {
  it('ends every session signed in until now, leaves later ones valid, and is audited', async () => {
    const token = new CodecOperatorToken(randomBytes(32).toString('base64url'));
    const open = (at: number) => token.openSession(token.issueSession(at, 3600), at)!;
    const before = open(Date.now() - 1_000);
    const out = await run('codec', 'end-sessions');
    const after = open(Date.now() + CLOCK_MARGIN_MS + 1_000);
    const ends = pgCodecSessionEnds(db.app);
    expect([await ends.ended(before), await ends.ended(after)]).toEqual([true, false]);
    expect(out).toMatch(/^every codec browser session signed in until \S+ is ended/);
    const audited = await db.su.query(`SELECT actor ->> 'role' AS role, details FROM audit_log WHERE action = 'codec.sessions_ended'`);
    expect(audited.rows).toEqual([{ role: 'Human', details: { signedInUntil: expect.any(String) } }]);
  });
});
