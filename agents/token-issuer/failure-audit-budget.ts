export interface FailureAuditBudgetOptions {
  /** Failed authentications audited one by one per window. Default 100. */
  perWindow?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Distinct client labels, and distinct addresses, a summary names at most; the rest are only counted. Default 20. */
  maxClientsNamed?: number;
  now?: () => number;
}

/** What a window's failures past the budget were: counted, not audited one by one. */
export interface SuppressedFailures {
  count: number;
  from: string;
  to: string;
  byReason: Record<string, number>;
  clients: string[];
  /** Further distinct labels; across windows merged after a failed write, an upper bound. */
  moreClients: number;
  addresses: string[];
  /** Further distinct addresses; across merged windows, an upper bound. */
  moreAddresses: number;
}

/**
 * Bounds how many failed client authentications of one kind the append-only audit log takes one by
 * one: a flood from many addresses, each under the per-address limiter, would otherwise grow it
 * without limit. Past `perWindow` in a window they are only counted, by reason, client label and
 * address, and the count becomes one summary entry once the window has ended. In memory, per process.
 */
export class FailureAuditBudget {
  readonly #per: number;
  readonly #window: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  #start = 0;
  #audited = 0;
  #open: Tally | undefined;
  #closed: SuppressedFailures | undefined;

  constructor(opts: FailureAuditBudgetOptions = {}) {
    this.#per = opts.perWindow ?? 100;
    this.#window = opts.windowMs ?? 60_000;
    this.#maxClients = opts.maxClientsNamed ?? 20;
    this.#now = opts.now ?? Date.now;
    this.#start = this.#now();
  }

  /** True when this failure is to be audited on its own; false when it was only counted. */
  admit(reason: string, client: string | undefined, address?: string): boolean {
    this.#roll();
    if (this.#audited < this.#per) {
      this.#audited++;
      return true;
    }
    const t = (this.#open ??= { count: 0, byReason: {}, clients: new Set(), moreClients: 0, addresses: new Set(), moreAddresses: 0 });
    t.count++;
    t.byReason[reason] = (t.byReason[reason] ?? 0) + 1;
    if (client !== undefined && !t.clients.has(client)) {
      if (t.clients.size < this.#maxClients) t.clients.add(client);
      else t.moreClients++;
    }
    if (address !== undefined && !t.addresses.has(address)) {
      if (t.addresses.size < this.#maxClients) t.addresses.add(address);
      else t.moreAddresses++;
    }
    return false;
  }

  /** The suppressed failures of windows that have ended (with `includeOpen`, also the current one: at shutdown), once. */
  takeSummary(o: { includeOpen?: boolean } = {}): SuppressedFailures | undefined {
    this.#roll(o.includeOpen === true);
    const s = this.#closed;
    this.#closed = undefined;
    return s;
  }

  /** Nothing counted and nothing audited in the current window: dropping this budget loses nothing. */
  get idle(): boolean {
    this.#roll();
    return this.#audited === 0 && this.#open === undefined && this.#closed === undefined;
  }

  /** Puts back a summary that could not be written, so the next attempt carries it. */
  restore(s: SuppressedFailures): void {
    if (!this.#closed) {
      this.#closed = s;
      return;
    }
    const c = this.#closed;
    const byReason = { ...c.byReason };
    for (const [r, n] of Object.entries(s.byReason)) byReason[r] = (byReason[r] ?? 0) + n;
    const [older, newer] = s.from <= c.from ? [s, c] : [c, s];
    const clients = [...new Set([...older.clients, ...newer.clients])];
    const addresses = [...new Set([...older.addresses, ...newer.addresses])];
    this.#closed = {
      count: c.count + s.count,
      from: older.from,
      to: newer.to,
      byReason,
      clients: clients.slice(0, this.#maxClients),
      moreClients: c.moreClients + s.moreClients + Math.max(0, clients.length - this.#maxClients),
      addresses: addresses.slice(0, this.#maxClients),
      moreAddresses: c.moreAddresses + s.moreAddresses + Math.max(0, addresses.length - this.#maxClients),
    };
  }

  #roll(closeOpen = false): void {
    const now = this.#now();
    const ended = now >= this.#start + this.#window;
    if (this.#open && (ended || closeOpen)) {
      const t = this.#open;
      const to = ended ? this.#start + this.#window : now;
      this.restore({
        count: t.count,
        from: new Date(this.#start).toISOString(),
        to: new Date(to).toISOString(),
        byReason: t.byReason,
        clients: [...t.clients],
        moreClients: t.moreClients,
        addresses: [...t.addresses],
        moreAddresses: t.moreAddresses,
      });
      this.#open = undefined;
    }
    if (ended) {
      this.#start = now - ((now - this.#start) % this.#window);
      this.#audited = 0;
    }
  }
}

interface Tally {
  count: number;
  byReason: Record<string, number>;
  clients: Set<string>;
  moreClients: number;
  addresses: Set<string>;
  moreAddresses: number;
}

/** Whose failures a budget holds: the anonymous ones together, or one registered client's. */
export type BudgetBucket = { kind: 'anonymous' } | { kind: 'client'; clientId: string };

export interface AuditBudgetsOptions extends FailureAuditBudgetOptions {
  /** Failures against one registered client audited one by one per window. Default 20. */
  perClientWindow?: number;
}

/**
 * One budget for anonymous failures and one per registered client, so a flood against a known
 * client id (ids are in every token) is bounded too, and is summarised under that client's own
 * name instead of among the anonymous ones. Only registered ids get a budget of their own, so
 * their number bounds the memory; a client's budget is dropped once it holds nothing.
 */
export class AuditBudgets {
  readonly #opts: AuditBudgetsOptions;
  readonly #anonymous: FailureAuditBudget;
  readonly #clients = new Map<string, FailureAuditBudget>();

  constructor(opts: AuditBudgetsOptions = {}) {
    this.#opts = opts;
    this.#anonymous = new FailureAuditBudget(opts);
  }

  admit(bucket: BudgetBucket, reason: string, client: string | undefined, address?: string): boolean {
    return this.#budget(bucket).admit(reason, client, address);
  }

  takeSummaries(o: { includeOpen?: boolean } = {}): Array<{ bucket: BudgetBucket; summary: SuppressedFailures }> {
    const out: Array<{ bucket: BudgetBucket; summary: SuppressedFailures }> = [];
    const anonymous = this.#anonymous.takeSummary(o);
    if (anonymous) out.push({ bucket: { kind: 'anonymous' }, summary: anonymous });
    for (const [clientId, budget] of this.#clients) {
      const summary = budget.takeSummary(o);
      if (summary) out.push({ bucket: { kind: 'client', clientId }, summary });
      else if (budget.idle) this.#clients.delete(clientId);
    }
    return out;
  }

  restore(bucket: BudgetBucket, summary: SuppressedFailures): void {
    this.#budget(bucket).restore(summary);
  }

  #budget(bucket: BudgetBucket): FailureAuditBudget {
    if (bucket.kind === 'anonymous') return this.#anonymous;
    let b = this.#clients.get(bucket.clientId);
    if (!b) {
      b = new FailureAuditBudget({ ...this.#opts, perWindow: this.#opts.perClientWindow ?? 20 });
      this.#clients.set(bucket.clientId, b);
    }
    return b;
  }
}
