/**
 * At most `size` tasks run at once; the others wait their turn, first come first served. Used to
 * keep slow work that runs on libuv's thread pool (scrypt) from taking every pool thread. With
 * `maxWaiting`, a task that would wait behind that many others is refused at once (`whenFull`'s
 * error) and never runs: a flood gets a quick answer instead of a queue that only grows. A task
 * whose `signal` aborted while it waited is skipped when its turn comes (its caller has gone).
 */
export class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  readonly #whenFull: () => Error;
  readonly maxWaiting: number;

  constructor(readonly size: number, opts: { maxWaiting?: number; whenFull?: () => Error } = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('Slots size must be a positive integer');
    const maxWaiting = opts.maxWaiting ?? Number.POSITIVE_INFINITY;
    if (!(maxWaiting >= 0) || (Number.isFinite(maxWaiting) && !Number.isInteger(maxWaiting))) throw new RangeError('Slots maxWaiting must be a non-negative integer');
    this.#free = size;
    this.maxWaiting = maxWaiting;
    this.#whenFull = opts.whenFull ?? (() => new RangeError('every slot is taken and the waiting line is full'));
  }

  /** Tasks waiting for a slot now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#free > 0) this.#free--;
    else if (this.#waiting.length >= this.maxWaiting) throw this.#whenFull();
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      signal?.throwIfAborted();
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
