import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import { readClientCredentials } from '../agents/token-issuer/client-credentials.js';
import { ClientRowReader } from '../agents/token-issuer/client-rows.js';
import { authenticateClient, type ClientRecord } from '../agents/token-issuer/clients.js';
import type { AuditBudgetsOptions } from '../agents/token-issuer/failure-audit-budget.js';
import { FailureLimiter } from '../agents/token-issuer/failure-limiter.js';
import { dummyHash } from '../agents/token-issuer/secret-hash.js';
import { VerifiedSecretCache } from '../agents/token-issuer/verified-secrets.js';
import { isKeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';
import { budgetedAudit } from './budgeted-audit.js';
import { oauthError, type Form } from './oauth-form.js';
import { setBounded } from '../agents/shared/bounded-map.js';

const WWW_AUTHENTICATE = 'Basic realm="keyturn", charset="UTF-8"';
const BUSY_RETRY_SECONDS = 1;

export interface Authenticated {
  clientId: string;
  /** The stored hash the presented secret matched; never logged. */
  secretHash: string;
  /** True when the credentials were trusted from memory, without reading the client row. */
  remembered: boolean;
  /** The client as its row was read for this request; absent when `remembered`. */
  record?: ClientRecord;
  /** Counts and audits a refusal found after authentication (the secret rotated meanwhile). */
  refused(reason: string): Promise<void>;
  /** The WWW-Authenticate challenge a later 401 must carry when the client used Basic (RFC 6749 §5.2). */
  challenge: Record<string, string>;
}

/** Aborts once the connection closes before the reply is sent: a secret check still waiting is then not made. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

/** One warning per 10 s while secret checks are refused, with how many: a flood must not also flood the log. */
function throttledBusyLog() {
  let refused = 0;
  let lastAt = 0;
  return {
    note(log: OAuthLog): void {
      refused++;
      if (Date.now() - lastAt < 10_000) return;
      log.warn({ code: 'SECRET_CHECKS_BUSY', refused }, 'client secret checks refused (503): too many waiting; see keyturn_client_secret_checks_busy_total');
      lastAt = Date.now();
      refused = 0;
    },
  };
}

/** Where the OAuth endpoints log (the process's logger: Fastify's own request logger is off). */
export type OAuthLog = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/**
 * The failure limiter's key for a client address: IPv4 as it is (IPv4-mapped IPv6 too), IPv6 by its
 * /64, the least a single host or customer is routed, so rotating through one prefix buys no tries.
 */
export function addressKey(ip: string): string {
  const known = addressKeys.get(ip);
  if (known !== undefined) return known;
  if (!ipaddr.isValid(ip)) return `ip:${ip}`;
  const key = parseAddressKey(ip);
  // Oldest out first, one at a time: a client cycling through addresses costs only its own entries.
  setBounded(addressKeys, ip, key, MAX_ADDRESS_KEYS);
  return key;
}

/** Every request asks for its address's key; parsing the address costs more than the rest of the lookup. Valid addresses only. */
const addressKeys = new Map<string, string>();
const MAX_ADDRESS_KEYS = 10_000;

function parseAddressKey(ip: string): string {
  const addr = ipaddr.process(ip);
  return addr.kind() === 'ipv4' ? `ip:${addr.toString()}` : `ip6:${(addr as ipaddr.IPv6).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

/**
 * How the audit log names a client id nobody registered: a client that swapped its id and secret
 * sent its secret as the id, and the append-only log must never hold it. The digest still lets an
 * auditor see that the same unknown id was tried again.
 */
export function unknownClientLabel(clientId: string): string {
  return `(unknown:${createHash('sha256').update(clientId).digest('base64url').slice(0, 12)})`;
}

/** Failures that name no registered client: they share one audit budget; a registered client has its own. */
const ANONYMOUS_FAILURES = new Set(['no_credentials', 'malformed_basic', 'oversized_credentials', 'unknown_client']);

export interface ClientAuthDeps {
  pool: Pool;
  log: OAuthLog;
  appendAudit: AppendAudit;
  /** The policy version failed authentications are audited under. */
  policyVersion: () => string;
  limiter?: FailureLimiter;
  /** Failures audited one by one per minute and process: 100 anonymous ones, 20 per registered client; the rest go into one summary entry per budget. */
  auditBudget?: AuditBudgetsOptions;
  onSecretScrypt?: () => void;
  onSecretCheckBusy?: () => void;
}

export type AuthenticateClient = ((req: FastifyRequest, reply: FastifyReply, form: Form, endpoint: string, o?: { remembered?: boolean }) => Promise<Authenticated | undefined>) & {
  /** Writes the summary of failures past the audit budget in windows that have ended (with `includeOpen`, also the current one). */
  flushSuppressedAudit(o?: { includeOpen?: boolean }): Promise<void>;
};

/**
 * Client authentication for the OAuth endpoints (client_secret_basic / client_secret_post), with the
 * failure limiter, the audit of every failure, remembered credentials and the bounded secret-check line.
 */
export function clientAuthenticator(deps: ClientAuthDeps): AuthenticateClient {
  const limiter = deps.limiter ?? new FailureLimiter();
  const verifiedSecrets = new VerifiedSecretCache();
  const clientRows = new ClientRowReader(deps.pool);
  const busyLog = throttledBusyLog();
  dummyHash().catch(() => undefined); // computed now, not during the first failed authentication (if refused, the first check retries)

  const failures = budgetedAudit({ pool: deps.pool, appendAudit: deps.appendAudit, log: deps.log, policyVersion: deps.policyVersion, ...(deps.auditBudget ? { budget: deps.auditBudget } : {}) }, 'client.authenticate', { one: 'a failed client authentication', many: 'failed client authentications' });
  const flushSuppressedAudit = failures.flush;

  const auditFailure = async (req: FastifyRequest, endpoint: string, method: string, reason: string, clientId?: string): Promise<void> => {
    const client = clientId === undefined ? undefined : reason === 'unknown_client' ? unknownClientLabel(clientId) : clientId.slice(0, 128);
    await failures.record({
      bucket: client === undefined || ANONYMOUS_FAILURES.has(reason) ? { kind: 'anonymous' } : { kind: 'client', clientId: client },
      reason,
      client,
      address: addressKey(req.ip),
      actor: client ? { role: 'TokenIssuer', client } : { role: 'TokenIssuer' },
      subject: { client: client ?? '(none)' },
      details: { endpoint, method, reason, ip: req.ip },
    });
  };

  /**
   * The authenticated client, or undefined once an error reply has been sent. With `remembered`,
   * credentials that passed recently are trusted without reading the client row: only for callers
   * that have the change re-checked where it matters (the issuance commit re-checks the client and
   * its secret hash, see TokenIssuer.issue).
   */
  const authenticate = async (req: FastifyRequest, reply: FastifyReply, form: Form, endpoint: string, o: { remembered?: boolean } = {}): Promise<Authenticated | undefined> => {
    const creds = readClientCredentials(req.headers.authorization, form.fields);
    if (creds.method === 'conflict') {
      oauthError(reply, 400, 'invalid_request', creds.description);
      return undefined;
    }
    // Counted per address only: a count per client id would let anyone who knows an id (it is in
    // every token) lock that client out, and guessing a 256-bit generated secret is hopeless anyway.
    const keys = [addressKey(req.ip)];
    // Credentials that passed recently (only right ones get remembered) are let through a locked
    // address, so a guesser behind the same NAT or proxy does not lock out clients already at work.
    const rememberedHash = 'secret' in creds ? verifiedSecrets.storedHashFor(creds.clientId, creds.secret) : undefined;
    const wait = rememberedHash === undefined ? limiter.retryAfter(keys) : 0;
    if (wait > 0) {
      oauthError(reply, 429, 'temporarily_unavailable', `too many failed or unfinished client authentications from this address; retry in ${wait} s with correct credentials`, {
        'retry-after': String(wait),
      });
      return undefined;
    }
    const basic = creds.method === 'client_secret_basic' || creds.method === 'malformed_basic' || (creds.method === 'oversized' && creds.basic);
    const challenge: Record<string, string> = basic || creds.method === 'none' ? { 'www-authenticate': WWW_AUTHENTICATE } : {};
    if (creds.method === 'none' || creds.method === 'malformed_basic' || creds.method === 'oversized') {
      limiter.fail(keys);
      await auditFailure(req, endpoint, creds.method, creds.method === 'none' ? 'no_credentials' : creds.method === 'oversized' ? 'oversized_credentials' : 'malformed_basic');
      const description =
        creds.method === 'none'
          ? 'client authentication is required: send Authorization: Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)'
          : creds.description;
      oauthError(reply, 401, 'invalid_client', description, challenge);
      return undefined;
    }
    const refused = (reason: string) => {
      limiter.fail(keys);
      // Refused credentials no longer pass a locked-out address.
      if ('secret' in creds) verifiedSecrets.forget(creds.clientId, creds.secret);
      return auditFailure(req, endpoint, creds.method, reason, creds.clientId);
    };
    if (o.remembered && rememberedHash !== undefined) return { clientId: creds.clientId, secretHash: rememberedHash, remembered: true, refused, challenge };
    let result: Awaited<ReturnType<typeof authenticateClient>>;
    // Only a check that may pay scrypt can be skipped for a client that left; remembered ones cost a row read.
    const gone = rememberedHash === undefined ? clientGone(reply) : undefined;
    // Until its outcome is known a check of credentials not seen to pass recently counts towards the
    // address's limit: a burst gets no more checks than the limit, and clients at work are not counted.
    const held = rememberedHash === undefined ? limiter.hold(keys) : { release() {} };
    try {
      result = await authenticateClient(deps.pool, creds.clientId, creds.secret, { verified: verifiedSecrets, rememberedAs: { storedHash: rememberedHash }, rows: clientRows, ...(gone ? { signal: gone } : {}), ...(deps.onSecretScrypt ? { onScrypt: deps.onSecretScrypt } : {}) });
    } catch (e) {
      if (gone?.aborted && e === gone.reason) {
        // Nobody is listening: the check was skipped, which is neither a failure nor a refusal to count.
        oauthError(reply, 503, 'temporarily_unavailable', 'the client closed the connection');
        return undefined;
      }
      if (!isKeyturnError(e, 'SECRET_CHECKS_BUSY') && !isKeyturnError(e, 'CLIENT_READS_BUSY')) throw e;
      // Not a failed authentication: the secret was never checked, so nothing is counted against the client.
      deps.onSecretCheckBusy?.();
      busyLog.note(deps.log);
      oauthError(reply, 503, 'temporarily_unavailable', 'the server is checking too many client secrets right now; retry in a second', { 'retry-after': String(BUSY_RETRY_SECONDS) });
      return undefined;
    } finally {
      held.release();
    }
    if (!result.ok) {
      await refused(result.reason);
      oauthError(reply, 401, 'invalid_client', 'client authentication failed: check the client id and secret, and that the client is enabled', challenge);
      return undefined;
    }
    return { clientId: result.client.clientId, secretHash: result.secretHash, remembered: false, record: result.client, refused, challenge };
  };
  return Object.assign(authenticate, { flushSuppressedAudit });
}
