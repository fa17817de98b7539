import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from '../../http/server.js';
import { testPool } from '../support/db.js';

const pool = testPool();
let app: FastifyInstance;
beforeAll(async () => {
  app = buildHttpServer({ pool, temporalHealthy: async () => {}, requestTimeoutMs: 300, routes: [(a) => a.post('/echo', async () => 'ok')] });
  await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app?.close();
  await pool.end();
});

/** Sends `partial` and waits until the server closes the connection; what it answered. */
async function trickle(partial: string): Promise<string> {
  const { port } = app.server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(partial);
  await closed;
  return received;
}

describe('the HTTP service', () => {
  it('answers 408 and closes a connection whose headers never finish arriving', async () => {
    expect(await trickle('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: a')).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers 408 and closes a connection whose body never finishes arriving', async () => {
    expect(await trickle('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc')).toMatch(/^HTTP\/1\.1 408 /);
  });
});
