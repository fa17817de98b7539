import { describe, expect, it } from 'vitest';
import { checkSubscriberUrl, deliver, isWebhookDeliveryError, type WebhookDeliveryError } from './webhooks.js';

const sub = { id: 'billing', url: 'https://hooks.example.test/revocations/s3cr3t-path?token=abc' };

function fakeFetch(status: number, seen: Array<{ url: string; init: RequestInit }> = []): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(url), init: init ?? {} });
    return new Response(status === 204 ? null : 'body the responder must not read', { status });
  }) as typeof fetch;
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('deliver', () => {
  it('POSTs the compact JWS as application/jose, without following redirects, and returns the 2xx status', async () => {
    const seen: Array<{ url: string; init: RequestInit }> = [];
    await expect(deliver(sub, 'a.b.c', { fetch: fakeFetch(202, seen), timeoutMs: 1000 })).resolves.toEqual({ status: 202 });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(sub.url);
    expect(seen[0]!.init).toMatchObject({ method: 'POST', body: 'a.b.c', redirect: 'manual' });
    expect((seen[0]!.init.headers as Record<string, string>)['content-type']).toBe('application/jose');
    expect(seen[0]!.init.signal).toBeInstanceOf(AbortSignal);
  });

  it.each([500, 503, 404, 400, 302])('throws a retryable WebhookDeliveryError on HTTP %i, naming only the origin', async (status) => {
    const e = await caught(deliver(sub, 'a.b.c', { fetch: fakeFetch(status) }));
    expect(isWebhookDeliveryError(e)).toBe(true);
    const err = e as WebhookDeliveryError;
    expect(err).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status, subscriberId: 'billing' });
    expect(err.message).toContain('https://hooks.example.test');
    expect(err.message).not.toContain('s3cr3t');
    expect(err.message).not.toContain('token=abc');
  });

  it('throws a retryable error on a network failure and on a timeout', async () => {
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as typeof fetch;
    const e1 = (await caught(deliver(sub, 'x', { fetch: refused }))) as WebhookDeliveryError;
    expect(e1).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status: undefined });
    expect(e1.message).toContain('ECONNREFUSED');

    const hangs = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason as Error)))) as unknown as typeof fetch;
    const e2 = (await caught(deliver(sub, 'x', { fetch: hangs, timeoutMs: 50 }))) as WebhookDeliveryError;
    expect(e2).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true });
    expect(e2.message).toContain('within 50 ms');
  });

  it('refuses to deliver to an unsafe url', async () => {
    const e = await caught(deliver({ id: 'x', url: 'http://example.test/hook' }, 'x', { fetch: fakeFetch(200) }));
    expect(e).toMatchObject({ code: 'SUBSCRIBER_INVALID' });
  });
});

describe('checkSubscriberUrl', () => {
  it('accepts https anywhere and http only to loopback', () => {
    expect(checkSubscriberUrl('https://hooks.example.test/x')).toBe('https://hooks.example.test/x');
    expect(checkSubscriberUrl('http://127.0.0.1:8080/hook')).toBe('http://127.0.0.1:8080/hook');
    expect(checkSubscriberUrl('http://localhost/hook')).toBe('http://localhost/hook');
    expect(checkSubscriberUrl('http://[::1]:9/h')).toBe('http://[::1]:9/h');
  });

  it.each(['http://example.test/hook', 'ftp://example.test/', 'https://user:pw@example.test/', 'https://example.test/#frag', 'not a url', 'javascript:alert(1)'])('refuses %s', (url) => {
    expect(() => checkSubscriberUrl(url)).toThrow(expect.objectContaining({ code: 'SUBSCRIBER_INVALID' }));
  });
});
