import type { JWK } from 'jose';
import type { SigningAlgorithm } from '../planner/policy-types.js';
import type { Clock } from '../shared/clock.js';
import { TokenRejected } from './errors.js';
import { buildKeyMap, type VerificationKey } from './keys.js';
import { asObject, parseStrictJson } from './strict-json.js';

/** Where the validator finds verification keys by kid. */
export interface KeySource {
  /** The key for `kid`, or undefined if the set has none; throws JWKS_UNAVAILABLE when there is no usable set at all. */
  get(kid: string): Promise<VerificationKey | undefined>;
  close(): void;
}

/** A fixed key set (e.g. from policy or KeyManager.jwks()), imported once. */
export function staticKeySource(keys: readonly JWK[], allowed: readonly SigningAlgorithm[]): KeySource {
  const map = buildKeyMap(keys, allowed);
  return { get: async (kid) => map.get(kid), close: () => {} };
}

export interface RemoteJwksOptions {
  uri: string;
  allowed: readonly SigningAlgorithm[];
  clock: Clock;
  fetch?: typeof fetch;
  /** Minimum time between two fetches, whatever triggers them (unknown kids, expiry, failures). Default 30 s. */
  cooldownMs?: number;
  timeoutMs?: number;
  /** Cache lifetime when the response has no Cache-Control max-age. Default 300 s. */
  defaultMaxAgeSeconds?: number;
  /** How long past its max-age an old set is still used while the JWKS cannot be fetched. Default 300 s. */
  staleIfErrorSeconds?: number;
  maxResponseBytes?: number;
}

const MAX_CACHE_SECONDS = 86_400;

/** max-age from a Cache-Control header: 0 for no-store/no-cache, undefined when absent. */
export function maxAgeOf(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  if (/(?:^|,)\s*no-(?:store|cache)\s*(?:,|$)/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i.exec(cacheControl);
  return m ? Math.min(Number(m[1]), MAX_CACHE_SECONDS) : undefined;
}

/**
 * A remote JWKS: fetched with a timeout and no redirects, cached for the response's max-age, and
 * refetched on an unknown kid at most once per cooldown. Concurrent callers share one fetch, so a
 * flood of tokens with made-up kids costs the JWKS server at most one request per cooldown.
 * Only `uri` is ever contacted: never a jku/x5u from a token.
 */
export class RemoteJwks implements KeySource {
  private keys: Map<string, VerificationKey> | undefined;
  private expiresAt = 0;
  private lastAttemptAt: number | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly aborter = new AbortController();
  private readonly cooldownMs: number;
  private readonly staleMs: number;
  /** Fetches made (successful or not): for tests and metrics. */
  fetches = 0;

  constructor(private readonly o: RemoteJwksOptions) {
    this.cooldownMs = o.cooldownMs ?? 30_000;
    this.staleMs = (o.staleIfErrorSeconds ?? 300) * 1000;
  }

  async get(kid: string): Promise<VerificationKey | undefined> {
    const now = this.o.clock.now().getTime();
    if (this.keys === undefined || now >= this.expiresAt) await this.refreshIfAllowed();
    const keys = this.usableKeys();
    const key = keys.get(kid);
    if (key || !this.mayFetch()) return key;
    await this.refreshIfAllowed();
    return this.usableKeys().get(kid);
  }

  close(): void {
    this.aborter.abort();
  }

  private usableKeys(): Map<string, VerificationKey> {
    const now = this.o.clock.now().getTime();
    if (this.keys === undefined || now >= this.expiresAt + this.staleMs) {
      throw new TokenRejected('JWKS_UNAVAILABLE', 'no current verification key set: the JWKS could not be fetched');
    }
    return this.keys;
  }

  private mayFetch(): boolean {
    return this.inFlight !== undefined || this.lastAttemptAt === undefined || this.o.clock.now().getTime() - this.lastAttemptAt >= this.cooldownMs;
  }

  private async refreshIfAllowed(): Promise<void> {
    if (!this.mayFetch()) return;
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
  }

  private async refresh(): Promise<void> {
    const started = this.o.clock.now().getTime();
    this.lastAttemptAt = started;
    this.fetches++;
    try {
      const res = await (this.o.fetch ?? fetch)(this.o.uri, {
        redirect: 'error',
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs ?? 5_000), this.aborter.signal]),
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        return;
      }
      const max = this.o.maxResponseBytes ?? 512 * 1024;
      if (Number(res.headers.get('content-length') ?? 0) > max) {
        await res.body?.cancel().catch(() => {});
        return;
      }
      const text = await readAtMost(res, max);
      if (text === undefined) return;
      const doc = asObject(parseStrictJson(text));
      if (!doc || !Array.isArray(doc.keys)) return;
      this.keys = buildKeyMap(doc.keys as JWK[], this.o.allowed, this.keys);
      const maxAge = maxAgeOf(res.headers.get('cache-control')) ?? this.o.defaultMaxAgeSeconds ?? 300;
      this.expiresAt = started + maxAge * 1000;
    } catch {
      // Unreachable, timed out, redirected or unparsable: keep the previous set (within staleIfError).
    }
  }
}

/** The body as text, or undefined once it passes `max` bytes: reading stops there (a body may come without content-length). */
async function readAtMost(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
