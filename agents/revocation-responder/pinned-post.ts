import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import pLimit from 'p-limit';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to. */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

/** `resolve`, with at most `concurrency` lookups running at once (the rest wait their turn). */
export function limitedResolve(resolve: Resolve, concurrency: number): Resolve {
  const slot = pLimit(concurrency);
  return (hostname) => slot(() => resolve(hostname));
}

const getaddrinfo: Resolve = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/**
 * The system resolver (getaddrinfo: /etc/hosts, then DNS), every answer in its order. getaddrinfo
 * runs on libuv's thread pool (4 threads by default) and cannot be cancelled: a subscriber whose
 * DNS hangs would hold a thread past the delivery's timeout. Two at most run at once, so slow
 * subscriber domains never take the pool that file and crypto work share.
 */
export const systemResolve: Resolve = limitedResolve(getaddrinfo, 2);

/**
 * POSTs `body` to `url`, connecting only to the addresses given (already checked): the socket's
 * lookup answers with them instead of asking DNS again, so the host cannot be rebound to another
 * address between the check and the connection. TLS still verifies the certificate for the url's
 * host. Redirects are not followed, no connection is reused, and the response body is never read.
 * Resolves with the status code.
 */
export function postPinned(url: URL, to: readonly ResolvedAddress[], body: string, headers: Record<string, string>, signal: AbortSignal): Promise<number> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false, lookup: pinnedLookup(to), signal }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end(body);
  });
}

function pinnedLookup(to: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : undefined;
    const answers = to.filter((a) => family === undefined || a.family === family);
    if (answers.length === 0) {
      callback(Object.assign(new Error('no checked address of the family asked for'), { code: 'ENOTFOUND' }), '');
    } else if (options.all) {
      callback(null, answers.map((a) => ({ address: a.address, family: a.family })));
    } else {
      callback(null, answers[0]!.address, answers[0]!.family);
    }
  };
}

/** `p`, or the signal's reason once it aborts (a lookup cannot be cancelled, only stopped waiting for). */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
