import { KeyturnError } from '../../config/errors.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { ListenerClient } from '../validator/revocation-cache.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { parsePolicy, policyVersion as versionOf } from './policy.js';
import type { Policy } from './policy-types.js';

/**
 * The policy history in PostgreSQL (db/migrations/1700000000800_policy-versions.sql): every document
 * that was ever in force, who approved it and why. Append-only: activating a version is an INSERT
 * into policy_activations, announced on {@link POLICY_CHANNEL} by a trigger in the same transaction.
 * The newest activation is the policy in force. The file on disk is only a proposal once a version
 * is stored: it becomes the policy through {@link storeAndActivate} (after sign-off) or, the very
 * first time, {@link bootstrapPolicy}.
 */

export { pgListener, type ListenerClient } from '../validator/revocation-cache.js';

/** NOTIFY channel of activations; the payload is `{"seq": "<n>", "version": "<sha256>"}`, a hint only. */
export const POLICY_CHANNEL = 'keyturn_policy';

/** pg_advisory_xact_lock key serialising bootstrap and activation (the table constraints back it up). */
export const POLICY_ACTIVATE_LOCK = 7_201_604_240_008n;

export interface PolicyActivation {
  /** Position in the history; the highest is the policy in force. */
  seq: number;
  version: string;
  /** The version this activation replaced; absent for the bootstrap. */
  previousVersion?: string;
  bootstrap: boolean;
  /** Who signed the change off (empty for the bootstrap). */
  approvedBy: string[];
  reason: string;
  requestedBy: string;
  /** ISO-8601 (UTC, ms). */
  activatedAt: string;
}

/** The policy in force: the parsed policy, its exact document, and the activation that put it in force. */
export interface ActivePolicy {
  policy: Policy;
  text: string;
  activation: PolicyActivation;
}

export interface PolicyHistoryEntry extends PolicyActivation {
  status: 'active' | 'superseded';
}

export interface StoredPolicyVersion {
  version: string;
  text: string;
  /** ISO-8601: when the document was first stored. */
  storedAt: string;
  /** Approvers of its most recent activation (empty if that was the bootstrap). */
  approvedBy: string[];
  /** Every activation of this document, newest first (more than one if it was re-activated). */
  activations: PolicyActivation[];
  active: boolean;
}

export interface ActivateRequest {
  /** The complete new policy document (exact bytes as text; its sha256 is the version). */
  text: string;
  /** Who signed the change off, e.g. Slack user ids or cli:<name>; at least one. */
  approvers: string[];
  reason: string;
  /** Who proposed it, e.g. `cli:alice`. */
  requester: string;
  /**
   * The version the change was reviewed and approved against. If another activation happened since,
   * the change is refused (POLICY_ACTIVE_CHANGED) rather than silently overwriting it.
   */
  expectedActive?: string;
  /**
   * Idempotency key, e.g. the workflow id: a repeat with the same id returns the first activation
   * instead of failing, so a retried activity is harmless.
   */
  requestId?: string;
  /** Recorded on the audit entry. Default `{ role: 'Planner' }`. */
  actor?: AuditActor;
}

export interface FileComparison {
  differs: boolean;
  fileVersion: string;
  /** Absent when nothing has been stored yet. */
  activeVersion?: string;
}

interface ActivationRow extends Record<string, unknown> {
  seq: string;
  version: string;
  previous_version: string | null;
  bootstrap: boolean;
  approved_by: string[];
  reason: string;
  requested_by: string;
  activated_at: string;
}

const ISO = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const ACTIVATION_SELECT = `SELECT a.seq::text AS seq, a.version, p.version AS previous_version, a.bootstrap, a.approved_by,
         a.reason, a.requested_by, ${ISO('a.activated_at')} AS activated_at
    FROM policy_activations a
    LEFT JOIN policy_activations p ON p.seq = a.previous_seq`;

function toActivation(r: ActivationRow): PolicyActivation {
  return {
    seq: Number(r.seq),
    version: r.version,
    ...(r.previous_version !== null ? { previousVersion: r.previous_version } : {}),
    bootstrap: r.bootstrap,
    approvedBy: r.approved_by,
    reason: r.reason,
    requestedBy: r.requested_by,
    activatedAt: r.activated_at,
  };
}

/** The newest activation, or undefined before the bootstrap. */
async function headActivation(db: Queryable): Promise<PolicyActivation | undefined> {
  const { rows } = await db.query<ActivationRow>(`${ACTIVATION_SELECT} ORDER BY a.seq DESC LIMIT 1`);
  return rows[0] ? toActivation(rows[0]) : undefined;
}

async function documentOf(db: Queryable, version: string): Promise<string> {
  const { rows } = await db.query<{ document: string }>('SELECT document FROM policy_versions WHERE version = $1', [version]);
  if (!rows[0]) throw new KeyturnError('POLICY_VERSION_NOT_FOUND', `no stored policy version ${version}`, 'See `keyturn policy history` for the stored versions.', { version });
  return rows[0].document;
}

/** The policy in force, parsed; undefined when no version has been stored yet (bootstrap first). */
export async function activePolicy(db: Queryable): Promise<ActivePolicy | undefined> {
  const activation = await headActivation(db);
  if (!activation) return undefined;
  const text = await documentOf(db, activation.version);
  return { policy: parsePolicy(text), text, activation };
}

/** The stored document of `version` (exact), parsed. */
export async function loadStoredPolicy(db: Queryable, version: string): Promise<Policy> {
  return parsePolicy(await documentOf(db, version));
}

/**
 * Stores `text` as the first policy, in force at once without sign-off: only while no version has
 * ever been stored (POLICY_ALREADY_BOOTSTRAPPED otherwise; later changes need storeAndActivate).
 * Records `policy.bootstrapped` in the audit log in the same transaction.
 */
export async function bootstrapPolicy(db: Queryable, text: string, appendAudit: AppendAudit, actor: AuditActor): Promise<ActivePolicy> {
  const policy = parsePolicy(text);
  const requester = describeActor(actor);
  return withTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [POLICY_ACTIVATE_LOCK.toString()]);
    const head = await headActivation(tx);
    if (head) {
      throw new KeyturnError(
        'POLICY_ALREADY_BOOTSTRAPPED',
        `a policy is already stored (version ${head.version.slice(0, 12)} in force); bootstrap happens once`,
        'Propose the change instead (`keyturn policy propose`); it is activated after sign-off.',
        { activeVersion: head.version },
      );
    }
    await insertVersion(tx, text, policy);
    const { rows } = await tx.query<{ seq: string }>(
      `INSERT INTO policy_activations (version, previous_seq, approved_by, reason, requested_by) VALUES ($1, NULL, '{}', $2, $3) RETURNING seq::text AS seq`,
      [policy.version, 'bootstrap: the policy document as found when none was stored', requester],
    );
    await appendAudit(tx, {
      actor,
      action: 'policy.bootstrapped',
      subject: { policyVersion: policy.version },
      policyVersion: policy.version,
      outcome: 'ok',
      details: { seq: Number(rows[0]!.seq), issuers: policy.issuers.map((p) => p.issuer) },
    });
    const activation = (await headActivation(tx))!;
    return { policy, text, activation };
  });
}

/**
 * Stores `text` (if new) and puts it in force, in one transaction with its `policy.activated` audit
 * entry; the database announces it on keyturn_policy when that transaction commits. Refuses an
 * invalid document (POLICY_INVALID), a change without approvers or reason (POLICY_CHANGE_INVALID),
 * before any bootstrap (POLICY_NOT_BOOTSTRAPPED), a change to the version already in force
 * (POLICY_UNCHANGED), and one approved against a version no longer in force (POLICY_ACTIVE_CHANGED).
 * The caller checks sign-off and safety (./policy-safety.ts) first.
 */
export async function storeAndActivate(db: Queryable, req: ActivateRequest, appendAudit: AppendAudit): Promise<ActivePolicy> {
  const policy = parsePolicy(req.text);
  const approvers = [...new Set(req.approvers.map((a) => a.trim()).filter((a) => a.length > 0))];
  if (approvers.length === 0) throw new KeyturnError('POLICY_CHANGE_INVALID', 'a policy change needs at least one approver', 'Activate it only after sign-off, passing who approved it.');
  if (!req.reason.trim()) throw new KeyturnError('POLICY_CHANGE_INVALID', 'a policy change needs a reason', 'Say why the policy is changing.');
  if (!req.requester.trim()) throw new KeyturnError('POLICY_CHANGE_INVALID', 'a policy change needs a requester', 'Pass who proposed the change, e.g. cli:<name>.');
  return withTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [POLICY_ACTIVATE_LOCK.toString()]);
    if (req.requestId !== undefined) {
      const { rows } = await tx.query<ActivationRow>(`${ACTIVATION_SELECT} WHERE a.request_id = $1`, [req.requestId]);
      if (rows[0]) {
        const activation = toActivation(rows[0]);
        if (activation.version !== policy.version) {
          throw new KeyturnError('POLICY_REQUEST_REUSED', `request id ${req.requestId} already activated a different version (${activation.version.slice(0, 12)})`, 'Use a new request id for a new change.', { requestId: req.requestId });
        }
        return { policy, text: req.text, activation };
      }
    }
    const head = await headActivation(tx);
    if (!head) throw new KeyturnError('POLICY_NOT_BOOTSTRAPPED', 'no policy is stored yet', 'Start keyturn once so it bootstraps from policy.md, then propose changes.');
    if (req.expectedActive !== undefined && head.version !== req.expectedActive) {
      throw new KeyturnError(
        'POLICY_ACTIVE_CHANGED',
        `the change was approved against version ${req.expectedActive.slice(0, 12)}, but ${head.version.slice(0, 12)} is now in force`,
        'Propose the change again against the policy in force, so approvers see the real difference.',
        { expectedActive: req.expectedActive, activeVersion: head.version },
      );
    }
    if (head.version === policy.version) {
      throw new KeyturnError('POLICY_UNCHANGED', `version ${policy.version.slice(0, 12)} is already in force`, 'Nothing to activate.', { version: policy.version });
    }
    await insertVersion(tx, req.text, policy);
    const { rows } = await tx.query<{ seq: string }>(
      `INSERT INTO policy_activations (version, previous_seq, approved_by, reason, requested_by, request_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq::text AS seq`,
      [policy.version, head.seq, approvers, req.reason, req.requester, req.requestId ?? null],
    );
    const seq = Number(rows[0]!.seq);
    await appendAudit(tx, {
      actor: req.actor ?? { role: 'Planner' },
      action: 'policy.activated',
      subject: { policyVersion: policy.version },
      policyVersion: policy.version,
      outcome: 'ok',
      details: { seq, previousVersion: head.version, approvedBy: approvers, reason: req.reason, requestedBy: req.requester, ...(req.requestId !== undefined ? { requestId: req.requestId } : {}) },
    });
    const { rows: mine } = await tx.query<ActivationRow>(`${ACTIVATION_SELECT} WHERE a.seq = $1`, [seq]);
    return { policy, text: req.text, activation: toActivation(mine[0]!) };
  });
}

/** Every activation, newest first (the first is the one in force). */
export async function policyHistory(db: Queryable, opts: { limit?: number } = {}): Promise<PolicyHistoryEntry[]> {
  const limit = opts.limit ?? 1000;
  const { rows } = await db.query<ActivationRow>(`${ACTIVATION_SELECT} ORDER BY a.seq DESC LIMIT $1`, [limit]);
  return rows.map((r, i) => ({ ...toActivation(r), status: i === 0 ? 'active' : 'superseded' }));
}

/**
 * A stored version by its hash or a prefix of it (at least 4 hex digits), with its exact document and
 * who approved it; undefined if none matches. POLICY_VERSION_AMBIGUOUS if the prefix matches several.
 */
export async function findPolicyVersion(db: Queryable, versionPrefix: string): Promise<StoredPolicyVersion | undefined> {
  const prefix = versionPrefix.trim().toLowerCase();
  if (!/^[0-9a-f]{4,64}$/.test(prefix)) {
    throw new KeyturnError('POLICY_VERSION_INVALID', `${JSON.stringify(versionPrefix)} is not a policy version`, 'Give the sha256 (hex) of a policy, or at least its first 4 digits.');
  }
  const { rows } = await db.query<{ version: string; document: string; stored_at: string }>(
    `SELECT version, document, ${ISO('created_at')} AS stored_at FROM policy_versions WHERE left(version, $2) = $1 ORDER BY seq LIMIT 11`,
    [prefix, prefix.length],
  );
  if (rows.length === 0) return undefined;
  if (rows.length > 1) {
    throw new KeyturnError('POLICY_VERSION_AMBIGUOUS', `${prefix} matches ${rows.length > 10 ? 'more than 10' : rows.length} stored versions`, 'Give more digits of the version.', {
      candidates: rows.slice(0, 10).map((r) => r.version),
    });
  }
  const v = rows[0]!;
  const { rows: acts } = await db.query<ActivationRow>(`${ACTIVATION_SELECT} WHERE a.version = $1 ORDER BY a.seq DESC`, [v.version]);
  const head = await headActivation(db);
  const activations = acts.map(toActivation);
  return { version: v.version, text: v.document, storedAt: v.stored_at, approvedBy: activations[0]?.approvedBy ?? [], activations, active: head?.version === v.version };
}

/** Whether a policy file's bytes (as text) differ from the version in force: a pending proposal. */
export async function fileDiffersFromActive(db: Queryable, fileText: string): Promise<FileComparison> {
  const fileVersion = versionOf(fileText);
  const head = await headActivation(db);
  if (!head) return { differs: true, fileVersion };
  return { differs: head.version !== fileVersion, fileVersion, activeVersion: head.version };
}

/**
 * For each issuer, the latest `exp` among tokens issued for it that are still unexpired at `now`:
 * the `issuedTokens` input of refuseUnsafeChange (./policy-safety.ts).
 */
export async function liveTokenHorizons(db: Queryable, now: Date): Promise<Array<{ issuer: string; maxExp: Date }>> {
  const { rows } = await db.query<{ issuer: string; max_exp: Date }>('SELECT issuer, max(exp) AS max_exp FROM issued_tokens WHERE exp > $1 GROUP BY issuer ORDER BY issuer', [now]);
  return rows.map((r) => ({ issuer: r.issuer, maxExp: r.max_exp }));
}

async function insertVersion(tx: Queryable, text: string, policy: Policy): Promise<void> {
  await tx.query('INSERT INTO policy_versions (version, document, summary) VALUES ($1, $2, $3::jsonb) ON CONFLICT (version) DO NOTHING', [
    policy.version,
    text,
    JSON.stringify({ issuers: policy.issuers }),
  ]);
}

function describeActor(actor: AuditActor): string {
  const who = actor.cliUser ? `cli:${actor.cliUser}` : actor.slackUser ? `slack:${actor.slackUser}` : actor.workflowId ? `workflow:${actor.workflowId}` : undefined;
  return (who ? `${actor.role} ${who}` : actor.role).slice(0, 256);
}

export interface PolicyWatcherOptions {
  /** Where the policy is read from (a pool acting as keyturn_app). */
  db: Queryable;
  /** Opens the dedicated LISTEN connection, e.g. `pgListener(databaseUrl, 'keyturn-policy')`. */
  connectListener: () => Promise<ListenerClient>;
  /** Full re-read period, healing missed notifications. Default 60 000. */
  resyncIntervalMs?: number;
  /** First reconnect delay after the LISTEN connection drops (doubling, up to 30 s). Default 1 000. */
  reconnectDelayMs?: number;
  /** Called after a newer activation has been loaded (not for the first load). */
  onChange?: (next: ActivePolicy, previous: ActivePolicy) => void;
  /** Background failures (reload, reconnect, a stored document this build refuses), for logs. */
  onError?: (e: unknown) => void;
}

/**
 * The policy in force, held in memory for a long-running process. Loads the newest activation,
 * LISTENs on keyturn_policy for new ones (a notice only triggers a re-read), re-reads periodically
 * in case a notice was missed, and reconnects with backoff. Every version it has held stays
 * retrievable with {@link version}, so a run that started under an older policy can keep it.
 */
export class PolicyWatcher {
  private active: ActivePolicy | undefined;
  private readonly seen = new Map<string, Policy>();
  /** Reloads run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private listener: ListenerClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private closed = false;

  constructor(private readonly o: PolicyWatcherOptions) {
    this.reconnectDelay = o.reconnectDelayMs ?? 1_000;
  }

  /**
   * LISTENs, loads the policy in force and starts the resync loop. Rejects (and stops) if the first
   * load fails, e.g. POLICY_NOT_BOOTSTRAPPED when nothing is stored yet: bootstrap first. A LISTEN
   * connection that cannot be opened is retried in the background; resync covers the gap.
   */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (e) {
      this.o.onError?.(e);
      this.scheduleReconnect();
    }
    try {
      await this.refresh();
      if (!this.active) throw new KeyturnError('POLICY_NOT_BOOTSTRAPPED', 'no policy is stored yet', 'Bootstrap the policy (bootstrapPolicy) before starting the watcher.');
    } catch (e) {
      await this.close();
      throw e;
    }
    this.timer = setInterval(() => void this.refresh().catch((e: unknown) => this.o.onError?.(e)), this.o.resyncIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** The policy in force, as last loaded. POLICY_NOT_LOADED before start() has succeeded. */
  current(): Policy {
    return this.currentActive().policy;
  }

  /** The policy in force with its document and activation record. */
  currentActive(): ActivePolicy {
    if (!this.active) throw new KeyturnError('POLICY_NOT_LOADED', 'the policy watcher has not loaded a policy yet', 'Await PolicyWatcher.start() first.');
    return this.active;
  }

  /** A version this watcher has held (in force now or earlier), or undefined. */
  version(policyVersion: string): Policy | undefined {
    return this.seen.get(policyVersion);
  }

  /** A version it has held, else read from the store (and kept): for runs older than this process. */
  async resolve(policyVersion: string): Promise<Policy> {
    const known = this.seen.get(policyVersion);
    if (known) return known;
    const policy = await loadStoredPolicy(this.o.db, policyVersion);
    this.seen.set(policyVersion, policy);
    return policy;
  }

  /** Re-reads the newest activation now; resolves once it is applied. */
  refresh(): Promise<void> {
    const run = this.chain.then(async () => {
      const head = await headActivation(this.o.db);
      if (!head || (this.active && head.seq <= this.active.activation.seq)) return;
      const text = await documentOf(this.o.db, head.version);
      const policy = this.seen.get(head.version) ?? parsePolicy(text);
      this.seen.set(head.version, policy);
      const previous = this.active;
      this.active = { policy, text, activation: head };
      if (previous) this.o.onChange?.(this.active, previous);
    });
    this.chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      l.removeAllListeners('notification');
      await l.end().catch(() => {});
    }
    await this.chain.catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = await this.o.connectListener();
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    const lost = (e?: unknown) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      if (e) this.o.onError?.(e);
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === POLICY_CHANNEL) void this.refresh().catch((e: unknown) => this.o.onError?.(e));
    });
    try {
      await client.query(`LISTEN ${POLICY_CHANNEL}`);
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    this.listener = client;
    this.reconnectDelay = this.o.reconnectDelayMs ?? 1_000;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, 30_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect()
        // Notices sent while disconnected are lost: re-read.
        .then(() => this.refresh())
        .catch((e: unknown) => {
          this.o.onError?.(e);
          if (!this.listener) this.scheduleReconnect();
        });
    }, delay);
    this.reconnectTimer.unref();
  }
}
