import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createDoctorActivities } from '../activities/doctor.js';
import type { Pool } from '../db/pool.js';
import { installTemporalRuntime } from './runtime.js';

export const WORKFLOWS_PATH = join(dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

export interface WorkerDeps {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  /** A pre-built bundle saves the few seconds of bundling when many workers start (tests). */
  workflowBundle?: WorkflowBundleWithSourceMap;
}

let cachedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles keyturn's workflows once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  cachedBundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return cachedBundle;
}

const quietBundlerLogger = {
  log: () => {}, trace: () => {}, debug: () => {}, info: () => {},
  warn: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
  error: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
};

export function buildActivities(deps: WorkerDeps) {
  return {
    ...createDoctorActivities({ pool: deps.pool }),
  };
}

export async function createKeyturnWorker(deps: WorkerDeps): Promise<{ worker: Worker; connection: NativeConnection }> {
  installTemporalRuntime();
  const connection = await NativeConnection.connect({ address: deps.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    workflowBundle: deps.workflowBundle ?? (await workflowBundle()),
    activities: buildActivities(deps),
  });
  return { worker, connection };
}
