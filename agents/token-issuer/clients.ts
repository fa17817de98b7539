import { randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';
import { dummyHash, hashSecret, verifySecret } from './secret-hash.js';
import { withTransaction, type AuditContext } from './tx.js';
import type { VerifiedSecretCache } from './verified-secrets.js';
import { CLIENT_COLUMNS as COLUMNS, ClientRowReader, type ClientRow } from './client-rows.js';

/** What the registry tells about a client: never its secret or hash. */
export interface ClientRecord {
  clientId: string;
  scopes: string[];
  tenant?: string;
  disabled: boolean;
  /** May introspect tokens issued to other clients (a resource server's client); any client may introspect its own. */
  mayIntrospect: boolean;
  /** The audiences its tokens may carry (those the issuer serves too); absent: every audience of the issuer. */
  audiences?: string[];
  createdAt: string;
  secretRotatedAt?: string;
}

export interface NewClient {
  clientId: string;
  scopes: string[];
  tenant?: string;
  mayIntrospect?: boolean;
  audiences?: string[];
}

/** `secretHash`: the stored hash the secret matched, for the issuance commit to re-check (TokenIssuer.issue); never log it. */
export type AuthResult = { ok: true; client: ClientRecord; secretHash: string } | { ok: false; reason: 'unknown_client' | 'disabled' | 'bad_secret' };

/** Client ids are URL- and header-safe, and never contain `:` (reserved for keyturn's own subjects, e.g. `keyturn:canary`). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/;
/** RFC 6749 §3.3 scope-token. */
export const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

function toRecord(r: ClientRow): ClientRecord {
  const rec: ClientRecord = { clientId: r.client_id, scopes: r.scopes, disabled: r.disabled, mayIntrospect: r.may_introspect, createdAt: r.created_at.toISOString() };
  if (r.tenant !== null) rec.tenant = r.tenant;
  if (r.audiences !== null) rec.audiences = r.audiences;
  if (r.secret_rotated_at) rec.secretRotatedAt = r.secret_rotated_at.toISOString();
  return rec;
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function assertClientId(clientId: unknown): asserts clientId is string {
  if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) {
    throw new KeyturnError('CLIENT_INVALID', 'a client id is 1–128 characters of letters, digits, `.`, `_`, `~` or `-`, starting with a letter or digit', 'Pick an id such as `billing-api`.');
  }
}

function assertScopes(scopes: unknown): asserts scopes is string[] {
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === 'string' && SCOPE_TOKEN_PATTERN.test(s))) {
    throw new KeyturnError('CLIENT_INVALID', 'a client needs at least one scope; scopes are printable ASCII without spaces, `"` or `\\`', 'Pass scopes such as `read:keys,write:keys`.');
  }
}

/**
 * An audience as a client may be limited to: no control, format (bidi overrides) or line-separator
 * characters, which would disguise it in `clients list` and the audit log, and which keep a newline
 * free to join a list in the issuance commit.
 */
const AUDIENCE_PATTERN = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,512}$/u;

export function assertAudiences(audiences: unknown): asserts audiences is string[] {
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((a) => typeof a === 'string' && AUDIENCE_PATTERN.test(a))) {
    throw new KeyturnError('CLIENT_INVALID', 'a client limited to audiences needs at least one; an audience is 1–512 characters without control, format or line-separator characters', 'Pass the audiences as the policy spells them, e.g. `--audiences https://api.example.com`, or leave the client on every audience of its issuer.');
  }
}

function notFound(clientId: string): KeyturnError {
  return new KeyturnError('CLIENT_NOT_FOUND', `no client ${clientId}`, 'List clients with `keyturn clients list`.', { clientId });
}

async function audited(db: Queryable, audit: AuditContext | undefined, action: string, clientId: string, details?: Record<string, unknown>): Promise<void> {
  if (!audit) return;
  await audit.appendAudit(db, { actor: audit.actor, action, subject: { client: clientId }, policyVersion: audit.policyVersion, outcome: 'ok', details: details ?? {} });
}

/** Registers a client. The secret is returned here, once; only its scrypt hash is stored. */
export async function addClient(db: Queryable, input: NewClient, audit?: AuditContext): Promise<{ clientId: string; secret: string }> {
  assertClientId(input.clientId);
  assertScopes(input.scopes);
  if (input.tenant !== undefined && (typeof input.tenant !== 'string' || input.tenant.length < 1 || input.tenant.length > 256)) {
    throw new KeyturnError('CLIENT_INVALID', 'a tenant is 1–256 characters');
  }
  if (input.audiences !== undefined) assertAudiences(input.audiences);
  const audiences = input.audiences === undefined ? null : [...new Set(input.audiences)];
  const secret = newSecret();
  const hash = await hashSecret(secret);
  const scopes = [...new Set(input.scopes)];
  await withTransaction(db, async (tx) => {
    const res = await tx.query(`INSERT INTO clients (client_id, secret_hash, scopes, tenant, may_introspect, audiences) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO NOTHING`, [
      input.clientId,
      hash,
      scopes,
      input.tenant ?? null,
      input.mayIntrospect === true,
      audiences,
    ]);
    if (res.rowCount !== 1) throw new KeyturnError('CLIENT_EXISTS', `client ${input.clientId} already exists`, 'Pick another id, or rotate its secret with `keyturn clients rotate-secret`.', { clientId: input.clientId });
    await audited(tx, audit, 'client.add', input.clientId, { scopes, tenant: input.tenant ?? null, mayIntrospect: input.mayIntrospect === true, audiences });
  });
  return { clientId: input.clientId, secret };
}

export async function listClients(db: Queryable): Promise<ClientRecord[]> {
  const res = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM clients ORDER BY client_id`);
  return res.rows.map(toRecord);
}

export async function getClient(db: Queryable, clientId: string): Promise<ClientRecord | undefined> {
  const res = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1`, [clientId]);
  return res.rows[0] ? toRecord(res.rows[0]) : undefined;
}

/** Disables a client: it can no longer authenticate (tokens it already holds are revoked separately). */
export async function disableClient(db: Queryable, clientId: string, audit?: AuditContext): Promise<ClientRecord> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query<ClientRow>(`UPDATE clients SET disabled = true WHERE client_id = $1 RETURNING ${COLUMNS}`, [clientId]);
    if (!res.rows[0]) throw notFound(clientId);
    await audited(tx, audit, 'client.disable', clientId);
    return toRecord(res.rows[0]);
  });
}

/** Lets a client introspect tokens issued to other clients, or stops it (audited). Its own it always may. */
export async function setIntrospection(db: Queryable, clientId: string, allowed: boolean, audit?: AuditContext): Promise<ClientRecord> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query<ClientRow>(`UPDATE clients SET may_introspect = $2 WHERE client_id = $1 RETURNING ${COLUMNS}`, [clientId, allowed]);
    if (!res.rows[0]) throw notFound(clientId);
    await audited(tx, audit, allowed ? 'client.allow-introspection' : 'client.deny-introspection', clientId);
    return toRecord(res.rows[0]);
  });
}

/**
 * Limits the audiences a client's tokens may carry, or (`undefined`) lets it have every audience of
 * its issuer again (audited). Tokens already issued keep theirs; the next issuance uses the new list.
 */
export async function setAudiences(db: Queryable, clientId: string, audiences: string[] | undefined, audit?: AuditContext): Promise<ClientRecord> {
  if (audiences !== undefined) assertAudiences(audiences);
  const list = audiences === undefined ? null : [...new Set(audiences)];
  return withTransaction(db, async (tx) => {
    const res = await tx.query<ClientRow>(`UPDATE clients SET audiences = $2 WHERE client_id = $1 RETURNING ${COLUMNS}`, [clientId, list]);
    if (!res.rows[0]) throw notFound(clientId);
    await audited(tx, audit, 'client.set-audiences', clientId, { audiences: list });
    return toRecord(res.rows[0]);
  });
}

/** Replaces a client's secret; the old one stops working at once. The new secret is returned here, once. */
export async function rotateSecret(db: Queryable, clientId: string, audit?: AuditContext): Promise<{ secret: string }> {
  const secret = newSecret();
  const hash = await hashSecret(secret);
  await withTransaction(db, async (tx) => {
    const res = await tx.query(`UPDATE clients SET secret_hash = $2, secret_rotated_at = now() WHERE client_id = $1`, [clientId, hash]);
    if (res.rowCount !== 1) throw notFound(clientId);
    await audited(tx, audit, 'client.rotate-secret', clientId);
  });
  return { secret };
}

/**
 * Checks a client's credentials. Every path costs one scrypt hash (unknown ids are checked against a
 * dummy hash) and compares with timingSafeEqual, so timing tells nothing about which ids exist.
 * The one exception needs a secret that was right: remembered under a hash that is no longer the
 * client's, it was rotated away (to a new random one), so it is refused without a hash.
 * The reason is for the audit log only; callers answer every failure the same way. With `verified`,
 * credentials that already passed skip the hash (see VerifiedSecretCache); `onScrypt` is told each
 * time the hash is paid (metrics). `rememberedAs`: what `verified` answered for these credentials
 * when the caller asked it, so it is not asked twice. With `rows`, concurrent requests share one read of the table
 * (see ClientRowReader). A `signal` that aborts while the hash waits for a thread stops it
 * (the call rejects with the signal's reason).
 */
export async function authenticateClient(
  db: Queryable,
  clientId: string,
  secret: string,
  o: { verified?: VerifiedSecretCache; rememberedAs?: { storedHash: string | undefined }; onScrypt?: () => void; signal?: AbortSignal; rows?: ClientRowReader } = {},
): Promise<AuthResult> {
  const { verified } = o;
  const known = typeof clientId === 'string' && CLIENT_ID_PATTERN.test(clientId);
  const row = known ? await (o.rows ?? new ClientRowReader(db)).read(clientId) : undefined;
  const given = typeof secret === 'string' ? secret : '';
  const rememberedHash = row !== undefined && known && verified !== undefined ? (o.rememberedAs ? o.rememberedAs.storedHash : verified.storedHashFor(clientId, given)) : undefined;
  const remembered = rememberedHash !== undefined && rememberedHash === row!.secret_hash;
  const rotatedAway = rememberedHash !== undefined && !remembered;
  const matches = remembered || (!rotatedAway && (await verifySecret(given, row?.secret_hash ?? (await dummyHash()), o.signal ? { signal: o.signal } : {})));
  if (!remembered && !rotatedAway) o.onScrypt?.();
  // Only a working client's right secret is remembered: remembered credentials pass a locked-out address.
  if (matches && row && !row.disabled && !remembered) verified?.remember(clientId, given, row.secret_hash);
  if ((!matches || row?.disabled) && known) verified?.forget(clientId, given);
  if (!row) return { ok: false, reason: 'unknown_client' };
  if (!matches) return { ok: false, reason: 'bad_secret' };
  if (row.disabled) return { ok: false, reason: 'disabled' };
  return { ok: true, client: toRecord(row), secretHash: row.secret_hash };
}
