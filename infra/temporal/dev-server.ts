import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { isKeyturnError, KeyturnError } from '../../config/errors.js';
import { freePort } from '../net.js';
import { envForOtherPrograms, stopChild } from '../process.js';
import { ensureTemporalCli, type Say } from './cli.js';
import { KEYTURN_SEARCH_ATTRIBUTES } from './search-attributes.js';

export interface DevServerOptions {
  /** SQLite file for a persistent server; in-memory when omitted. */
  dbFilename?: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  say?: Say;
  /** Extra `--dynamic-config-value` / flags, for example the UI's codec endpoint. */
  extraArgs?: string[];
  /** Where ports not given come from: a port free a moment ago. */
  pickPort?: () => Promise<number>;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  pid: number;
  stop(): Promise<void>;
}

const QUEUE_READS_PER_SECOND = 1000;

/** Attempts when a port picked free was taken before the server bound it. */
const PORT_ATTEMPTS = 3;

/** Starts `temporal server start-dev` with keyturn's search attributes and waits until it answers. */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const cli = await ensureTemporalCli(say);
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(cli, opts);
    } catch (e) {
      // Ports are picked free a moment before the server binds them, and any process's outgoing
      // connection can take one in between: pick again.
      if (attempt < PORT_ATTEMPTS && isKeyturnError(e, 'TEMPORAL_START_FAILED') && e.message.includes('address already in use')) {
        say(`[keyturn] a port was taken while the Temporal dev server started; trying other ports (${attempt + 1}/${PORT_ATTEMPTS})`);
        continue;
      }
      throw e;
    }
  }
}

async function launch(cli: string, opts: DevServerOptions): Promise<DevServer> {
  const pick = opts.pickPort ?? freePort;
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await pick());
  const uiPort = opts.uiPort ?? (await pick());
  const namespace = opts.namespace ?? 'default';
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--http-port', String(await pick()),
    '--metrics-port', String(await pick()),
    '--namespace', namespace,
    '--log-level', 'error',
    // An activity scheduled on the worker's own task queue starts in the same round trip as the
    // workflow task that scheduled it, instead of going through matching: every handoff is faster.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    // The history service reads its transfer and timer queues at most 20 times a second per shard
    // by default, and the dev server has one shard: a workflow task created within 50 ms of the
    // previous read waited for the next one. Reads are cheap against the in-process SQLite.
    '--dynamic-config-value', `history.transferProcessorMaxPollRPS=${QUEUE_READS_PER_SECOND}`,
    '--dynamic-config-value', `history.timerProcessorMaxPollRPS=${QUEUE_READS_PER_SECOND}`,
    ...Object.entries(KEYTURN_SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ...(opts.dbFilename ? ['--db-filename', opts.dbFilename] : []),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false, env: envForOtherPrograms() });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const address = `${ip}:${port}`;
  try {
    await waitUntilHealthy(address, child, () => output);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return {
    address,
    uiUrl: `http://${ip}:${uiPort}`,
    namespace,
    pid: child.pid ?? -1,
    stop: () => stopChild(child),
  };
}

async function waitUntilHealthy(address: string, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new KeyturnError('TEMPORAL_START_FAILED', `temporal server exited with ${child.exitCode}: ${output().trim().split('\n').slice(-3).join(' | ')}`, 'Is the port already in use? Set KEYTURN_TEMPORAL_PORT to another port.');
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return;
      } finally {
        await conn.close();
      }
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new KeyturnError('TEMPORAL_START_TIMEOUT', `temporal server at ${address} did not become healthy within ${timeoutMs / 1000}s`, 'Check the server output with KEYTURN_LOG_LEVEL=debug.');
}
