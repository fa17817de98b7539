import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { revocationNoticeSignerFromJwk, type RevocationNoticeSigner } from '../../agents/revocation-responder/webhooks.js';

/** Subscribers on loopback: every notice is kept (its body and the path it came to) and answered with `answer(body)`. */
export interface NoticeSink {
  /** http://127.0.0.1:<port>: subscribers are registered at paths under it. */
  base: string;
  bodies: string[];
  paths: string[];
  close(): Promise<void>;
}

export async function noticeSink(answer: (body: string) => number = () => 204): Promise<NoticeSink> {
  const bodies: string[] = [];
  const paths: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      paths.push(req.url ?? '');
      res.writeHead(answer(body)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, paths, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A notice key of the test's own. */
export async function testNoticeSigner(): Promise<RevocationNoticeSigner> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return revocationNoticeSignerFromJwk(await exportJWK(privateKey), 'test');
}
