import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { joinNotes } from './sign.js';
import { measureHttp, type BenchContext } from './stack.js';
import type { Row } from './table.js';

/**
 * JWKS rows: keyturn's GET /.well-known/jwks.json?issuer=… (RS256 issuer: the largest set) with and
 * without If-None-Match, each against a bare node:http server in the same process that serves the
 * same bytes and headers (and answers 304 to a matching If-None-Match).
 */
export async function jwksRows(ctx: BenchContext): Promise<Row[]> {
  const setup = ctx.stack.issuers.get('RS256')!;
  const path = `/.well-known/jwks.json?issuer=${encodeURIComponent(setup.issuer)}`;
  const res = await fetch(`${setup.httpUrl}${path}`);
  if (res.status !== 200) throw new Error(`keyturn JWKS answered ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  const etag = res.headers.get('etag') ?? '';
  const headers = { 'content-type': res.headers.get('content-type') ?? 'application/json', etag, 'cache-control': res.headers.get('cache-control') ?? '' };
  const notModified = { etag, 'cache-control': headers['cache-control'] };

  const bare = createServer((req, reply) => {
    if (req.headers['if-none-match'] === etag) {
      reply.writeHead(304, notModified);
      reply.end();
    } else {
      reply.writeHead(200, headers);
      reply.end(body);
    }
  });
  bare.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;

  const rows: Row[] = [];
  const row = (r: Omit<Row, 'group' | 'alg'>) => {
    rows.push({ group: 'JWKS', alg: `RS256 set, ${body.length} B`, ...r });
    ctx.say(`  JWKS ${r.name}: ${Math.round(r.opsPerSec ?? 0)} req/s`);
  };
  try {
    // The generator's first job runs unoptimised code: prime it, then time each pair in ABBA order
    // (bare, keyturn, keyturn, bare) and keep the best of each, so drift favours neither side.
    await measureHttp(ctx, { url: `${bareUrl}${path}`, method: 'GET', headers: {}, expectStatus: [200] });
    for (const conditional of [false, true]) {
      const kind = conditional ? '304, If-None-Match' : '200, full body';
      const reqHeaders: Record<string, string> = conditional ? { 'if-none-match': etag } : {};
      const status = conditional ? [304] : [200];
      const baseId = `jwks/bare/${conditional ? '304' : '200'}`;
      const bareJob = { url: `${bareUrl}${path}`, method: 'GET' as const, headers: reqHeaders, expectStatus: status };
      const keyturnJob = { ...bareJob, url: `${setup.httpUrl}${path}` };
      const b1 = await measureHttp(ctx, bareJob);
      const k1 = await measureHttp(ctx, keyturnJob);
      const k2 = await measureHttp(ctx, keyturnJob);
      const b2 = await measureHttp(ctx, bareJob);
      const b = b1.opsPerSec >= b2.opsPerSec ? b1 : b2;
      const k = k1.opsPerSec >= k2.opsPerSec ? k1 : k2;
      row({ id: baseId, name: `bare node:http, same bytes (${kind})`, opsPerSec: b.opsPerSec, note: joinNotes('best of 2', b.note) });
      row({ id: `jwks/keyturn/${conditional ? '304' : '200'}`, name: `keyturn GET /.well-known/jwks.json (${kind})`, opsPerSec: k.opsPerSec, baseline: baseId, goal: 0.8, note: joinNotes('best of 2', k.note) });
    }
  } finally {
    bare.closeAllConnections();
    await new Promise<void>((resolve) => bare.close(() => resolve()));
  }
  return rows;
}
