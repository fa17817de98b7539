import { KeyturnError } from '../../config/errors.js';

interface Waiting<In, Out> {
  item: In;
  resolve(v: Out): void;
  reject(e: unknown): void;
}

export interface BatcherOptions {
  /** Most items handed to one call. Default 256. */
  maxBatch?: number;
  /** Called each time the last call has settled and, at the end of that turn of the event loop, nothing waits. */
  onIdle?: () => void;
  /** Most items waiting for the next call; past it `submit` rejects at once with `busy()`. Default: no limit. */
  maxWaiting?: number;
  busy?: () => Error;
}

/**
 * Runs items in batches without a timer. Items submitted in one turn of the event loop run together,
 * at its end; while a call runs, later items wait and then run together in the next. After each call
 * the batcher lets one turn pass, so callers it just answered can submit again and join the next
 * call: with N callers in a loop, every call carries about N items instead of alternating between a
 * few and the rest. A lone item waits only for the end of its turn, and N concurrent ones cost one
 * call instead of N. Every item runs in a call that began after it was submitted.
 */
export class Batcher<In, Out> {
  #waiting: Waiting<In, Out>[] = [];
  #calling = false;
  #turnEnding = false;

  /** `run` answers one result per item, in order; if it throws, every item of that batch is rejected with it. */
  constructor(
    private readonly run: (items: readonly In[]) => Promise<readonly Out[]>,
    private readonly o: BatcherOptions = {},
  ) {}

  submit(item: In): Promise<Out> {
    if (this.o.maxWaiting !== undefined && this.#waiting.length >= this.o.maxWaiting) {
      return Promise.reject(this.o.busy?.() ?? new KeyturnError('BATCH_QUEUE_FULL', `${this.#waiting.length} items are already waiting`, 'Retry shortly.'));
    }
    return new Promise<Out>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#atEndOfTurn();
    });
  }

  get idle(): boolean {
    return !this.#calling && this.#waiting.length === 0 && !this.#turnEnding;
  }

  /** Once the event loop has run what is ready now: the next call starts, or, with nothing left, the batcher tells it is idle. */
  #atEndOfTurn(): void {
    if (this.#turnEnding) return;
    this.#turnEnding = true;
    setImmediate(() => {
      this.#turnEnding = false;
      if (this.#waiting.length > 0 && !this.#calling) void this.#call();
      if (this.idle) this.o.onIdle?.();
    });
  }

  async #call(): Promise<void> {
    const batch = this.#waiting.splice(0, this.o.maxBatch ?? 256);
    this.#calling = true;
    try {
      const results = await this.run(batch.map((w) => w.item));
      if (results.length !== batch.length) throw new KeyturnError('BATCH_RESULT_MISMATCH', `a batch of ${batch.length} got ${results.length} results`, 'This is a bug in keyturn; report it with the log line.');
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (e) {
      for (const w of batch) w.reject(e);
    } finally {
      this.#calling = false;
    }
    this.#atEndOfTurn();
  }
}
