import { inTransaction, type Pool } from '../../db/pool.js';
import type { ClientRecord } from './clients.js';
import { lockIssuanceShared } from './issuance-control.js';
import { recordIssuedMany, type IssuedToken } from './issued-tokens.js';

/**
 * What committing a signed token found: `recorded` (it may be handed out), or why it must not be:
 * the issuer is paused, its key is no longer the active one, or its client changed (disabled, other
 * scopes or tenant) since the token was built.
 */
export type RecordVerdict = 'recorded' | 'paused' | 'key-changed' | 'client-changed';

interface Pending {
  token: IssuedToken;
  /** The client record the token was built from. */
  client: ClientRecord;
  resolve(v: RecordVerdict): void;
  reject(e: unknown): void;
}

interface IssuerQueue {
  pending: Pending[];
  committing: boolean;
}

interface IssuanceState extends Record<string, unknown> {
  paused: boolean;
  active_kid: string | null;
  clients: Array<{ id: string; scopes: string[]; tenant: string | null; disabled: boolean }>;
}

/**
 * Group commit for issued-token records. A token is handed out only once its record has committed,
 * in a transaction that holds the issuer's issuance lock shared and checks, under it, that the issuer
 * is not paused, that the token's kid is still the active key and that its client is unchanged. While
 * one issuer's commit is in flight the next tokens wait and then commit together: one transaction per
 * batch instead of one per token, and no timer, so a lone token waits for nothing.
 */
export class IssuanceRecorder {
  readonly #queues = new Map<string, IssuerQueue>();

  constructor(private readonly pool: Pool, private readonly maxBatch = 512) {}

  record(token: IssuedToken, client: ClientRecord): Promise<RecordVerdict> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(token.issuer);
      if (!queue) {
        queue = { pending: [], committing: false };
        this.#queues.set(token.issuer, queue);
      }
      queue.pending.push({ token, client, resolve, reject });
      if (!queue.committing) void this.#drain(token.issuer, queue);
    });
  }

  async #drain(issuer: string, queue: IssuerQueue): Promise<void> {
    queue.committing = true;
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0, this.maxBatch);
      try {
        const verdicts = await this.#commit(issuer, batch);
        batch.forEach((p, i) => p.resolve(verdicts[i]!));
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
    queue.committing = false;
    this.#queues.delete(issuer);
  }

  #commit(issuer: string, batch: readonly Pending[]): Promise<RecordVerdict[]> {
    return inTransaction(this.pool, async (tx) => {
      await lockIssuanceShared(tx, issuer);
      const clientIds = [...new Set(batch.map((p) => p.client.clientId))];
      const { rows } = await tx.query<IssuanceState>(
        `SELECT EXISTS (SELECT 1 FROM issuance_pauses WHERE issuer = $1) AS paused,
                (SELECT kid FROM signing_keys WHERE issuer = $1 AND state = 'active') AS active_kid,
                (SELECT coalesce(json_agg(json_build_object('id', client_id, 'scopes', scopes, 'tenant', tenant, 'disabled', disabled)), '[]'::json)
                   FROM clients WHERE client_id = ANY($2::text[])) AS clients`,
        [issuer, clientIds],
      );
      const state = rows[0]!;
      if (state.paused) return batch.map(() => 'paused' as const);
      const current = new Map(state.clients.map((c) => [c.id, c]));
      const verdicts = batch.map((p): RecordVerdict => {
        if (p.token.kid !== state.active_kid) return 'key-changed';
        return unchanged(p.client, current.get(p.client.clientId)) ? 'recorded' : 'client-changed';
      });
      await recordIssuedMany(tx, batch.filter((_, i) => verdicts[i] === 'recorded').map((p) => p.token));
      return verdicts;
    });
  }
}

function unchanged(used: ClientRecord, now: IssuanceState['clients'][number] | undefined): boolean {
  return (
    now !== undefined &&
    !now.disabled &&
    (now.tenant ?? undefined) === used.tenant &&
    now.scopes.length === used.scopes.length &&
    now.scopes.every((s, i) => s === used.scopes[i])
  );
}
