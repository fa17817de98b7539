import { afterAll, describe, expect, it } from 'vitest';
import type { AppendAudit } from '../../agents/auditor/types.js';
import type { OAuthLog } from '../../http/oauth-client-auth.js';
import { testPool } from '../support/db.js';
import { app, basic, client, post, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

/** A logger that keeps what the endpoints log, by level. */
function capturingLog() {
  const lines: Array<{ level: string; fields: unknown; message: unknown }> = [];
  const at = (level: string) => (fields: unknown, message?: unknown) => void lines.push({ level, fields, message });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } as unknown as OAuthLog };
}

describe('what the OAuth endpoints log', () => {
  it('a failed client authentication whose audit entry cannot be written is still refused, and the lost entry is logged', async () => {
    const w = await world(pool);
    const { lines, log } = capturingLog();
    const failingAudit: AppendAudit = async () => {
      throw new Error('audit log unavailable');
    };
    const res = await post(app(pool, w, { appendAudit: failingAudit, log }), '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic('no-such-client', 'wrong') });
    expect(res.statusCode).toBe(401);
    expect(lines).toContainEqual({ level: 'error', fields: { code: 'AUDIT_FAILED' }, message: 'could not audit a failed client authentication' });
  });

  it('an issuance that fails unexpectedly answers 500 and is logged with its code, not its message', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const { lines, log } = capturingLog();
    const res = await post(app(pool, w, { defaultIssuer: () => 'https://issuer-not-in-policy.example', log }), '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(500);
    expect(lines).toEqual([{ level: 'error', fields: { code: 'ISSUER_UNKNOWN' }, message: 'token issuance failed' }]);
  });
});
