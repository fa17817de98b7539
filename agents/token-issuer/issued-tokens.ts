import type { Queryable } from '../shared/db.js';

/** The record of one signed token (never the token itself). `clientId` is absent for canaries. */
export interface IssuedToken {
  jti: string;
  issuer: string;
  sub: string;
  clientId?: string;
  kid: string;
  exp: Date;
  iat: Date;
  policyVersion: string;
}

interface Row extends Record<string, unknown> {
  jti: string;
  issuer: string;
  sub: string;
  client_id: string | null;
  kid: string;
  exp: Date;
  iat: Date;
  policy_version: string;
}
const COLUMNS = 'jti, issuer, sub, client_id, kid, exp, iat, policy_version';

function toToken(r: Row): IssuedToken {
  const t: IssuedToken = { jti: r.jti, issuer: r.issuer, sub: r.sub, kid: r.kid, exp: r.exp, iat: r.iat, policyVersion: r.policy_version };
  if (r.client_id !== null) t.clientId = r.client_id;
  return t;
}

export async function recordIssued(db: Queryable, t: IssuedToken): Promise<void> {
  await db.query(`INSERT INTO issued_tokens (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
    t.jti,
    t.issuer,
    t.sub,
    t.clientId ?? null,
    t.kid,
    t.exp,
    t.iat,
    t.policyVersion,
  ]);
}

export async function findIssued(db: Queryable, jti: string): Promise<IssuedToken | undefined> {
  const res = await db.query<Row>(`SELECT ${COLUMNS} FROM issued_tokens WHERE jti = $1`, [jti]);
  return res.rows[0] ? toToken(res.rows[0]) : undefined;
}

/** Every token signed under `kid`, oldest first: what to revoke when that key is compromised. */
export async function tokensByKid(db: Queryable, kid: string): Promise<IssuedToken[]> {
  const res = await db.query<Row>(`SELECT ${COLUMNS} FROM issued_tokens WHERE kid = $1 ORDER BY iat, jti`, [kid]);
  return res.rows.map(toToken);
}

/** Every token of subject `sub` (a client id), oldest first; only those issued before `before` when given. */
export async function tokensBySub(db: Queryable, sub: string, before?: Date): Promise<IssuedToken[]> {
  const res = await db.query<Row>(`SELECT ${COLUMNS} FROM issued_tokens WHERE sub = $1 AND ($2::timestamptz IS NULL OR iat < $2) ORDER BY iat, jti`, [sub, before ?? null]);
  return res.rows.map(toToken);
}

/** Issuers with unexpired tokens of this jti or sub: the deny-list is not per issuer, so each is affected by its revocation. */
export async function issuersWithLiveTokens(db: Queryable, kind: 'jti' | 'sub', value: string, before?: string): Promise<string[]> {
  const column = kind === 'jti' ? 'jti' : 'sub';
  // `before` (a sub revocation's cutoff): only tokens issued before it are affected.
  const res = await db.query<{ issuer: string }>(`SELECT DISTINCT issuer FROM issued_tokens WHERE ${column} = $1 AND exp > now() AND ($2::timestamptz IS NULL OR iat < $2) ORDER BY issuer`, [value, before ?? null]);
  return res.rows.map((r) => r.issuer);
}
