import { KeyturnError } from '../../config/errors.js';

interface Waiting<In, Out> {
  item: In;
  resolve(v: Out): void;
  reject(e: unknown): void;
}

export interface BatcherOptions {
  /** Most items handed to one call. Default 256. */
  maxBatch?: number;
  /** Called each time the last batch settles and nothing waits. */
  onIdle?: () => void;
  /** Most items waiting for the next call; past it `submit` rejects at once with `busy()`. Default: no limit. */
  maxWaiting?: number;
  busy?: () => Error;
}

/**
 * Runs items in batches without a timer: the first item runs at once; while a batch runs, later
 * items wait and then run together. A lone item waits for nothing, and N concurrent ones cost one
 * call instead of N. Every item runs in a call that began after it was submitted.
 */
export class Batcher<In, Out> {
  #waiting: Waiting<In, Out>[] = [];
  #running = false;

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
      if (!this.#running) void this.#drain();
    });
  }

  get idle(): boolean {
    return !this.#running && this.#waiting.length === 0;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.o.maxBatch ?? 256);
      try {
        const results = await this.run(batch.map((w) => w.item));
        if (results.length !== batch.length) throw new KeyturnError('BATCH_RESULT_MISMATCH', `a batch of ${batch.length} got ${results.length} results`, 'This is a bug in keyturn; report it with the log line.');
        batch.forEach((w, i) => w.resolve(results[i]!));
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.#running = false;
    this.o.onIdle?.();
  }
}
