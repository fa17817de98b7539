import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { issuerWith, policyDoc } from '../../agents/planner/policy-fixtures.js';
import { bootstrapPolicy } from '../../agents/planner/policy-store.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import type { ClientRecord } from '../../agents/token-issuer/clients.js';
import { authenticateClient } from '../../agents/token-issuer/clients.js';
import { runCli } from '../support/cli.js';
import { registerClients } from '../../cli/commands/clients.js';
import { testPool, unique } from '../support/db.js';

const pool = testPool();
beforeAll(() => {
  process.env.DATABASE_URL = inject('databaseUrl');
});
afterAll(() => pool.end());

const run = (...args: string[]) => runCli(registerClients, ...args);

const secretOf = (out: string): string => /^client_secret: (\S+)$/m.exec(out)![1]!;

describe('keyturn clients', () => {
  it('add prints a working secret once, with a warning to store it', async () => {
    const id = unique('cli');
    const { out, err } = await run('clients', 'add', id, '--scopes', 'read,write', '--tenant', 't1');
    expect(out).toContain(`client_id:     ${id}`);
    expect(err).toMatch(/store this secret now/);
    expect((await authenticateClient(pool, id, secretOf(out))).ok).toBe(true);
  });

  it('list --json shows the client without any secret or hash', async () => {
    const id = unique('cli');
    const { out: added } = await run('clients', 'add', id, '--scopes', 'read');
    const { out } = await run('clients', 'list', '--json');
    const mine = (JSON.parse(out) as ClientRecord[]).find((c) => c.clientId === id);
    expect(mine).toMatchObject({ clientId: id, scopes: ['read'], disabled: false });
    expect(out).not.toContain(secretOf(added));
    expect(out).not.toContain('scrypt$');
  });

  it('disable makes the client fail authentication', async () => {
    const id = unique('cli');
    const secret = secretOf((await run('clients', 'add', id, '--scopes', 'read')).out);
    await run('clients', 'disable', id);
    expect(await authenticateClient(pool, id, secret)).toEqual({ ok: false, reason: 'disabled' });
  });

  it('rotate-secret prints a new secret; the old one stops working', async () => {
    const id = unique('cli');
    const old = secretOf((await run('clients', 'add', id, '--scopes', 'read')).out);
    const { out, err } = await run('clients', 'rotate-secret', id);
    expect(err).toMatch(/store this secret now/);
    expect((await authenticateClient(pool, id, old)).ok).toBe(false);
    expect((await authenticateClient(pool, id, secretOf(out))).ok).toBe(true);
  });

  it('add --introspect, then deny-introspection and allow-introspection, set whether the client may introspect others\' tokens, audited', async () => {
    const id = unique('cli');
    await run('clients', 'add', id, '--scopes', 'introspect', '--introspect');
    const mayIntrospect = async () => (await pool.query<{ may_introspect: boolean }>('SELECT may_introspect FROM clients WHERE client_id = $1', [id])).rows[0]!.may_introspect;
    expect(await mayIntrospect()).toBe(true);
    expect((await run('clients', 'deny-introspection', id)).out).toMatch(/only its own tokens/);
    expect(await mayIntrospect()).toBe(false);
    expect((await run('clients', 'allow-introspection', id)).out).toMatch(/tokens of other clients/);
    expect(await mayIntrospect()).toBe(true);
    const actions = (await pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE subject ->> 'client' = $1 ORDER BY seq`, [id])).rows.map((r) => r.action);
    expect(actions).toEqual(['client.add', 'client.deny-introspection', 'client.allow-introspection']);
  });

  it('a client added without --introspect may introspect only its own tokens', async () => {
    const id = unique('cli');
    await run('clients', 'add', id, '--scopes', 'read');
    const { out } = await run('clients', 'list');
    expect(out.split('\n').find((l) => l.startsWith(id))).toContain('own tokens');
  });

  it('registry changes are audited as the CLI user', async () => {
    const id = unique('cli');
    await run('clients', 'add', id, '--scopes', 'read');
    const res = await pool.query<{ actor: { role: string; cliUser?: string } }>(`SELECT actor FROM audit_log WHERE action = 'client.add' AND subject ->> 'client' = $1`, [id]);
    expect(res.rows[0]!.actor).toMatchObject({ role: 'Human', cliUser: expect.stringMatching(/^cli:/) });
  });
});

describe('keyturn clients: audiences, checked against the policy in force', () => {
  const API = 'https://api.test';
  const BILLING = 'https://billing.test';
  let db: PolicyDb;
  beforeEach(async () => {
    db = await policyDatabase();
    await bootstrapPolicy(db.app, policyDoc(issuerWith({ audiences: [API, BILLING] })), appendAudit, { role: 'Orchestrator' });
    process.env.DATABASE_URL = db.url;
  });
  afterEach(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    await db.drop();
  });
  const audiencesOf = async (id: string) => (await db.app.query<{ audiences: string[] | null }>('SELECT audiences FROM clients WHERE client_id = $1', [id])).rows[0]?.audiences;

  it('add --audiences and set-audiences limit the audiences a client may have, and --all lifts the limit, audited', async () => {
    const id = unique('cli');
    expect((await run('clients', 'add', id, '--scopes', 'read', '--audiences', `${API}, ${BILLING}`)).out).toContain(`audiences: ${API},${BILLING}`);
    expect(await audiencesOf(id)).toEqual([API, BILLING]);
    expect((await run('clients', 'list')).out.split('\n').find((l) => l.startsWith(id))).toContain(`${API},${BILLING}`);
    expect((await run('clients', 'set-audiences', id, BILLING)).out).toMatch(/these audiences of its issuer: https:\/\/billing\.test$/m);
    expect(await audiencesOf(id)).toEqual([BILLING]);
    expect((await run('clients', 'set-audiences', id, '--all')).out).toMatch(/every audience of its issuer/);
    expect(await audiencesOf(id)).toBeNull();
    const entries = (await db.app.query<{ action: string; details: Record<string, unknown> }>(`SELECT action, details FROM audit_log WHERE subject ->> 'client' = $1 ORDER BY seq`, [id])).rows;
    expect(entries.map((e) => [e.action, e.details.audiences])).toEqual([['client.add', [API, BILLING]], ['client.set-audiences', [BILLING]], ['client.set-audiences', null]]);
  });

  it('set-audiences with neither a list nor --all, or with both, is refused and changes nothing', async () => {
    const id = unique('cli');
    await run('clients', 'add', id, '--scopes', 'read', '--audiences', API);
    for (const args of [[], [BILLING, '--all']]) {
      await expect(run('clients', 'set-audiences', id, ...args)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await audiencesOf(id)).toEqual([API]);
  });

  it('audiences no issuer of the policy serves are refused (a typo would leave the client no token), and change nothing', async () => {
    const id = unique('cli');
    await expect(run('clients', 'add', id, '--scopes', 'read', '--audiences', 'https://api.tset')).rejects.toMatchObject({ code: 'CLIENT_INVALID', message: expect.stringContaining('https://api.tset') });
    expect(await audiencesOf(id)).toBeUndefined();
    await run('clients', 'add', id, '--scopes', 'read', '--audiences', API);
    await expect(run('clients', 'set-audiences', id, 'https://api.tset')).rejects.toMatchObject({ code: 'CLIENT_INVALID' });
    expect(await audiencesOf(id)).toEqual([API]);
  });

  it('an audience the policy does not serve yet, given with one it serves, is kept and warned about', async () => {
    const id = unique('cli');
    const { err } = await run('clients', 'add', id, '--scopes', 'read', '--audiences', `${API},https://next.test`);
    expect(err).toMatch(/warning: no issuer of the policy in force serves https:\/\/next\.test/);
    expect(await audiencesOf(id)).toEqual([API, 'https://next.test']);
  });

  it('an audience with a control or bidi-override character is refused and adds no client', async () => {
    for (const bad of ['https://api.test\nx', 'https://api.test\u202ex']) {
      const id = unique('cli');
      await expect(run('clients', 'add', id, '--scopes', 'read', '--audiences', bad)).rejects.toMatchObject({ code: 'CLIENT_INVALID' });
      expect(await audiencesOf(id)).toBeUndefined();
    }
  });
});
