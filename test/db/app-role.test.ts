import { describe, expect, it } from 'vitest';
import { testPool } from '../support/db.js';

describe('runtime database connections', () => {
  it('act as the least-privileged keyturn_app role from their first query', async () => {
    const pool = testPool();
    try {
      const res = await pool.query<{ role: string }>('SELECT current_user AS role');
      expect(res.rows[0]!.role).toBe('keyturn_app');
    } finally {
      await pool.end();
    }
  });
});
