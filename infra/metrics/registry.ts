import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a scrape reads live: approvals waiting (and the oldest's age), and the audit checkpoint's age. */
export interface LiveReadings {
  pendingApprovals?: () => Promise<{ count: number; oldestAgeSeconds: number }>;
  lastCheckpointAgeSeconds?: () => Promise<number | undefined>;
}

export interface KeyturnMetrics {
  registry: Registry;
  tokensIssued: Counter<'client' | 'alg'>;
  validations: Counter<'outcome' | 'code'>;
  jwksRequests: Counter<'status'>;
  clientSecretScrypts: Counter;
  clientSecretChecksBusy: Counter;
  introspectionsRefused: Counter;
  revocations: Counter<'kind' | 'stage'>;
  rotationPhaseSeconds: Histogram<'phase'>;
  /** A label for a caller-chosen client id, from a bounded set. */
  clientLabel(clientId: string | undefined): string;
}

/** Client ids are caller-chosen strings: bound the label set so a flood of ids cannot blow up memory. */
const MAX_CLIENT_LABELS = 200;

export function createMetrics(live: LiveReadings = {}): KeyturnMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyturn_process_' });
  const pending = live.pendingApprovals ? () => live.pendingApprovals!().catch(() => undefined) : async () => undefined;
  new Gauge({
    name: 'keyturn_approvals_pending', help: 'Runs waiting for sign-off', registers: [registry],
    async collect() {
      const p = await pending();
      if (p) this.set(p.count);
    },
  });
  new Gauge({
    name: 'keyturn_approvals_pending_oldest_age_seconds', help: 'Age of the oldest run waiting for sign-off', registers: [registry],
    async collect() {
      const p = await pending();
      if (p) this.set(p.oldestAgeSeconds);
    },
  });
  new Gauge({
    name: 'keyturn_audit_checkpoint_age_seconds', help: 'Seconds since the last signed audit checkpoint', registers: [registry],
    async collect() {
      const age = await live.lastCheckpointAgeSeconds?.().catch(() => undefined);
      if (age !== undefined) this.set(age);
    },
  });
  const seen = new Set<string>();
  return {
    registry,
    tokensIssued: new Counter({ name: 'keyturn_tokens_issued_total', help: 'Access tokens issued, by client and algorithm', labelNames: ['client', 'alg'], registers: [registry] }),
    validations: new Counter({ name: 'keyturn_validations_total', help: 'Token validations, by outcome and rejection code', labelNames: ['outcome', 'code'], registers: [registry] }),
    jwksRequests: new Counter({ name: 'keyturn_jwks_requests_total', help: 'JWKS requests, by HTTP status (304 = If-None-Match hit)', labelNames: ['status'], registers: [registry] }),
    clientSecretScrypts: new Counter({ name: 'keyturn_client_secret_scrypt_total', help: 'Client secrets checked with scrypt rather than from remembered credentials: a surge means guessing or many new clients', registers: [registry] }),
    clientSecretChecksBusy: new Counter({ name: 'keyturn_client_secret_checks_busy_total', help: 'Client authentications answered 503 because too many secret checks were waiting: a flood of guesses or of new clients', registers: [registry] }),
    introspectionsRefused: new Counter({ name: 'keyturn_introspections_refused_total', help: 'Introspections answered inactive because the authenticated client may not introspect that token (another client\'s, without a grant): each is audited as token.introspect', registers: [registry] }),
    revocations: new Counter({ name: 'keyturn_revocations_total', help: 'Revocations, by kind (kid, jti, sub) and stage (contained, confirmed, lifted)', labelNames: ['kind', 'stage'], registers: [registry] }),
    rotationPhaseSeconds: new Histogram({ name: 'keyturn_rotation_phase_seconds', help: 'Time a rotation spent in each phase', labelNames: ['phase'], buckets: [0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600, 86400], registers: [registry] }),
    clientLabel(clientId) {
      if (!clientId) return 'none';
      if (seen.has(clientId)) return clientId;
      if (seen.size >= MAX_CLIENT_LABELS) return 'other';
      seen.add(clientId);
      return clientId;
    },
  };
}

/** Seconds since the newest audit checkpoint; undefined when none was ever written. */
export async function lastCheckpointAgeSeconds(db: { query: (sql: string) => Promise<{ rows: Array<{ age: number | null }> }> }): Promise<number | undefined> {
  const { rows } = await db.query('SELECT EXTRACT(EPOCH FROM now() - max(at))::float8 AS age FROM audit_checkpoints');
  return rows[0]?.age ?? undefined;
}
