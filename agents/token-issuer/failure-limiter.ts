export interface FailureLimiterOptions {
  /** Failures allowed per key within the window. Default 10. */
  maxFailures?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Keys remembered at most; the oldest are forgotten first. Default 10 000. */
  maxKeys?: number;
  now?: () => number;
}

/** A check in progress, counted towards its keys' limit until released. */
export interface HeldCheck {
  release(): void;
}

/**
 * Sliding-window count of authentication failures per key (a client id, an address). A key with
 * `maxFailures` failures in the last `windowMs` is blocked until the oldest of them leaves the window.
 * Checks still in progress ({@link hold}) count too, so a burst that arrives before any of its
 * failures is recorded gets no more checks than the limit. In memory, per process.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #window: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #failures = new Map<string, number[]>();
  readonly #inProgress = new Map<string, number>();

  constructor(opts: FailureLimiterOptions = {}) {
    this.#max = opts.maxFailures ?? 10;
    this.#window = opts.windowMs ?? 60_000;
    this.#maxKeys = opts.maxKeys ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  #recent(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const kept = times.filter((t) => t > now - this.#window);
    if (kept.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, kept);
    return kept;
  }

  /** Seconds until the first key may try again, or 0 when none is blocked (1 while checks in progress fill its limit). */
  retryAfter(keys: string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const recent = this.#recent(key, now);
      if (recent.length >= this.#max) wait = Math.max(wait, Math.ceil((recent[recent.length - this.#max]! + this.#window - now) / 1000));
      else if (recent.length + (this.#inProgress.get(key) ?? 0) >= this.#max) wait = Math.max(wait, 1);
    }
    return wait;
  }

  /** Counts a check towards `keys`' limit until it is released; record its failure with {@link fail}. */
  hold(keys: string[]): HeldCheck {
    for (const key of keys) this.#inProgress.set(key, (this.#inProgress.get(key) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const key of keys) {
          const n = (this.#inProgress.get(key) ?? 1) - 1;
          if (n > 0) this.#inProgress.set(key, n);
          else this.#inProgress.delete(key);
        }
      },
    };
  }

  fail(keys: string[]): void {
    const now = this.#now();
    for (const key of keys) {
      const recent = this.#recent(key, now);
      recent.push(now);
      // Only the last `max` matter for blocking; the map is re-inserted so the oldest keys come first.
      this.#failures.delete(key);
      this.#failures.set(key, recent.slice(-this.#max));
    }
    while (this.#failures.size > this.#maxKeys) this.#failures.delete(this.#failures.keys().next().value!);
  }
}
