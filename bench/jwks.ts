import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRounds } from './http-rounds.js';
import { alternateRounds, PAIRED_ROUNDS, pairedNote } from './measure.js';
import { joinNotes } from './sign.js';
import { cpuNote, measureHttp, type BenchContext } from './stack.js';
import type { Row } from './table.js';

/** Rounds of half the row time each (1 s by default): shorter ones are mostly connection set-up. */
const ROUNDS_TIMING = (ctx: BenchContext) => ({ seconds: (PAIRED_ROUNDS * ctx.timing.seconds) / 2, warmupSeconds: 0 });

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
    // The generator's first job runs unoptimised code: prime it. Then bare server and keyturn take
    // turns in short rounds, so drift on a shared machine moves both; the ratio is the median round's.
    await measureHttp(ctx, { url: `${bareUrl}${path}`, method: 'GET', headers: {}, expectStatus: [200] });
    for (const conditional of [false, true]) {
      const kind = conditional ? '304, If-None-Match' : '200, full body';
      const bareJob = { url: `${bareUrl}${path}`, method: 'GET' as const, headers: (conditional ? { 'if-none-match': etag } : {}) as Record<string, string>, expectStatus: [conditional ? 304 : 200] };
      const bareRounds = httpRounds(ctx, bareJob);
      const keyturnRounds = httpRounds(ctx, { ...bareJob, url: `${setup.httpUrl}${path}` });
      const paired = await alternateRounds(ROUNDS_TIMING(ctx), PAIRED_ROUNDS, (slice) => bareRounds.round(slice.seconds), (slice) => keyturnRounds.round(slice.seconds));
      const baseId = `jwks/bare/${conditional ? '304' : '200'}`;
      row({ id: baseId, name: `bare node:http, same bytes (${kind})`, opsPerSec: bareRounds.opsPerSec(), note: joinNotes(`mean of ${PAIRED_ROUNDS} rounds`, cpuNote(bareRounds.serverCpuMicros()), ...bareRounds.problems()) });
      row({
        id: `jwks/keyturn/${conditional ? '304' : '200'}`,
        name: `keyturn GET /.well-known/jwks.json (${kind})`,
        opsPerSec: keyturnRounds.opsPerSec(),
        baseline: baseId,
        goal: 0.8,
        pairedRatio: paired.ratio,
        note: joinNotes(cpuNote(keyturnRounds.serverCpuMicros()), pairedNote(paired), ...keyturnRounds.problems()),
      });
    }
  } finally {
    bare.closeAllConnections();
    await new Promise<void>((resolve) => bare.close(() => resolve()));
  }
  return rows;
}
