import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { startRotation } from '../client/rotations.js';
import { doctorWorkflow } from '../workflows/doctor.js';
import type { RunResult } from '../workflows/types.js';
import type { BenchContext } from './stack.js';
import type { Row } from './table.js';
import { percentile, startWorkflowBench } from './workflows.js';

const ms = (n: number) => `${n.toFixed(0)} ms`;

/**
 * Rotation rows. Baseline: a one-activity workflow's round trip on the same server and worker.
 * End to end: start → approval by attestation → generate → activate → canaries → overlap → retire,
 * with every wait at the smallest the policy rules allow (lead 0, overlap 1 s). Then N concurrent
 * first rotations of N distinct issuers.
 */
export async function rotationRows(ctx: BenchContext): Promise<Row[]> {
  const runs = ctx.quick ? 5 : 50;
  const concurrent = ctx.quick ? 10 : 100;
  const wf = await startWorkflowBench(ctx.stack, concurrent + 1, ctx.say);
  try {
    const baseline: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await wf.client.workflow.execute(doctorWorkflow, { workflowId: `bench-doctor-${Date.now()}-${i}`, taskQueue: wf.taskQueue, args: ['bench'] });
      baseline.push(performance.now() - t);
    }
    const issuer = wf.issuers[concurrent]!;
    const ids: string[] = [];
    const rotate = async (iss: string, reason: string): Promise<RunResult> => {
      const handle = await startRotation(wf.client, { issuer: iss, reason, requester: { kind: 'cli', id: 'cli:bench' }, taskQueue: wf.taskQueue });
      ids.push(handle.workflowId);
      await wf.approve(handle.workflowId);
      return (await handle.result()) as RunResult;
    };
    await rotate(issuer, 'bench: first key');
    const latencies: number[] = [];
    const sequential: string[] = [];
    let failures = 0;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await rotate(issuer, `bench ${i}`);
      latencies.push(performance.now() - t);
      sequential.push(ids[ids.length - 1]!);
      if (r.outcome !== 'completed') failures++;
    }
    const slowest = await whereTheSlowestRunWaited(wf.client, sequential[latencies.indexOf(Math.max(...latencies))]!);
    ctx.say(`[bench] ${concurrent} concurrent rotations…`);
    const t0 = performance.now();
    const outcomes = await Promise.allSettled(wf.issuers.slice(0, concurrent).map((iss) => rotate(iss, 'bench: concurrent')));
    const wall = performance.now() - t0;
    const failed = outcomes.filter((o) => o.status === 'rejected' || o.value.outcome !== 'completed').length;
    const b50 = percentile(baseline, 50);
    const r50 = percentile(latencies, 50);
    const r99 = percentile(latencies, 99);
    return [
      { id: 'rotation/baseline', group: 'Rotation', alg: 'ES256', name: 'one-activity workflow round trip (baseline)', opsPerSec: 1000 / b50, note: `p50 ${ms(b50)}, p99 ${ms(percentile(baseline, 99))} over ${runs}` },
      { id: 'rotation/e2e', group: 'Rotation', alg: 'ES256', name: 'rotation end to end, approval by attestation, 1 s overlap', opsPerSec: 1000 / r50, baseline: 'rotation/baseline', note: `p50 ${ms(r50)}, p99 ${ms(r99)} over ${runs}, ${failures} failed; goal p99 < 2000 ms: ${r99 < 2000 ? 'met' : 'missed'} (the policy rules do not allow a 0 s overlap); slowest run: ${slowest}` },
      { id: 'rotation/concurrent', group: 'Rotation', alg: 'ES256', name: `${concurrent} concurrent first rotations, distinct issuers`, opsPerSec: (concurrent * 1000) / wall, baseline: 'rotation/baseline', note: `wall ${ms(wall)}, ${failed} failed; goal: all succeed: ${failed === 0 ? 'met' : 'missed'}` },
    ];
  } finally {
    await wf.stop();
  }
}

/** The slowest run's longest wait between two history events, and any activity that needed more than one attempt. */
async function whereTheSlowestRunWaited(client: Client, workflowId: string): Promise<string> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
  const typeOf = (e: (typeof events)[number]) => String(Object.keys(e).find((k) => k.endsWith('EventAttributes') && e[k as keyof typeof e]) ?? 'event').replace('EventAttributes', '');
  let gap = { ms: 0, from: '', to: '' };
  for (let i = 1; i < events.length; i++) {
    const ms = at(events[i]!) - at(events[i - 1]!);
    if (ms > gap.ms) gap = { ms, from: typeOf(events[i - 1]!), to: typeOf(events[i]!) };
  }
  const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name ?? '?']));
  const retried = events
    .filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    .map((e) => `${scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)) ?? '?'} ×${e.activityTaskStartedEventAttributes!.attempt}`);
  return `longest wait ${gap.ms} ms (${gap.from} → ${gap.to})${retried.length ? `, retried: ${retried.join(', ')}` : ', no activity retried'}`;
}
