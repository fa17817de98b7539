import type { Pool } from '../db/pool.js';

export interface DoctorDeps {
  pool: Pool;
}

/** The self-check's one activity: proves a worker can reach PostgreSQL on behalf of a workflow. */
export function createDoctorActivities({ pool }: DoctorDeps) {
  return {
    async recordProbe(input: { workflowId: string; message: string }): Promise<{ id: string }> {
      const res = await pool.query<{ id: string }>(
        `INSERT INTO probe_runs (workflow_id, message) VALUES ($1, $2)
         ON CONFLICT (workflow_id) DO UPDATE SET message = EXCLUDED.message
         RETURNING id::text`,
        [input.workflowId, input.message],
      );
      return { id: res.rows[0]!.id };
    },
  };
}

export type DoctorActivities = ReturnType<typeof createDoctorActivities>;
