import { Connection, type Client } from '@temporalio/client';
import { inject } from 'vitest';
import { createPool, type Pool } from '../../db/pool.js';
import { keyturnClient } from '../../infra/temporal/client.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { createKeyturnWorker, workflowBundle } from '../../workers/worker.js';

/** The shared PostgreSQL and Temporal of this test run, plus a real worker on a private task queue. */
export interface TestStack {
  pool: Pool;
  client: Client;
  taskQueue: string;
  stop(): Promise<void>;
}

export async function startTestStack(name: string): Promise<TestStack> {
  const pool = createPool(inject('databaseUrl'));
  const address = inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  const connection = await Connection.connect({ address });
  const payloadKeyring = loadPayloadKeyring();
  const client = keyturnClient(connection, namespace, payloadKeyring);
  const taskQueue = `test-${name}-${process.pid}-${Date.now()}`;
  const { worker, connection: workerConnection } = await createKeyturnWorker({
    temporalAddress: address,
    namespace,
    taskQueue,
    pool,
    payloadKeyring,
    workflowBundle: await workflowBundle(),
  });
  const running = worker.run();
  return {
    pool,
    client,
    taskQueue,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await workerConnection.close();
      await connection.close();
      await pool.end();
    },
  };
}
