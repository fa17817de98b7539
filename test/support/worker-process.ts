import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { stopChild } from '../../infra/process.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from './rotation-stack.js';

/**
 * A stack on a database of its own with no worker in this process, for a test that runs the real
 * `workers/main.ts` (logging in as production does). The worker, the stack and the database are
 * stopped after the file's tests.
 */
export function workerProcessStack(name: string) {
  let db: PolicyDb | undefined;
  let stack: RotationStack | undefined;
  let worker: ChildProcess | undefined;
  afterAll(async () => {
    if (worker) await stopChild(worker, 5_000);
    await stack?.stop();
    await db?.drop();
  });
  return {
    async start(): Promise<{ db: PolicyDb; stack: RotationStack; env: NodeJS.ProcessEnv }> {
      db = await policyDatabase();
      stack = await startRotationStack({ name, databaseUrl: db.url, policyFromStore: true, noWorker: true });
      return { db, stack, env: stack.workerProcessEnv() };
    },
    /** `onLog` receives the worker's stdout (its JSON log lines); without it the output is dropped. */
    spawnWorker(env: NodeJS.ProcessEnv, onLog?: (chunk: string) => void): ChildProcess {
      worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env, stdio: ['ignore', onLog ? 'pipe' : 'ignore', 'ignore'] });
      if (onLog) worker.stdout!.setEncoding('utf8').on('data', onLog);
      return worker;
    },
    async stopWorker(timeoutMs: number): Promise<void> {
      if (worker) await stopChild(worker, timeoutMs);
      worker = undefined;
    },
  };
}
