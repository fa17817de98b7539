import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkSubscriberUrl, deliver, isWebhookDeliveryError, LOOPBACK_NETWORKS, SubscriberAddressPolicy, type Resolve, type WebhookDeliveryError } from './webhooks.js';

const loopback = new SubscriberAddressPolicy(LOOPBACK_NETWORKS);
const deny = new SubscriberAddressPolicy();
const secretPath = '/revocations/s3cr3t-path?token=abc';

interface Subscriber {
  port: number;
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  requests: Array<{ method: string; url: string; contentType: string | undefined; body: string }>;
  close(): Promise<void>;
}

const servers: Subscriber[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A subscriber on loopback that answers with `answer` (never, when it returns false). */
async function subscriber(answer: (res: ServerResponse) => boolean | void, host = '127.0.0.1'): Promise<Subscriber> {
  const s: Subscriber = { port: 0, connections: 0, requests: [], close: () => new Promise((r) => server.close(() => r())) };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      s.requests.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
      answer(res);
    });
  });
  server.on('connection', () => s.connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  s.port = (server.address() as AddressInfo).port;
  const close = s.close;
  s.close = () => (server.closeAllConnections(), close());
  servers.push(s);
  return s;
}

const answering = (status: number, headers: Record<string, string> = {}) => (res: ServerResponse) => void res.writeHead(status, headers).end('body the responder must not read');

const resolvesTo = (...addresses: string[]): Resolve => async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('deliver', () => {
  it('POSTs the compact JWS as application/jose to the subscriber url and returns the 2xx status', async () => {
    const s = await subscriber(answering(202));
    await expect(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}${secretPath}` }, 'a.b.c', { addresses: loopback, timeoutMs: 1000 })).resolves.toEqual({ status: 202 });
    expect(s.requests).toEqual([{ method: 'POST', url: secretPath, contentType: 'application/jose', body: 'a.b.c' }]);
  });

  it.each([500, 503, 404, 400])('throws a retryable WebhookDeliveryError on HTTP %i, naming only the origin', async (status) => {
    const s = await subscriber(answering(status));
    const e = await caught(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}${secretPath}` }, 'a.b.c', { addresses: loopback }));
    expect(isWebhookDeliveryError(e)).toBe(true);
    const err = e as WebhookDeliveryError;
    expect(err).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status, subscriberId: 'billing' });
    expect(err.message).toContain(`http://127.0.0.1:${s.port}`);
    expect(err.message).not.toContain('s3cr3t');
    expect(err.message).not.toContain('token=abc');
  });

  it('does not follow a redirect: a 302 is a failed delivery', async () => {
    const s = await subscriber(answering(302, { location: '/elsewhere' }));
    const e = await caught(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}/hook` }, 'a.b.c', { addresses: loopback }));
    expect(e).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status: 302 });
    expect(s.requests.map((r) => r.url)).toEqual(['/hook']);
  });

  it('throws a retryable error when the connection is refused', async () => {
    const s = await subscriber(answering(200));
    await s.close();
    const e = (await caught(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}/hook` }, 'x', { addresses: loopback }))) as WebhookDeliveryError;
    expect(e).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true, status: undefined });
    expect(e.message).toContain('ECONNREFUSED');
  });

  it('throws a retryable error when the subscriber does not answer in time', async () => {
    const s = await subscriber(() => false);
    const e = (await caught(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}/hook` }, 'x', { addresses: loopback, timeoutMs: 100 }))) as WebhookDeliveryError;
    expect(e).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true });
    expect(e.message).toContain('within 100 ms');
  });

  it('throws a retryable error when the host name does not resolve, or resolves to nothing', async () => {
    const notFound: Resolve = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    const sub = { id: 'billing', url: `https://hooks.example.test${secretPath}` };
    const e1 = (await caught(deliver(sub, 'x', { addresses: deny, resolve: notFound }))) as WebhookDeliveryError;
    expect(e1).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true });
    expect(e1.message).toContain('ENOTFOUND');
    const e2 = (await caught(deliver(sub, 'x', { addresses: deny, resolve: resolvesTo() }))) as WebhookDeliveryError;
    expect(e2).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', retryable: true });
    expect(e2.message).toContain('no address');
  });

  it('refuses to deliver to an unsafe url', async () => {
    const e = await caught(deliver({ id: 'x', url: 'http://example.test/hook' }, 'x', { addresses: deny }));
    expect(e).toMatchObject({ code: 'SUBSCRIBER_INVALID' });
  });
});

describe('deliver connects only to allowed addresses', () => {
  it('refuses a host name that resolves to a private address, before any connection, naming what to do', async () => {
    const connect = vi.spyOn(Socket.prototype, 'connect');
    const e = (await caught(deliver({ id: 'billing', url: `https://hooks.example.test${secretPath}` }, 'x', { addresses: deny, resolve: resolvesTo('10.0.0.5') }))) as WebhookDeliveryError;
    expect(e).toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED', retryable: false, subscriberId: 'billing' });
    expect(isWebhookDeliveryError(e)).toBe(true);
    expect(e.message).toContain('10.0.0.5 is a private address');
    expect(e.message).toContain('KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS');
    expect(e.message).not.toContain('s3cr3t');
    expect(connect).not.toHaveBeenCalled();
  });

  it('refuses a host name when any one of its addresses is refused, connecting to none of them', async () => {
    const s = await subscriber(answering(200));
    const e = await caught(deliver({ id: 'billing', url: `http://localhost:${s.port}/hook` }, 'x', { addresses: loopback, resolve: resolvesTo('127.0.0.1', '10.0.0.5') }));
    expect(e).toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED' });
    expect(s.connections).toBe(0);
  });

  it('delivers to a loopback subscriber when the allow-list covers loopback', async () => {
    const s = await subscriber(answering(204));
    await expect(deliver({ id: 'billing', url: `http://127.0.0.1:${s.port}/hook` }, 'x', { addresses: loopback })).resolves.toEqual({ status: 204 });
    expect(s.connections).toBe(1);
  });

  it('refuses a loopback subscriber when the allow-list does not cover loopback', async () => {
    const s = await subscriber(answering(204));
    for (const host of ['127.0.0.1', '[::1]', 'localhost']) {
      const e = await caught(deliver({ id: 'billing', url: `http://${host}:${s.port}/hook` }, 'x', { addresses: deny }));
      expect(e).toMatchObject({ code: 'SUBSCRIBER_ADDRESS_REFUSED', retryable: false });
    }
    expect(s.connections).toBe(0);
  });

  it('connects to the address it checked, without looking the host name up again', async () => {
    // Only the checked address has a listener: a second lookup of localhost would find 127.0.0.1 or ::1.
    const s = await subscriber(answering(200), '127.0.0.2');
    const resolve = vi.fn(resolvesTo('127.0.0.2'));
    await expect(deliver({ id: 'billing', url: `http://localhost:${s.port}/hook` }, 'x', { addresses: loopback, resolve })).resolves.toEqual({ status: 200 });
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(s.requests).toHaveLength(1);
  });
});

describe('checkSubscriberUrl', () => {
  it('accepts https anywhere and http only to loopback', () => {
    expect(checkSubscriberUrl('https://hooks.example.test/x', deny)).toBe('https://hooks.example.test/x');
    expect(checkSubscriberUrl('http://127.0.0.1:8080/hook', loopback)).toBe('http://127.0.0.1:8080/hook');
    expect(checkSubscriberUrl('http://localhost/hook', loopback)).toBe('http://localhost/hook');
    expect(checkSubscriberUrl('http://[::1]:9/h', loopback)).toBe('http://[::1]:9/h');
  });

  it.each(['http://example.test/hook', 'ftp://example.test/', 'https://user:pw@example.test/', 'https://example.test/#frag', 'not a url', 'javascript:alert(1)'])('refuses %s', (url) => {
    expect(() => checkSubscriberUrl(url, loopback)).toThrow(expect.objectContaining({ code: 'SUBSCRIBER_INVALID' }));
  });

  it.each(['https://169.254.169.254/latest/meta-data/', 'https://[::ffff:a00:1]/', 'https://10.0.0.5/hook', 'https://0x7f000001/hook', 'http://127.0.0.1:8080/hook'])(
    'refuses %s, an IP address the allow-list does not cover, saying how to allow it',
    (url) => {
      expect(() => checkSubscriberUrl(url, deny)).toThrow(expect.objectContaining({ code: 'SUBSCRIBER_ADDRESS_REFUSED', hint: expect.stringContaining('KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS') }));
    },
  );

  it('accepts an internal IP address the allow-list covers', () => {
    const allowed = new SubscriberAddressPolicy(['169.254.169.254/32', '10.0.0.0/8']);
    expect(checkSubscriberUrl('https://169.254.169.254/latest/meta-data/', allowed)).toBe('https://169.254.169.254/latest/meta-data/');
    expect(checkSubscriberUrl('https://[::ffff:a00:1]/', allowed)).toBe('https://[::ffff:a00:1]/');
  });

  it('leaves a host name to be checked at each delivery', () => {
    expect(checkSubscriberUrl('https://internal.corp.example/hook', deny)).toBe('https://internal.corp.example/hook');
  });
});
