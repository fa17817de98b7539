import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A CDN that never refreshes: it serves the JWKS it fetched first, forever. The canary, verifying
 * as a relying party behind it would, cannot find the new key: a real fault, not a flag.
 */
export async function staleJwksProxy(): Promise<{ base: string; target: { url?: string }; close(): Promise<void> }> {
  const target: { url?: string } = {};
  let frozen: string | undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      frozen ??= await (await fetch(`${target.url}${req.url}`)).text();
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=1' }).end(frozen);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, target, close: () => new Promise((r) => server.close(() => r())) };
}
