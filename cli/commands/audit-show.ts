import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter, type LoadedDataConverter, type Payload, type ProtoFailure, type SerializationContext } from '@temporalio/common';
import { decodeArrayFromPayloads, decodeFromPayloadsAtIndex, decodeOptionalFailureToOptionalError, decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow/index.js';
import type { Command } from 'commander';
import { ENTRY_COLUMNS, rowToEntry, type AuditRow } from '../../agents/auditor/rows.js';
import { formatReconciliation, reconcileRun, type PlainHistoryEvent, type RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import type { AuditEntry } from '../../agents/auditor/types.js';
import type { Queryable } from '../../agents/shared/db.js';
import { readCallIdUpgradeMark } from '../../agents/shared/upgrade-marks.js';
import { KeyturnError } from '../../config/errors.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { looksBound, RESULT_BINDING_HEADER } from '../../workflows/result-binding.js';
import { withContext } from '../context.js';

const out = (line: string) => void process.stdout.write(`${line}\n`);

/** `keyturn audit show <run>`: a run's Temporal history next to its audit entries, handoff by handoff. */
export function registerAuditShow(audit: Command): void {
  audit
    .command('show <run>')
    .description("list a run's audit entries next to its Temporal history, pairing each handoff; exits non-zero when one side lacks what the other shows")
    .option('--run-id <id>', 'a specific run of the workflow id (default: the latest)')
    .option('--json', 'machine-readable output')
    .action((run: string, opts: { runId?: string; json?: boolean }) =>
      withContext(async (ctx) => {
        const report = await showRun(await ctx.temporal(), ctx.db(), run, opts.runId);
        out(opts.json ? JSON.stringify(report, null, 2) : formatReconciliation(report));
        if (!report.ok) {
          throw new KeyturnError('AUDIT_RUN_MISMATCH', `${report.flagged} handoff(s) of ${run} appear on one side only or disagree`, 'Compare the flagged rows with the run in the Temporal Web UI; an entry without a history counterpart was not written by this run.', { flagged: report.flagged });
        }
      }),
    );
}

/** Fetches the run's history and its candidate audit entries, and reconciles them. */
export async function showRun(client: Client, db: Queryable, workflowId: string, runId?: string): Promise<RunReconciliation> {
  const handle = client.workflow.getHandle(workflowId, runId);
  let resolvedRunId: string;
  let history;
  try {
    resolvedRunId = runId ?? (await handle.describe()).runId;
    history = await client.workflow.getHandle(workflowId, resolvedRunId).fetchHistory();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new KeyturnError('RUN_NOT_FOUND', `no run ${workflowId}${runId ? ` (${runId})` : ''}`, 'List runs with `keyturn status`.');
    throw e;
  }
  const events = await plainEvents(client.options.loadedDataConverter, history.events ?? [], { namespace: client.options.namespace, workflowId });
  // Only to find candidate entries: whether a result is its call's own is judged in the reconciliation.
  const claimed = events.flatMap((e) => {
    const result = looksBound(e.result) ? (e.result as { value?: unknown }).value : e.result;
    const seqs = (result as { auditSeqs?: unknown } | undefined)?.auditSeqs;
    return Array.isArray(seqs) ? seqs.filter((s): s is number => Number.isSafeInteger(s)) : [];
  });
  const close = events.find((e) => e.type === 'WorkflowExecutionCompleted');
  const range = (close?.result as { auditSeqRange?: unknown } | undefined)?.auditSeqRange;
  const [from, to] = Array.isArray(range) && range.length === 2 && range.every((n) => Number.isSafeInteger(n)) ? (range as [number, number]) : [0, -1];
  // Entries that name the run only in their subject are looked for while it ran (and a minute either side).
  const times = events.map((e) => Date.parse(e.time)).filter((t) => t > 0);
  const window = { from: new Date(Math.min(...times, Date.now()) - 60_000), to: new Date((close ? Math.max(...times) : Date.now()) + 60_000) };
  const entries = await runEntries(db, workflowId, claimed, [from, to], window);
  const counted = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log WHERE seq BETWEEN $1 AND $2', [from, to]);
  const upgradedAt = await upgradeMark(db);
  return reconcileRun({ namespace: client.options.namespace, workflowId, runId: resolvedRunId, events, entries, entriesInRange: Number(counted.rows[0]?.n ?? 0), ...(upgradedAt ? { upgradedAt } : {}) });
}

/**
 * Candidate entries of a run: those whose actor ran in the workflow, those written within `window`
 * whose subject names it, the two ends of its seq range and every seq its history claims (the
 * reconciliation sorts out which belong to the run). Each clause can use an index. The rest of
 * the range is only counted: on a busy log it holds many other runs' and clients' entries, and
 * every entry a run writes carries its workflow id.
 */
export async function runEntries(db: Queryable, workflowId: string, claimed: number[], [from, to]: [number, number], window: { from: Date; to: Date }): Promise<AuditEntry[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT ${ENTRY_COLUMNS} FROM audit_log
      WHERE actor ->> 'workflowId' = $1
         OR (audit_log.at BETWEEN $5::timestamptz AND $6::timestamptz AND subject ->> 'workflowId' = $1)
         OR audit_log.seq IN ($2, $3) OR audit_log.seq = ANY($4::bigint[])
      ORDER BY audit_log.seq LIMIT 10000`,
    [workflowId, from, to, claimed, window.from.toISOString(), window.to.toISOString()],
  );
  return rows.map(rowToEntry);
}

/** The call-id upgrade mark; undefined on a database from before the table (nothing to judge plain ids by). */
async function upgradeMark(db: Queryable): Promise<Date | undefined> {
  return readCallIdUpgradeMark(db).catch((e: { code?: string }) => {
    if (e.code === '42P01') return undefined;
    throw e;
  });
}

type Num = number | { toNumber(): number } | null | undefined;
const num = (n: Num): number => (n === null || n === undefined ? 0 : typeof n === 'number' ? n : n.toNumber());

interface RawEvent {
  eventId?: Num;
  eventTime?: { seconds?: Num; nanos?: number | null } | null;
  userMetadata?: { summary?: Payload | null; details?: Payload | null } | null;
  [attributes: string]: unknown;
}

/** Decodes history events into the plain records the reconciliation reads. */
export async function plainEvents(converter: LoadedDataConverter, events: readonly unknown[], run: { namespace: string; workflowId: string }): Promise<PlainHistoryEvent[]> {
  const codec = converter.payloadCodecs.find((c): c is EncryptionCodec => c instanceof EncryptionCodec);
  if (!codec) throw new KeyturnError('AUDIT_CODEC_MISSING', 'audit show needs keyturn\'s payload codec to tell keyturn\'s payloads from others', 'Run it through the keyturn CLI with KEYTURN_PAYLOAD_KEY_FILE set.');
  /** Which of an event's payloads keyturn did not write: someone else with Temporal access did. */
  const foreignOf = async (candidates: Array<[name: string, payloads: Array<Payload | null | undefined>, display: boolean]>) => {
    const names: string[] = [];
    for (const [name, list, display] of candidates) {
      for (const p of list) {
        if (p && !(await codec.writtenByKeyturn(p, { display }))) {
          names.push(name);
          break;
        }
      }
    }
    return names;
  };
  /** Which of an event's encrypted payloads were written for another place than where they sit. */
  const activityIds = new Map<number, string>();
  const misplacedOf = (candidates: Array<[name: string, payloads: Array<Payload | null | undefined>, context: SerializationContext]>) =>
    candidates.filter(([, list, context]) => list.some((p) => p && codec.misplaced(p, context))).map(([name]) => name);
  const callOf = (activityId: string | undefined): SerializationContext => ({ type: 'activity', namespace: run.namespace, workflowId: run.workflowId, activityId: activityId ?? '', isLocal: false });
  const ofRun: SerializationContext = { type: 'workflow', namespace: run.namespace, workflowId: run.workflowId };
  const outEvents: PlainHistoryEvent[] = [];
  for (const raw of events as RawEvent[]) {
    const attrKey = Object.keys(raw).find((k) => k.endsWith('EventAttributes') && raw[k] !== null && raw[k] !== undefined);
    if (!attrKey) continue;
    const type = attrKey.charAt(0).toUpperCase() + attrKey.slice(1, -'EventAttributes'.length);
    const a = raw[attrKey] as Record<string, unknown>;
    const t = raw.eventTime ? num(raw.eventTime.seconds) * 1000 + Math.floor((raw.eventTime.nanos ?? 0) / 1e6) : 0;
    const e: PlainHistoryEvent = { eventId: num(raw.eventId), time: new Date(t).toISOString(), type };
    const summary = raw.userMetadata?.summary ? await decodeOptionalSinglePayload<unknown>(converter, raw.userMetadata.summary).catch(() => undefined) : undefined;
    if (typeof summary === 'string') e.summary = summary;
    const payloads = (p: unknown) => (p as { payloads?: Payload[] } | null | undefined)?.payloads ?? null;
    const unsealed = await foreignOf([
      ['summary', [raw.userMetadata?.summary], true],
      ['details', [raw.userMetadata?.details], true],
      ['result', payloads(a.result) ?? [], true],
      ['input', payloads(a.input) ?? [], false],
    ]);
    if (unsealed.length) e.unsealed = unsealed;
    if (type === 'ActivityTaskScheduled') activityIds.set(e.eventId, String(a.activityId ?? ''));
    const call = a.scheduledEventId !== undefined ? callOf(activityIds.get(num(a.scheduledEventId as Num))) : callOf(activityIds.get(e.eventId));
    const place = type.startsWith('ActivityTask') ? call : ofRun;
    const misplaced = misplacedOf([
      ['input', payloads(a.input) ?? [], place],
      ['result', payloads(a.result) ?? [], place],
      ['failure', [(a.failure as ProtoFailure | null | undefined)?.encodedAttributes as Payload | null | undefined], place],
    ]);
    if (misplaced.length) e.misplaced = misplaced;
    switch (type) {
      case 'ActivityTaskScheduled':
        e.activityId = String(a.activityId ?? '');
        e.activityType = String((a.activityType as { name?: string } | null)?.name ?? 'unknown');
        e.input = await decodeArrayFromPayloads(converter, payloads(a.input)).catch(() => []);
        Object.assign(e, resultBindingOf(a.header));
        break;
      case 'ActivityTaskCompleted':
      case 'WorkflowExecutionCompleted':
        e.result = await decodeFromPayloadsAtIndex<unknown>(converter, 0, payloads(a.result)).catch(() => undefined);
        if (a.scheduledEventId !== undefined) e.scheduledEventId = num(a.scheduledEventId as Num);
        break;
      case 'ActivityTaskFailed':
      case 'ActivityTaskTimedOut':
      case 'ActivityTaskCanceled':
      case 'WorkflowExecutionFailed': {
        e.scheduledEventId = num(a.scheduledEventId as Num);
        const failure = a.failure as ProtoFailure | null | undefined;
        if (!failure) break;
        if (failure.applicationFailureInfo?.type) e.failureType = failure.applicationFailureInfo.type;
        // keyturn's failure converter encrypts message and stack into encodedAttributes: a failure
        // without them, or with ones keyturn did not encrypt, was written by someone else.
        if (failure.encodedAttributes && (await codec.writtenByKeyturn(failure.encodedAttributes, { display: false }))) {
          const decoded = await decodeOptionalFailureToOptionalError(converter, failure).catch(() => undefined);
          if (decoded?.message) e.failure = decoded.message;
        } else {
          e.unsealed = [...(e.unsealed ?? []), 'failure'];
          if (failure.message) e.failure = failure.message;
        }
        break;
      }
      case 'TimerStarted': {
        e.timerId = String(a.timerId ?? '');
        const d = a.startToFireTimeout as { seconds?: Num; nanos?: number | null } | null | undefined;
        if (d) e.timeoutSeconds = num(d.seconds) + (d.nanos ?? 0) / 1e9;
        break;
      }
      case 'TimerFired':
      case 'TimerCanceled':
        e.timerId = String(a.timerId ?? '');
        break;
      case 'WorkflowExecutionStarted': {
        const name = (a.workflowType as { name?: string } | null)?.name;
        if (name) e.workflowType = name;
        if (typeof a.originalExecutionRunId === 'string' && a.originalExecutionRunId) e.originalRunId = a.originalExecutionRunId;
        break;
      }
      case 'WorkflowExecutionSignaled':
        e.signalName = String(a.signalName ?? '');
        if (typeof a.identity === 'string' && a.identity) e.identity = a.identity;
        break;
    }
    outEvents.push(e);
  }
  return outEvents;
}

/** The nonce a call sent for its result to carry ('' for a header that holds none, which matches no result). */
function resultBindingOf(header: unknown): { resultBinding?: string } {
  const payload = (header as { fields?: Record<string, Payload> } | null | undefined)?.fields?.[RESULT_BINDING_HEADER];
  if (!payload) return {};
  try {
    const nonce = defaultPayloadConverter.fromPayload<unknown>(payload);
    return { resultBinding: typeof nonce === 'string' ? nonce : '' };
  } catch {
    return { resultBinding: '' };
  }
}
