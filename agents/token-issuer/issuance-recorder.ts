import { KeyturnError } from '../../config/errors.js';
import type { Pool } from '../../db/pool.js';
import type { ClientRecord } from './clients.js';
import type { IssuedToken } from './issued-tokens.js';
import { Batcher } from '../shared/batcher.js';

/**
 * What committing a signed token found: `recorded` (it may be handed out), or why it must not be:
 * the issuer is paused, its key is no longer the active one, its client changed (disabled, other
 * scopes or tenant) since the token was built, or the client's secret is no longer the one the
 * request was authenticated with.
 */
export type RecordVerdict = 'recorded' | 'paused' | 'key-changed' | 'client-changed' | 'secret-changed';

interface Pending {
  token: IssuedToken;
  /** The client record the token was built from. */
  client: ClientRecord;
  /** The stored secret hash the request's credentials matched, if it presented any. */
  secretHash: string | undefined;
}

/**
 * Group commit for issued-token records. A token is handed out only once its record has committed,
 * in a transaction that holds the issuer's issuance lock shared and checks, under it, that the issuer
 * is not paused, that the token's kid is still the active key and that its client and secret are unchanged. While
 * one issuer's commit is in flight the next tokens wait and then commit together (see Batcher): one
 * statement per batch instead of a transaction per token, and no timer: a lone token waits only for the end of its event-loop turn.
 */
export class IssuanceRecorder {
  readonly #batchers = new Map<string, Batcher<Pending, RecordVerdict>>();

  constructor(private readonly pool: Pool, private readonly maxBatch = 512) {}

  record(token: IssuedToken, client: ClientRecord, secretHash?: string): Promise<RecordVerdict> {
    const issuer = token.issuer;
    let batcher = this.#batchers.get(issuer);
    if (!batcher) {
      const created = new Batcher<Pending, RecordVerdict>((batch) => this.#commit(issuer, batch), { maxBatch: this.maxBatch, onIdle: () => this.#batchers.delete(issuer) });
      this.#batchers.set(issuer, created);
      batcher = created;
    }
    return batcher.submit({ token, client, secretHash });
  }

  /** One round trip: record_issued_tokens (db/migrations/1700000002400_client-audiences.sql) locks, checks and inserts. */
  async #commit(issuer: string, batch: readonly Pending[]): Promise<RecordVerdict[]> {
    const tokens = batch.map((p) => p.token);
    const { rows } = await this.pool.query<{ verdicts: RecordVerdict[] }>(
      `SELECT record_issued_tokens($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) AS verdicts`,
      [
        issuer,
        tokens.map((t) => t.jti),
        tokens.map((t) => t.sub),
        tokens.map((t) => t.clientId ?? null),
        tokens.map((t) => t.kid),
        tokens.map((t) => t.exp),
        tokens.map((t) => t.iat),
        tokens.map((t) => t.policyVersion),
        batch.map((p) => p.client.scopes.join(' ')),
        batch.map((p) => p.client.tenant ?? null),
        batch.map((p) => p.secretHash ?? null),
        batch.map((p) => p.client.audiences?.join('\n') ?? null),
      ],
    );
    const verdicts = rows[0]?.verdicts;
    if (!Array.isArray(verdicts) || verdicts.length !== batch.length) {
      throw new KeyturnError('ISSUANCE_RECORD_FAILED', 'record_issued_tokens did not return one verdict per token', 'Restart keyturn so it applies its database migrations, then retry; the database function must match this version.');
    }
    return verdicts;
  }
}
