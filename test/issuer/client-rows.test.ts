import { afterAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../agents/shared/db.js';
import { ClientRowReader } from '../../agents/token-issuer/client-rows.js';
import { authenticateClient, disableClient } from '../../agents/token-issuer/clients.js';
import { testPool, unique } from '../support/db.js';
import { client } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

/** The real pool, counting the statements sent through it and able to hold their answers until released. */
function counted() {
  let queries = 0;
  let hold: Promise<void> | undefined;
  const db: Queryable = {
    async query(text, values) {
      queries++;
      const held = hold;
      const answer = await pool.query(text, values);
      await held;
      return answer;
    },
  };
  return { db, queries: () => queries, holdWith: (p: Promise<void> | undefined) => (hold = p) };
}

describe('ClientRowReader', () => {
  it('reads the rows of concurrent requests for different clients in one query', async () => {
    const clients = await Promise.all([client(pool), client(pool), client(pool)]);
    const c = counted();
    const reader = new ClientRowReader(c.db);
    let release!: () => void;
    c.holdWith(new Promise<void>((r) => (release = r)));
    const first = reader.read(clients[0]!.clientId);
    await new Promise((r) => setImmediate(r));
    const rest = clients.map((x) => reader.read(x.clientId));
    c.holdWith(undefined);
    release();
    const rows = await Promise.all([first, ...rest]);
    expect(rows.map((r) => r?.client_id)).toEqual([clients[0]!.clientId, ...clients.map((x) => x.clientId)]);
    expect(c.queries()).toBe(2);
  });

  it('reads an unknown client id as no row', async () => {
    expect(await new ClientRowReader(pool).read(unique('nobody'))).toBeUndefined();
  });

  it('sees a disable that commits while an earlier read is still in flight', async () => {
    const { clientId, secret } = await client(pool);
    const c = counted();
    const reader = new ClientRowReader(c.db);
    let release!: () => void;
    c.holdWith(new Promise<void>((r) => (release = r)));
    const inFlight = reader.read(clientId);
    await new Promise((r) => setImmediate(r));
    const asked = authenticateClient(pool, clientId, secret, { rows: reader });
    c.holdWith(undefined);
    await disableClient(pool, clientId);
    release();
    expect((await inFlight)?.disabled).toBe(false);
    expect(await asked).toEqual({ ok: false, reason: 'disabled' });
  });
});
