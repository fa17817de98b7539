import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { loadAuditKey } from '../../agents/auditor/audit-key.js';
import { checkpoint } from '../../agents/auditor/checkpoint.js';
import { CHECKPOINT_LOG_MESSAGE } from '../../agents/auditor/witness.js';
import { createLogger } from '../../infra/log/logger.js';
import { logCheckpoint } from '../../workers/checkpoint-logging.js';
import { listAudit } from '../../agents/auditor/queries.js';
import type { AuditEntry } from '../../agents/auditor/types.js';
import { followAudit, registerAudit } from '../../cli/commands/audit.js';
import { isolatedDatabase, sampleEntry, type IsolatedDb } from './support.js';

// The last test tampers, so this file has a database of its own.
let db: IsolatedDb;
let dir: string;
let entries: AuditEntry[];
const saved = { url: process.env.DATABASE_URL, dataDir: process.env.KEYTURN_DATA_DIR, keyFile: process.env.KEYTURN_AUDIT_KEY_FILE };

beforeAll(async () => {
  db = await isolatedDatabase();
  dir = await mkdtemp(join(tmpdir(), 'keyturn-audit-cli-'));
  for (let i = 0; i < 4; i++) await appendAudit(db.app, sampleEntry({ details: { i } }));
  entries = await listAudit(db.app);
  process.env.DATABASE_URL = db.url;
  process.env.KEYTURN_DATA_DIR = dir;
  delete process.env.KEYTURN_AUDIT_KEY_FILE;
});
afterAll(async () => {
  for (const [k, v] of Object.entries({ DATABASE_URL: saved.url, KEYTURN_DATA_DIR: saved.dataDir, KEYTURN_AUDIT_KEY_FILE: saved.keyFile })) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(dir, { recursive: true, force: true });
  await db.drop();
});
afterEach(() => vi.restoreAllMocks());

/** Runs `keyturn audit ...`, returning stdout, or the error it failed with. */
async function run(...args: string[]): Promise<{ stdout: string; stderr: string; error?: unknown }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const program = new Command('keyturn').exitOverride();
  registerAudit(program);
  try {
    await program.parseAsync(['node', 'keyturn', 'audit', ...args]);
    return { stdout, stderr };
  } catch (error) {
    return { stdout, stderr, error };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('keyturn audit', () => {
  it('tail -n 2 prints the newest two entries, one line each', async () => {
    const { stdout } = await run('tail', '-n', '2');
    const lines = stdout.trim().split('\n');
    expect(lines.map((l) => Number(l.split('\t')[0]))).toEqual([3, 4]);
  });

  it('export --since --out writes JSON Lines', async () => {
    const out = join(dir, 'audit.jsonl');
    await run('export', '--since', entries[1]!.at, '--out', out);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(lines).toEqual(entries.slice(1));
  });

  it('export refuses a --since that is not a time', async () => {
    const { error } = await run('export', '--since', 'yesterday-ish');
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('followAudit delivers entries appended after it started', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const following = followAudit(db.app, { signal: ac.signal, intervalMs: 20, write: (e) => seen.push(e.seq) });
    await appendAudit(db.app, sampleEntry());
    await expect.poll(() => seen, { timeout: 5000 }).toEqual([5]);
    ac.abort();
    await following;
    entries = await listAudit(db.app);
  });

  it('verify prints ok on an intact chain', async () => {
    const { stdout, error } = await run('verify');
    expect(error).toBeUndefined();
    expect(stdout).toMatch(/^ok: 5 entries and 0 checkpoints verified/);
  });

  it('verify warns about entries no signed checkpoint covers once they are older than five minutes', async () => {
    expect((await run('verify')).stderr).not.toContain('covered by no signed checkpoint');
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 6 * 60_000);
    const { stdout, stderr } = await run('verify');
    expect(stdout).toMatch(/^ok: 5 entries/);
    expect(stderr).toContain('warning: 5 entries (seq 1 to 5, the oldest written ');
    expect(stderr).toContain('covered by no signed checkpoint');
  });

  it('verify --witness checks the log against the checkpoints a worker logged', async () => {
    const signer = await loadAuditKey({ env: { KEYTURN_DATA_DIR: dir }, warn: () => {} });
    const cp = (await checkpoint(db.app, signer))!;
    const file = join(dir, 'worker.log');
    const log = createLogger({ level: 'info' }, pino.destination({ dest: file, sync: true }));
    log.info({ note: 'other lines are skipped' }, 'keyturn worker started');
    logCheckpoint(log, cp);
    const { stdout, error } = await run('verify', '--witness', file);
    expect(error).toBeUndefined();
    expect(stdout).toMatch(/^ok: 5 entries and 2 checkpoints \(1 of them logged copies\) verified; head seq 5/);
    expect(stdout).toContain(`newest logged checkpoint: seq 5 at ${cp.at}`);
  });

  it('verify --witness refuses a checkpoint line with a field missing (AUDIT_WITNESS_UNREADABLE)', async () => {
    const file = join(dir, 'edited.log');
    await writeFile(file, `${JSON.stringify({ msg: CHECKPOINT_LOG_MESSAGE, seq: 5, at: 'x' })}\n`);
    expect((await run('verify', '--witness', file)).error).toMatchObject({ code: 'AUDIT_WITNESS_UNREADABLE', message: expect.stringContaining('line 1 is "audit checkpoint signed"') });
  });

  it('verify --witness refuses a file it cannot open (AUDIT_WITNESS_UNREADABLE)', async () => {
    expect((await run('verify', '--witness', join(dir, 'no-such.log'))).error).toMatchObject({ code: 'AUDIT_WITNESS_UNREADABLE', message: expect.stringContaining('ENOENT') });
  });

  it('verify --witness refuses a file with no logged checkpoint (AUDIT_WITNESS_EMPTY) before reading the log', async () => {
    const file = join(dir, 'empty.log');
    await writeFile(file, '{"msg":"keyturn worker started"}\n');
    const { stdout, error } = await run('verify', '--witness', file);
    expect(error).toMatchObject({ code: 'AUDIT_WITNESS_EMPTY' });
    expect(stdout).toBe('');
  });

  it('verify --witness refuses a file whose only checkpoint line is not JSON (AUDIT_WITNESS_EMPTY)', async () => {
    const file = join(dir, 'pretty.log');
    await writeFile(file, '[10:00:00] INFO: audit checkpoint signed seq=5\n');
    expect((await run('verify', '--witness', file)).error).toMatchObject({ code: 'AUDIT_WITNESS_EMPTY' });
  });

  it('verify fails with AUDIT_CHAIN_BROKEN and prints seq, expected and found for an altered row', async () => {
    await db.su.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await db.su.query(`UPDATE audit_log SET policy_version = 'v0' WHERE seq = 2`);
    await db.su.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    const { stdout, error } = await run('verify');
    expect(error).toMatchObject({ code: 'AUDIT_CHAIN_BROKEN' });
    expect(stdout).toContain('BROKEN at seq 2: hash-mismatch');
    expect(stdout).toMatch(/expected: [0-9a-f]{64}/);
    expect(stdout).toContain(`found:    ${entries[1]!.hash}`);
  });
});
