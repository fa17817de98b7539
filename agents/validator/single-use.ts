import type { Queryable } from '../shared/db.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { TokenRejected } from './errors.js';
import type { SingleUseStore } from './types.js';

export interface SingleUseOptions {
  clock?: Clock;
  /** Keep a used jti this long past the last moment a validator accepts it (exp + its clock skew): a margin for other validators' clocks. Default 300. */
  retainSeconds?: number;
  /** Purge expired rows every this many uses. Default 1 000. */
  purgeEvery?: number;
}

/** Single use on PostgreSQL (`used_jtis`): the first INSERT wins, any later use of the jti is a replay. */
export class PgSingleUseStore implements SingleUseStore {
  private uses = 0;

  constructor(
    private readonly db: Queryable,
    private readonly o: SingleUseOptions = {},
  ) {}

  async consume(jti: string, expiresAt: Date): Promise<void> {
    const keepUntil = new Date(expiresAt.getTime() + (this.o.retainSeconds ?? 300) * 1000);
    const { rowCount } = await this.db.query(`INSERT INTO used_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`, [jti, keepUntil]);
    if (!rowCount) throw new TokenRejected('TOKEN_REPLAYED', 'single-use token presented again');
    if (++this.uses % (this.o.purgeEvery ?? 1_000) === 0) void this.purge().catch(() => {});
  }

  /** Deletes rows whose token can no longer be valid. */
  async purge(): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM used_jtis WHERE expires_at < $1`, [(this.o.clock ?? systemClock).now()]);
    return rowCount ?? 0;
  }
}

/** Single use in one process's memory: for tests and single-instance deployments. */
export class MemorySingleUseStore implements SingleUseStore {
  private readonly used = new Map<string, number>();

  constructor(private readonly clock: Clock = systemClock) {}

  async consume(jti: string, expiresAt: Date): Promise<void> {
    const now = this.clock.now().getTime();
    for (const [k, until] of this.used) if (until < now) this.used.delete(k);
    if (this.used.has(jti)) throw new TokenRejected('TOKEN_REPLAYED', 'single-use token presented again');
    this.used.set(jti, expiresAt.getTime() + 300_000);
  }
}
