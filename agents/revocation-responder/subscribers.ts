import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';
import { withTransaction } from '../shared/db.js';
import type { AuditContext } from '../token-issuer/tx.js';
import { ENDED_ONCE, UNENDED, WITHDRAWN_BECAUSE } from './owed-notices.js';
import { ALLOWED_NETWORKS_VARIABLE, ipLiteral, subscriberAddressPolicy, type SubscriberAddressPolicy } from './subscriber-address.js';

export interface Subscriber {
  id: string;
  url: string;
  createdAt: string;
  disabled: boolean;
  /** The issuers whose revocations it is told of; null: every issuer. */
  issuers: string[] | null;
}

interface SubscriberRow extends Record<string, unknown> {
  id: string;
  url: string;
  created_at: Date;
  disabled: boolean;
  issuers: string[] | null;
}

const SUBSCRIBER_COLUMNS = 'id, url, created_at, disabled, issuers';
const toSubscriber = (r: SubscriberRow): Subscriber => ({ id: r.id, url: r.url, createdAt: r.created_at.toISOString(), disabled: r.disabled, issuers: r.issuers });

/** Whether `subscriber` is told of a notice concerning `issuers` (its own issuer, and for a jti or sub every issuer with live tokens of it). */
export const tellsOf = (subscriber: Pick<Subscriber, 'issuers'>, issuers: readonly string[]): boolean => subscriber.issuers === null || issuers.some((i) => subscriber.issuers!.includes(i));

const NOT_IN_AN_ISSUER = /[\p{Cc}\p{Cf}\p{Z}]/u;

/** 1–100 distinct http(s) issuer urls with no space, control or format character, sorted; or undefined for every issuer. */
function checkIssuers(issuers: readonly string[] | undefined): string[] | undefined {
  if (issuers === undefined) return undefined;
  const distinct = [...new Set(issuers)].sort();
  if (distinct.length < 1 || distinct.length > 100) throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber is told of 1–100 issuers, or of every issuer', 'Give a comma-separated list of issuer urls (as the policy names them).');
  for (const i of distinct) {
    const url = !NOT_IN_AN_ISSUER.test(i) && i.length <= 2048 && URL.canParse(i) ? new URL(i) : undefined;
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new KeyturnError('SUBSCRIBER_INVALID', `${JSON.stringify(i.slice(0, 100))} is not an issuer url`, 'Issuers are named by their http(s) url, exactly as the policy names them (iss).');
    }
  }
  return distinct;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export const ALLOW_INTERNAL = `Add its network to ${ALLOWED_NETWORKS_VARIABLE} if this subscriber is meant to be internal; otherwise register its public url.`;

/** A subscriber url's form: https, or http to a loopback host only; no credentials in it. */
export function parseSubscriberUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KeyturnError('SUBSCRIBER_INVALID', 'the subscriber url is not a valid absolute URL', 'Use https://host/path.');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
    throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber url must be https (http only to localhost)', 'Revocation notices cross the network: use TLS.');
  }
  if (u.username || u.password) throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber url must not carry credentials', 'Subscribers authenticate keyturn by the notice signature.');
  if (u.hash) throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber url must not have a fragment');
  if (u.toString().length > 2048) throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber url must be at most 2048 characters');
  return u;
}

/**
 * A subscriber url (see parseSubscriberUrl), returned normalised. An IP address as its host must be
 * one `addresses` allows (default: the configuration's); a host name is checked at each delivery,
 * against every address it resolves to then.
 */
export function checkSubscriberUrl(url: string, addresses: SubscriberAddressPolicy = subscriberAddressPolicy()): string {
  const u = parseSubscriberUrl(url);
  const literal = ipLiteral(u.hostname);
  const refused = literal && addresses.refusal(literal.address);
  if (refused) {
    throw new KeyturnError('SUBSCRIBER_ADDRESS_REFUSED', `a subscriber url must name a public address: ${refused}`, `${ALLOW_INTERNAL} (Host names are checked at each delivery.)`, { origin: u.origin });
  }
  return u.toString();
}

function checkSubscriberId(id: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/.test(id)) {
    throw new KeyturnError('SUBSCRIBER_INVALID', 'a subscriber id is 1–128 characters of letters, digits and ._~- (starting with a letter or digit)');
  }
  return id;
}

/**
 * Registers a subscriber, audited (`revocation.subscriber.add`). Idempotent for the same id and url;
 * the same id with another url is SUBSCRIBER_CONFLICT.
 */
export async function addSubscriber(db: Queryable, input: { id: string; url: string; issuers?: string[] }, ctx: AuditContext, opts: { addresses?: SubscriberAddressPolicy } = {}): Promise<Subscriber> {
  const id = checkSubscriberId(input.id);
  const url = checkSubscriberUrl(input.url, opts.addresses);
  const issuers = checkIssuers(input.issuers) ?? null;
  return withTransaction(db, async (tx) => {
    const ins = await tx.query<SubscriberRow>(`INSERT INTO revocation_subscribers (id, url, issuers) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING ${SUBSCRIBER_COLUMNS}`, [id, url, issuers]);
    if (!ins.rows[0]) {
      const existing = (await getSubscriber(tx, id))!;
      if (existing.url !== url) throw new KeyturnError('SUBSCRIBER_CONFLICT', `subscriber ${id} already exists with another url`, 'Disable it and register the new url under a new id.', { id });
      if (JSON.stringify(existing.issuers?.toSorted() ?? null) !== JSON.stringify(issuers)) throw new KeyturnError('SUBSCRIBER_CONFLICT', `subscriber ${id} already exists, told of other issuers`, 'Change its issuers with `keyturn subscribers set-issuers`.', { id });
      return existing;
    }
    await ctx.appendAudit(tx, { actor: ctx.actor, action: 'revocation.subscriber.add', subject: { subscriber: id }, policyVersion: ctx.policyVersion, outcome: 'ok', details: { origin: new URL(url).origin, issuers } });
    return toSubscriber(ins.rows[0]);
  });
}

/** Stops (or restarts) deliveries to a subscriber, audited. SUBSCRIBER_NOT_FOUND when unknown. */
export async function setSubscriberDisabled(db: Queryable, id: string, disabled: boolean, ctx: AuditContext): Promise<Subscriber> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query<SubscriberRow>(`UPDATE revocation_subscribers SET disabled = $2 WHERE id = $1 RETURNING ${SUBSCRIBER_COLUMNS}`, [id, disabled]);
    if (!res.rows[0]) throw new KeyturnError('SUBSCRIBER_NOT_FOUND', `no revocation subscriber ${id}`);
    await ctx.appendAudit(tx, { actor: ctx.actor, action: disabled ? 'revocation.subscriber.disable' : 'revocation.subscriber.enable', subject: { subscriber: id }, policyVersion: ctx.policyVersion, outcome: 'ok' });
    return toSubscriber(res.rows[0]);
  });
}

export async function getSubscriber(db: Queryable, id: string): Promise<Subscriber | undefined> {
  const res = await db.query<SubscriberRow>(`SELECT ${SUBSCRIBER_COLUMNS} FROM revocation_subscribers WHERE id = $1`, [id]);
  return res.rows[0] ? toSubscriber(res.rows[0]) : undefined;
}

/** Enabled subscribers (all with `includeDisabled`), by id: the fan-out list for a notice. */
export async function listSubscribers(db: Queryable, opts: { includeDisabled?: boolean } = {}): Promise<Subscriber[]> {
  const res = await db.query<SubscriberRow>(`SELECT ${SUBSCRIBER_COLUMNS} FROM revocation_subscribers WHERE $1::boolean OR NOT disabled ORDER BY id`, [opts.includeDisabled ?? false]);
  return res.rows.map(toSubscriber);
}

/**
 * Limits the issuers a subscriber is told of (undefined: every issuer again), audited with the list
 * before. The notices it is still owed that concern none of them are withdrawn in the same transaction.
 * SUBSCRIBER_NOT_FOUND when unknown.
 */
export async function setSubscriberIssuers(db: Queryable, id: string, issuers: string[] | undefined, ctx: AuditContext): Promise<Subscriber> {
  const checked = checkIssuers(issuers) ?? null;
  return withTransaction(db, async (tx) => {
    const before = await tx.query<{ issuers: string[] | null }>(`SELECT issuers FROM revocation_subscribers WHERE id = $1 FOR UPDATE`, [id]);
    if (!before.rows[0]) throw new KeyturnError('SUBSCRIBER_NOT_FOUND', `no revocation subscriber ${id}`);
    const res = await tx.query<SubscriberRow>(`UPDATE revocation_subscribers SET issuers = $2 WHERE id = $1 RETURNING ${SUBSCRIBER_COLUMNS}`, [id, checked]);
    const withdrawn = checked === null ? 0 : (await tx.query(
      `INSERT INTO revocation_deliveries (subscriber_id, notice_jti, event, outcome, error)
       SELECT n.subscriber_id, n.notice_jti, n.event, 'withdrawn', $3
       FROM revocation_notices n
       WHERE n.subscriber_id = $1 AND NOT (coalesce(n.concerns, ARRAY[n.issuer]) && $2::text[]) AND ${UNENDED}
       ${ENDED_ONCE}`,
      [id, checked, WITHDRAWN_BECAUSE],
    )).rowCount ?? 0;
    await ctx.appendAudit(tx, { actor: ctx.actor, action: 'revocation.subscriber.issuers', subject: { subscriber: id }, policyVersion: ctx.policyVersion, outcome: 'ok', details: { issuers: checked, before: before.rows[0].issuers, withdrawn } });
    return toSubscriber(res.rows[0]!);
  });
}
