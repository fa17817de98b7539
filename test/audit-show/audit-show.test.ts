import { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import type { Pool } from '../../db/pool.js';
import type { RunResult } from '../../workflows/types.js';
import { keyturnProcess } from '../support/cli.js';
import { superuserPool } from '../support/db.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { startRotation } from '../../client/rotations.js';
import { FAILURE_CONVERTER_PATH } from '../../infra/temporal/codec/data-converter.js';
import { isDisplayPayload } from '../../infra/temporal/codec/display.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { result, seedActiveKey } from '../rotation/support.js';

/** The audited activities of a rotation that replaces a key, with the actions they write. */
const COMPLETED_HANDOFFS = [
  ['planRotation', 'rotation.planned'],
  ['checkDecision', 'approval.approve'],
  ['generateKey', 'key.generate'],
  ['issueCanary', 'token.canary'],
  ['activateKey', 'key.activate'],
  ['issueCanary', 'token.canary'],
  ['validateCanaries', 'rotation.canary'],
  ['retireKey', 'key.retire'],
  ['recordHandoff', 'rotation.completed'],
];

const ROLLED_BACK_HANDOFFS = [
  ['planRotation', 'rotation.planned'],
  ['checkDecision', 'approval.approve'],
  ['generateKey', 'key.generate'],
  ['issueCanary', 'token.canary'],
  ['activateKey', 'key.activate'],
  ['issueCanary', 'token.canary'],
  ['validateCanaries', 'rotation.canary'],
  ['checkDecision', 'approval.rollback'],
  ['restorePreviousKey', 'key.restore'],
  ['recordHandoff', 'rotation.rolled_back'],
];

const handoffs = (r: RunReconciliation) =>
  r.rows.filter((row) => row.audit.length > 0).map((row) => [row.history?.activityType, ...row.audit.map((a) => a.action)]);

describe('keyturn audit show <run>: the run history next to its audit entries', () => {
  let stack: RotationStack;
  let su: Pool;
  let completed: { id: string; result: RunResult };
  let rolledBack: { id: string; result: RunResult };

  const keyturn = (...args: string[]) => keyturnProcess(stack, ...args);
  const showJson = async (id: string) => {
    const r = await keyturn('audit', 'show', id, '--json');
    return { ...r, report: JSON.parse(r.stdout) as RunReconciliation };
  };

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'auditshow', issuer: { postRetireOverlap: '6s' } });
    su = superuserPool();
    await seedActiveKey(stack);

    const a = await stack.rotate('audit show: completed');
    await stack.decide(a, 'approve', 'cli:alice');
    completed = { id: a.workflowId, result: await result(a) };

    const b = await stack.rotate('audit show: rolled back');
    await stack.decide(b, 'approve', 'cli:alice');
    await stack.waitFor(b, (s) => s.phase === 'overlap', 'the overlap');
    await stack.decide(b, 'rollback', 'cli:bob', 'drill: roll back');
    rolledBack = { id: b.workflowId, result: await result(b) };
  }, 240_000);
  afterAll(async () => {
    await su?.end();
    await stack?.stop();
  });

  it('a completed rotation: every handoff paired, nothing flagged, exit 0', async () => {
    expect(completed.result.outcome).toBe('completed');
    const { status, stderr, report } = await showJson(completed.id);
    expect(status, stderr).toBe(0);
    expect(report).toMatchObject({ workflowId: completed.id, workflowStatus: 'completed', outcome: 'completed', ok: true, flagged: 0, auditSeqRange: completed.result.auditSeqRange });
    expect(handoffs(report)).toEqual(COMPLETED_HANDOFFS);
    expect(report.rows.filter((r) => r.audit.length > 0).every((r) => r.status === 'paired')).toBe(true);
    // The history side carries the Web UI's handoff summaries, timers, the approval signal and the completion.
    const summaries = report.rows.map((r) => r.history?.summary ?? '');
    expect(summaries).toContainEqual(expect.stringMatching(/^Planner → KeyManager: generate ES256 key/));
    expect(summaries).toContainEqual(expect.stringMatching(/^Wait \d+s overlap/));
    expect(report.rows.map((r) => r.history?.label)).toEqual(expect.arrayContaining(['signal approve', 'workflow completed']));
  });

  it('the default output is a two-column table with each handoff on one line', async () => {
    const { status, stdout, stderr } = await keyturn('audit', 'show', completed.id);
    expect(status, stderr).toBe(0);
    expect(stdout).toMatch(/TEMPORAL HISTORY\s+│ AUDIT LOG/);
    expect(stdout).toMatch(/activity generateKey\s+│ seq \d+ key\.generate ok KeyManager/);
    expect(stdout).toMatch(/activity checkDecision\s+│ seq \d+ approval\.approve ok Human\(cli:alice\)/);
    expect(stdout).toMatch(/activity recordHandoff\s+│ seq \d+ rotation\.completed ok Orchestrator/);
    expect(stdout).not.toContain('✗');
    expect(stdout).toMatch(/^ok: 9 handoffs paired/m);
  });

  it('a rolled-back rotation: the rollback signal, the compensation and the outcome are all paired', async () => {
    expect(rolledBack.result.outcome).toBe('rolled_back');
    const { status, stderr, stdout, report } = await showJson(rolledBack.id);
    expect(status, stderr + stdout).toBe(0);
    expect(report).toMatchObject({ outcome: 'rolled_back', ok: true, flagged: 0 });
    expect(handoffs(report)).toEqual(ROLLED_BACK_HANDOFFS);
    expect(report.rows.map((r) => r.history?.label)).toEqual(expect.arrayContaining(['signal approve', 'signal rollback']));
  });

  it('an entry inserted for the run by hand, with no history counterpart, is flagged and the exit is non-zero', async () => {
    const handle = stack.client.workflow.getHandle(completed.id);
    const { runId } = await handle.describe();
    const forged = await appendAudit(su, {
      actor: { role: 'Human', cliUser: 'cli:mallory', workflowId: completed.id, runId },
      action: 'approval.approve',
      subject: { workflowId: completed.id },
      policyVersion: 'forged',
      outcome: 'ok',
      details: { channel: 'cli' },
    });

    const { status, stderr, report } = await showJson(completed.id);
    expect(status).not.toBe(0);
    expect(stderr).toContain('AUDIT_RUN_MISMATCH');
    expect(report).toMatchObject({ ok: false, flagged: 1 });
    const flagged = report.rows.filter((r) => r.status !== 'paired' && r.status !== 'info');
    expect(flagged).toEqual([expect.objectContaining({ status: 'audit_only', audit: [expect.objectContaining({ seq: forged.seq, action: 'approval.approve', actor: 'Human(cli:mallory)' })] })]);
    expect(handoffs(report).filter((h) => h[0] !== undefined)).toEqual(COMPLETED_HANDOFFS);

    const table = await keyturn('audit', 'show', completed.id);
    expect(table.status).not.toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^✗ \\(nothing in the history\\)\\s+│ seq ${forged.seq} approval\\.approve ok Human\\(cli:mallory\\)`, 'm'));
    expect(table.stdout).toMatch(/AUDIT ONLY: no activity in the run's history wrote this entry/);
    expect(table.stdout).toMatch(/^MISMATCH: 1 row\(s\) flagged/m);
  });

  it.each([
    ['marked display but not sealed', (p: Payload) => p],
    ['plain JSON without the display mark', (p: Payload) => ({ metadata: { encoding: p.metadata!.encoding! }, data: p.data! })],
  ])('a run whose start summary keyturn did not write (%s) is flagged, though the Web UI shows it like any other', async (_kind, forge) => {
    // Someone with Temporal access writes clear payloads of their own; here a client whose codec
    // encrypts like keyturn's but writes the summary and details itself.
    const keyturnCodec = new EncryptionCodec(loadPayloadKeyring());
    const unsealing: PayloadCodec = {
      encode: (ps, context) => Promise.all(ps.map(async (p) => (isDisplayPayload(p) ? forge(p) : (await keyturnCodec.encode([p], context))[0]!))),
      decode: (ps, context) => keyturnCodec.decode(ps, context),
    };
    const forger = new Client({ connection: stack.client.connection, namespace: stack.namespace, dataConverter: { payloadCodecs: [unsealing], failureConverterPath: FAILURE_CONVERTER_PATH } });
    const handle = await startRotation(forger, { issuer: stack.issuer, reason: 'audit show: forged summary', requester: { kind: 'cli', id: 'cli:requester' }, taskQueue: stack.taskQueue });
    await stack.decide(handle, 'approve', 'cli:alice');
    expect((await result(handle)).outcome).toBe('completed');

    const { status, report } = await showJson(handle.workflowId);
    expect(status).not.toBe(0);
    expect(report).toMatchObject({ ok: false, flagged: 1 });
    expect(report.rows.filter((r) => r.status === 'mismatch')).toEqual([
      expect.objectContaining({ history: expect.objectContaining({ kind: 'event', label: 'WorkflowExecutionStarted' }), note: expect.stringMatching(/^its summary and details \(event 1\) were not written by keyturn/) }),
    ]);
    expect(handoffs(report)).toEqual(COMPLETED_HANDOFFS);
  });

  it('an unknown run is refused with RUN_NOT_FOUND', async () => {
    const r = await keyturn('audit', 'show', 'rotate-no-such-run');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('RUN_NOT_FOUND');
  });
});
