import { appendAudit } from '../../agents/auditor/audit-log.js';
import { afterAll, describe, expect, it } from 'vitest';
import { addClient, authenticateClient, disableClient, listClients, rotateSecret } from '../../agents/token-issuer/clients.js';
import { isKeyturnError } from '../../config/errors.js';
import { superuserPool, testPool, unique } from '../support/db.js';
import { client } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(async () => {
  await pool.end();
  await su.end();
});

describe('client registry', () => {
  it('stores the secret only as an scrypt hash: a dump of the row holds no trace of it', async () => {
    const { clientId, secret } = await client(pool);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await su.query<Record<string, unknown>>('SELECT * FROM clients WHERE client_id = $1', [clientId]);
    const dump = JSON.stringify(row.rows);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(Buffer.from(secret, 'base64url').toString('hex'));
    expect(row.rows[0]!.secret_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  });

  it('two clients get different salts, so equal secrets would not hash alike', async () => {
    const [a, b] = [await client(pool), await client(pool)];
    const res = await pool.query<{ secret_hash: string }>('SELECT secret_hash FROM clients WHERE client_id = ANY($1)', [[a.clientId, b.clientId]]);
    const salts = res.rows.map((r) => r.secret_hash.split('$')[4]);
    expect(new Set(salts).size).toBe(2);
  });

  it('authenticates the right secret and refuses a wrong one', async () => {
    const { clientId, secret } = await client(pool, ['read']);
    expect(await authenticateClient(pool, clientId, secret)).toMatchObject({ ok: true, client: { clientId, scopes: ['read'], disabled: false } });
    expect(await authenticateClient(pool, clientId, `${secret}x`)).toEqual({ ok: false, reason: 'bad_secret' });
  });

  it('refuses an unknown client id (after hashing against a dummy hash)', async () => {
    expect(await authenticateClient(pool, unique('nobody'), 'whatever')).toEqual({ ok: false, reason: 'unknown_client' });
  });

  it('a disabled client fails authentication even with its right secret', async () => {
    const { clientId, secret } = await client(pool);
    await disableClient(pool, clientId);
    expect(await authenticateClient(pool, clientId, secret)).toEqual({ ok: false, reason: 'disabled' });
  });

  it('rotating the secret makes the old one fail and the new one work', async () => {
    const { clientId, secret } = await client(pool);
    const rotated = await rotateSecret(pool, clientId);
    expect((await authenticateClient(pool, clientId, secret)).ok).toBe(false);
    expect((await authenticateClient(pool, clientId, rotated.secret)).ok).toBe(true);
    const listed = (await listClients(pool)).find((c) => c.clientId === clientId)!;
    expect(listed.secretRotatedAt).toBeDefined();
  });

  it('lists clients without secrets or hashes', async () => {
    const { clientId } = await client(pool, ['a'], 'tenant-1');
    const listed = (await listClients(pool)).find((c) => c.clientId === clientId);
    expect(listed).toMatchObject({ clientId, scopes: ['a'], tenant: 'tenant-1', disabled: false, mayIntrospect: false });
    expect(Object.keys(listed!).sort()).toEqual(['clientId', 'createdAt', 'disabled', 'mayIntrospect', 'scopes', 'tenant']);
  });

  it('refuses a duplicate client id with CLIENT_EXISTS', async () => {
    const { clientId } = await client(pool);
    await expect(addClient(pool, { clientId, scopes: ['x'] })).rejects.toSatisfy((e) => isKeyturnError(e, 'CLIENT_EXISTS'));
  });

  it('refuses ids with a colon (reserved for keyturn:canary) and scopes with spaces', async () => {
    await expect(addClient(pool, { clientId: 'keyturn:canary', scopes: ['x'] })).rejects.toSatisfy((e) => isKeyturnError(e, 'CLIENT_INVALID'));
    await expect(addClient(pool, { clientId: unique('c'), scopes: ['a b'] })).rejects.toSatisfy((e) => isKeyturnError(e, 'CLIENT_INVALID'));
  });

  it('audits a change when given an audit context, in the same transaction', async () => {
    const clientId = unique('audited');
    await addClient(pool, { clientId, scopes: ['x'] }, { appendAudit, actor: { role: 'Human', cliUser: 'cli:test' }, policyVersion: 'v' });
    const res = await pool.query(`SELECT 1 FROM audit_log WHERE action = 'client.add' AND subject ->> 'client' = $1`, [clientId]);
    expect(res.rowCount).toBe(1);
  });
});
