import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../infra/temporal/dev-server.js';
import { freePort } from '../../infra/net.js';

describe('the Temporal dev server keyturn starts', () => {
  const servers: DevServer[] = [];
  const blockers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const b of blockers) b.close();
  });

  const occupied = async (): Promise<number> => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    blockers.push(blocker);
    return port;
  };

  it('picks other ports when one it picked is taken before the server binds it', async () => {
    const taken = await occupied();
    let calls = 0;
    const said: string[] = [];
    const server = await startDevServer({ pickPort: async () => (calls++ === 0 ? taken : freePort()), say: (l) => said.push(l) });
    servers.push(server);

    expect(server.address).not.toContain(`:${taken}`);
    expect(said.some((l) => l.includes('trying other ports'))).toBe(true);
  });

  it('stops after 3 attempts with TEMPORAL_START_FAILED when the port it was given stays taken', async () => {
    const taken = await occupied();
    const said: string[] = [];
    await expect(startDevServer({ port: taken, say: (l) => said.push(l) })).rejects.toMatchObject({ code: 'TEMPORAL_START_FAILED', message: expect.stringContaining('address already in use') });
    expect(said.filter((l) => l.includes('trying other ports'))).toHaveLength(2);
  });
});
