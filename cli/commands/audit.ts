import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { importAuditPublicKey, loadAuditKey } from '../../agents/auditor/audit-key.js';
import { listAudit } from '../../agents/auditor/queries.js';
import type { Queryable } from '../../agents/shared/db.js';
import type { AuditEntry } from '../../agents/auditor/types.js';
import { verifyAuditChain } from '../../agents/auditor/verify.js';
import type { CheckpointRow } from '../../agents/auditor/chain-walk.js';
import { CHECKPOINT_LOG_MESSAGE, emptyWitnessLog, readWitnessLine } from '../../agents/auditor/witness.js';
import { KeyturnError } from '../../config/errors.js';
import { withContext } from '../context.js';
import { registerAuditShow } from './audit-show.js';

const PAGE = 1000;
/** Entries younger than this may simply be waiting for the worker's next checkpoint (every minute). */
const UNCOVERED_GRACE_MS = 5 * 60_000;
const out = (line: string) => void process.stdout.write(`${line}\n`);

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('inspect and verify the tamper-evident audit log');

  audit
    .command('verify')
    .description('re-derive the hash chain and check every signed checkpoint; exits non-zero at the first broken link')
    .option('--public-key <file>', 'audit public key (JWK file); default: the key from KEYTURN_AUDIT_KEY_FILE or the data dir')
    .option('--witness <files...>', "the workers' JSON logs: every checkpoint they logged must still match the log (catches the newest entries deleted together with their checkpoints)")
    .action((opts: { publicKey?: string; witness?: string[] }) =>
      withContext(async (ctx) => {
        const witnesses = opts.witness ? await readWitnesses(opts.witness) : undefined;
        const key = opts.publicKey ? await importAuditPublicKey(await readPublicKeyFile(opts.publicKey)) : ((await loadAuditKey({ create: false }))?.publicJwk ?? null);
        if (key === null) process.stderr.write('warning: no audit key found; checkpoints cannot be verified\n');
        const result = await verifyAuditChain(ctx.db(), key, witnesses ? { witnesses } : {});
        if (result.ok) {
          const logged = witnesses ? ` (${result.witnessed} of them logged copies)` : '';
          out(`ok: ${result.entries} entries and ${result.checkpoints} checkpoints${logged} verified; head seq ${result.headSeq} hash ${result.headHash}`);
          const w = result.newestWitness;
          if (w) out(`newest logged checkpoint: seq ${w.seq} at ${w.at}`);
          if (w && result.newestStored && result.newestStored.seq > w.seq) {
            process.stderr.write(`warning: the logs end before the newest checkpoint in the database (seq ${result.newestStored.seq} at ${result.newestStored.at}); entries after seq ${w.seq} are checked against the database's checkpoints only: pass every worker's logs, up to now\n`);
          }
          if (result.checkpoints === 0 && result.entries > 0) {
            process.stderr.write(`warning: no signed checkpoint vouches for any of the ${result.entries} entries: the hash chain alone cannot show a rewrite by whoever owns the tables. A keyturn worker signs one every minute; \`--witness\` with the workers' logs also catches checkpoints deleted from the database\n`);
          }
          const u = result.uncovered;
          if (u && Date.now() - Date.parse(u.oldestAt) > UNCOVERED_GRACE_MS) {
            process.stderr.write(`warning: ${u.count} entries (seq ${u.fromSeq} to ${result.headSeq}, the oldest written ${u.oldestAt}) are covered by no signed checkpoint, only by the hash chain, which whoever can bypass the database's grants could rewrite unnoticed; is a keyturn worker running? It signs one every minute\n`);
          }
          return;
        }
        out(`BROKEN at seq ${result.seq}: ${result.reason}${result.checkpointId === undefined ? '' : ` (checkpoint ${result.checkpointId})`}`);
        out(`  expected: ${result.expectedHash || '(no entry)'}`);
        out(`  found:    ${result.foundHash}`);
        out(`  ${result.message}`);
        throw new KeyturnError('AUDIT_CHAIN_BROKEN', `audit chain broken at seq ${result.seq} (${result.reason})`, 'The log was altered outside keyturn: preserve the database as evidence and compare with a backup.', { ...result });
      }),
    );

  audit
    .command('tail')
    .description('print the newest entries, one line each')
    .option('-n, --lines <n>', 'how many entries', parseCount, 20)
    .option('-f, --follow', 'keep printing new entries (polls every second) until interrupted')
    .action((opts: { lines: number; follow?: boolean }) =>
      withContext(async (ctx) => {
        const pool = ctx.db();
        const first = await listAudit(pool, { limit: opts.lines, newest: true });
        first.forEach((e) => out(formatLine(e)));
        if (!opts.follow) return;
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await followAudit(pool, { afterSeq: first.at(-1)?.seq, signal: ac.signal, write: (e) => out(formatLine(e)) });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );

  audit
    .command('export')
    .description('write entries at or after a time as JSON Lines')
    .requiredOption('--since <time>', 'ISO 8601 time, e.g. 2024-05-01T00:00:00Z')
    .option('--out <file>', 'write here instead of stdout')
    .action((opts: { since: string; out?: string }) =>
      withContext(async (ctx) => {
        const since = new Date(opts.since);
        if (Number.isNaN(since.getTime())) {
          throw new KeyturnError('INVALID_ARGUMENT', `--since ${JSON.stringify(opts.since)} is not a time`, 'Use ISO 8601, e.g. 2024-05-01T00:00:00Z.');
        }
        const sink: Writable = opts.out ? createWriteStream(opts.out, { flags: 'w' }) : process.stdout;
        let cursor = 0;
        let count = 0;
        for (;;) {
          const batch = await listAudit(ctx.db(), { since, sinceSeq: cursor, limit: PAGE });
          for (const e of batch) {
            if (!sink.write(`${JSON.stringify(e)}\n`)) await once(sink, 'drain');
          }
          count += batch.length;
          cursor = batch.at(-1)?.seq ?? cursor;
          if (batch.length < PAGE) break;
        }
        if (opts.out) {
          sink.end();
          await once(sink, 'finish');
          process.stderr.write(`exported ${count} entries to ${opts.out}\n`);
        }
      }),
    );

  registerAuditShow(audit);
}

export interface FollowOptions {
  /** Start after this seq; default: the current head. */
  afterSeq?: number | undefined;
  signal: AbortSignal;
  write: (e: AuditEntry) => void;
  intervalMs?: number;
}

/** Polls for entries after the cursor (every second by default) and hands each to `write`, until aborted. */
export async function followAudit(db: Queryable, opts: FollowOptions): Promise<void> {
  let cursor = opts.afterSeq ?? (await listAudit(db, { limit: 1, newest: true })).at(-1)?.seq ?? 0;
  while (!opts.signal.aborted) {
    for (;;) {
      const batch = await listAudit(db, { sinceSeq: cursor, limit: PAGE });
      batch.forEach(opts.write);
      cursor = batch.at(-1)?.seq ?? cursor;
      if (batch.length < PAGE || opts.signal.aborted) break;
    }
    await sleep(opts.intervalMs ?? 1000, opts.signal);
  }
}

/** `seq  at  outcome  action  actor  subject` */
export function formatLine(e: AuditEntry): string {
  const who = e.actor.workflowId ?? e.actor.slackUser ?? e.actor.cliUser ?? e.actor.client;
  const subject = Object.entries(e.subject).map(([k, v]) => `${k}=${v}`).join(',');
  return `${e.seq}\t${e.at}\t${e.outcome}\t${e.action}\t${e.actor.role}${who ? `(${who})` : ''}\t${subject}`;
}

async function readPublicKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new KeyturnError('AUDIT_KEY_MISSING', `cannot read audit public key file ${path}`, 'Pass the JWK file holding the audit public key.');
  }
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) {
    throw new KeyturnError('INVALID_ARGUMENT', `-n ${v} is not a count between 1 and 10000`, 'Pass a whole number, e.g. -n 50.');
  }
  return n;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Every checkpoint the given logs hold, read line by line (a log may be large); refuses a file that
 * holds none or a checkpoint line it cannot read.
 */
async function readWitnesses(files: string[]): Promise<CheckpointRow[]> {
  const all: CheckpointRow[] = [];
  for (const file of files) {
    const log = emptyWitnessLog();
    try {
      let lineNo = 0;
      for await (const line of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) readWitnessLine(line, ++lineNo, file, log);
    } catch (e) {
      throw new KeyturnError('AUDIT_WITNESS_UNREADABLE', `cannot read the witness log ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'Pass the path of a keyturn worker\'s log file (JSON lines).');
    }
    const { checkpoints, unreadable, mentions } = log;
    if (unreadable.length) {
      throw new KeyturnError('AUDIT_WITNESS_UNREADABLE', `${file}: line${unreadable.length > 1 ? 's' : ''} ${unreadable.slice(0, 5).join(', ')}${unreadable.length > 5 ? '…' : ''} ${unreadable.length > 1 ? 'are' : 'is'} "${CHECKPOINT_LOG_MESSAGE}" but not a checkpoint keyturn logged (a field is missing or wrong)`, 'Pass the worker\'s JSON log as written; a line that was edited is itself evidence worth keeping.');
    }
    if (mentions.length) process.stderr.write(`warning: ${file}: ${mentions.length} line(s) mention "${CHECKPOINT_LOG_MESSAGE}" but are not JSON (first: line ${mentions[0]}); skipped\n`);
    if (checkpoints.length === 0) {
      throw new KeyturnError('AUDIT_WITNESS_EMPTY', `${file} holds no "${CHECKPOINT_LOG_MESSAGE}" line in JSON`, 'Pass the JSON log of a keyturn worker (workers/main.ts) that ran while the audit log grew; it logs each checkpoint it signs.');
    }
    all.push(...checkpoints);
  }
  return all;
}
