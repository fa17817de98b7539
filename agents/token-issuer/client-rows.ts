import { KeyturnError } from '../../config/errors.js';
import { Batcher } from '../shared/batcher.js';
import type { Queryable } from '../shared/db.js';

/** A row of the clients table, without its secret hash. */
export interface ClientRow extends Record<string, unknown> {
  client_id: string;
  scopes: string[];
  tenant: string | null;
  disabled: boolean;
  may_introspect: boolean;
  audiences: string[] | null;
  created_at: Date;
  secret_rotated_at: Date | null;
}
export const CLIENT_COLUMNS = 'client_id, scopes, tenant, disabled, may_introspect, audiences, created_at, secret_rotated_at';

/** A client's row as authentication reads it, secret hash included: never log it. */
export interface StoredClientRow extends ClientRow {
  secret_hash: string;
}

/**
 * Reads client rows for authentication, many requests to one query: while a read is in flight, the
 * ids asked for meanwhile wait and are then read together (see Batcher). Each answer still comes
 * from a read that began after it was asked for, so a disable or a secret rotation that committed
 * before a request arrived is seen by it, exactly as with a query per request.
 */
export class ClientRowReader {
  readonly #batcher: Batcher<string, StoredClientRow | undefined>;

  constructor(db: Queryable, o: { maxBatch?: number; maxWaiting?: number } = {}) {
    this.#batcher = new Batcher((ids) => readRows(db, ids), {
      maxBatch: o.maxBatch ?? 256,
      // Without a bound, a database slower than the request rate would queue requests without end.
      maxWaiting: o.maxWaiting ?? 4096,
      busy: () => new KeyturnError('CLIENT_READS_BUSY', 'too many client authentications are waiting for the database', 'Retry in a second; if it persists, check the database.'),
    });
  }

  read(clientId: string): Promise<StoredClientRow | undefined> {
    return this.#batcher.submit(clientId);
  }
}

async function readRows(db: Queryable, ids: readonly string[]): Promise<(StoredClientRow | undefined)[]> {
  const { rows } = await db.query<StoredClientRow>(`SELECT ${CLIENT_COLUMNS}, secret_hash FROM clients WHERE client_id = ANY($1::text[])`, [[...new Set(ids)]]);
  const byId = new Map(rows.map((r) => [r.client_id, r]));
  return ids.map((id) => byId.get(id));
}
