import { inject } from 'vitest';
import { createPool, type Pool } from '../../db/pool.js';

/** A pool on the run's shared PostgreSQL, acting as keyturn_app like the real processes. */
export function testPool(): Pool {
  return createPool(inject('databaseUrl'), { max: 5 });
}

/** A pool with the login (superuser) role: only for tests that play an attacker or an admin. */
export function superuserPool(): Pool {
  return createPool(inject('databaseUrl'), { max: 2, appRole: false });
}

/** A name unique to this test run, for issuers, clients and queues that must not collide across files. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
