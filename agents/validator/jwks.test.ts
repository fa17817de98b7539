import { describe, expect, it } from 'vitest';
import { fixedClock } from '../shared/clock.js';
import { testKey } from '../../test/validator/support.js';
import { isTokenRejected } from './errors.js';
import { maxAgeOf, RemoteJwks } from './jwks.js';

const T = '2026-06-01T00:00:00Z';
const key = await testKey('ES256');

function fakeFetch(responses: Array<() => Response>) {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  const f = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init });
    const next = responses[Math.min(calls.length - 1, responses.length - 1)]!;
    return next();
  }) as typeof fetch;
  return { f, calls };
}
const ok = (cacheControl = 'max-age=60') => () => new Response(JSON.stringify({ keys: [key.publicJwk] }), { headers: { 'cache-control': cacheControl } });
const fail = () => () => new Response('no', { status: 503 });

describe('maxAgeOf', () => {
  it('reads max-age among other directives', () => expect(maxAgeOf('public, max-age=120, must-revalidate')).toBe(120));
  it('treats no-store as zero', () => expect(maxAgeOf('no-store')).toBe(0));
  it('is undefined without a header', () => expect(maxAgeOf(null)).toBeUndefined());
  it('caps max-age at one day', () => expect(maxAgeOf('max-age=99999999')).toBe(86_400));
});

describe('RemoteJwks', () => {
  it('fetches once and serves from cache within max-age', async () => {
    const clock = fixedClock(T);
    const { f, calls } = fakeFetch([ok()]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock, fetch: f });
    await j.get(key.kid);
    clock.advance(59);
    expect((await j.get(key.kid))?.kid).toBe(key.kid);
    expect(calls).toHaveLength(1);
  });

  it('refetches after max-age', async () => {
    const clock = fixedClock(T);
    const { f, calls } = fakeFetch([ok()]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock, fetch: f });
    await j.get(key.kid);
    clock.advance(61);
    await j.get(key.kid);
    expect(calls).toHaveLength(2);
  });

  it('does not follow redirects', async () => {
    const { f, calls } = fakeFetch([ok()]);
    await new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock: fixedClock(T), fetch: f }).get(key.kid);
    expect(calls[0]!.init?.redirect).toBe('error');
  });

  it('refetches for an unknown kid only once per cooldown', async () => {
    const clock = fixedClock(T);
    const { f, calls } = fakeFetch([ok('max-age=3600')]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock, fetch: f, cooldownMs: 30_000 });
    await j.get(key.kid);
    clock.advance(31);
    expect(await j.get('unknown-1')).toBeUndefined();
    expect(await j.get('unknown-2')).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it('keeps using the last set for staleIfError past max-age while the JWKS fails', async () => {
    const clock = fixedClock(T);
    const { f } = fakeFetch([ok(), fail()]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock, fetch: f, staleIfErrorSeconds: 300, cooldownMs: 0 });
    await j.get(key.kid);
    clock.advance(60 + 299);
    expect((await j.get(key.kid))?.kid).toBe(key.kid);
  });

  it('fails with JWKS_UNAVAILABLE once the stale window has passed', async () => {
    const clock = fixedClock(T);
    const { f } = fakeFetch([ok(), fail()]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock, fetch: f, staleIfErrorSeconds: 300, cooldownMs: 0 });
    await j.get(key.kid);
    clock.advance(60 + 301);
    const e = await j.get(key.kid).catch((x: unknown) => x);
    expect(isTokenRejected(e, 'JWKS_UNAVAILABLE')).toBe(true);
  });

  it('does not retry a failed first fetch within the cooldown', async () => {
    const { f, calls } = fakeFetch([fail()]);
    const j = new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock: fixedClock(T), fetch: f });
    for (let i = 0; i < 5; i++) await j.get(key.kid).catch(() => {});
    expect(calls).toHaveLength(1);
  });

  it('refuses a JWKS document with duplicate members', async () => {
    const body = `{"keys":[${JSON.stringify(key.publicJwk)}],"keys":[]}`;
    const { f } = fakeFetch([() => new Response(body)]);
    const e = await new RemoteJwks({ uri: 'https://x/jwks', allowed: ['ES256'], clock: fixedClock(T), fetch: f }).get(key.kid).catch((x: unknown) => x);
    expect(isTokenRejected(e, 'JWKS_UNAVAILABLE')).toBe(true);
  });
  it('stops at maxResponseBytes of a body sent without content-length, and keeps no set from it', async () => {
    const chunk = new Uint8Array(256 * 1024).fill(0x20);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= 64 * 1024 * 1024) return c.close();
        pulled += chunk.length;
        c.enqueue(chunk);
      },
    });
    const j = new RemoteJwks({ uri: 'https://issuer.test/jwks', allowed: ['ES256'], clock: fixedClock(new Date(T)), fetch: (async () => new Response(body)) as typeof fetch, maxResponseBytes: 512 * 1024 });
    const outcome = await j.get(key.kid).then(() => 'served', (e: unknown) => (isTokenRejected(e) ? e.code : String(e)));
    expect(outcome).toBe('JWKS_UNAVAILABLE');
    expect(pulled).toBeLessThanOrEqual(1024 * 1024);
  });

  it('stops serving a key once the set republishes it with use "enc"', async () => {
    const clock = fixedClock(new Date(T));
    const { f } = fakeFetch([ok(), () => new Response(JSON.stringify({ keys: [{ ...key.publicJwk, use: 'enc' }] }), { headers: { 'cache-control': 'max-age=60' } })]);
    const j = new RemoteJwks({ uri: 'https://issuer.test/jwks', allowed: ['ES256'], clock, fetch: f, cooldownMs: 0 });
    expect(await j.get(key.kid)).toBeDefined();
    clock.advance(61);
    expect(await j.get(key.kid)).toBeUndefined();
  });
});
