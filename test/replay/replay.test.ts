import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { installTemporalRuntime } from '../../workers/runtime.js';
import { workflowBundle } from '../../workers/worker.js';

/**
 * Every recorded history (`npm run record:histories`) replays against today's workflow code without a
 * nondeterminism error: a run started by an older worker finishes on a newer one exactly as it began.
 * `*.pre-groups.json` were recorded by the code before per-issuer sign-off groups (5548e5e); the gate
 * must still decide them by counting approvers, at the same point as then. `*.pre-bound-results.json`
 * were recorded before activity results were bound to their calls: they replay without the binding.
 * `*.pre-call-ids.json` were recorded before activity ids named their call's type and run: they
 * replay with the SDK's plain ids. `*.pre-unhandled.json` were recorded before a run's end recorded
 * the decision signals it left unhandled (a rollback sent while the previous key is retired): they
 * end without that entry, as they did. `*.pre-notice-patches.json` were recorded before a run went on
 * when its notice subscribers could not be read (patch `notices-never-reject`, recorded in
 * `revocation-notices-unlisted.current.json`) and before notices were owed and ordered by audit seq.
 * `*.pre-flood-bounds.json` were recorded before the sign-off gate kept to its deadline while signals
 * queued and before refused signals past a run's first 20 were only counted (patches
 * `signoff-checks-bounded-by-deadline`, `signoff-refusal-audit-budget`); among them
 * `rotation-signal-flood`, a flood of plaintext signals, some after the deadline with an approval among
 * them, which that code checked one by one and let complete the rotation: it must replay that way. Its
 * `.current.json` twin expires at the deadline.
 * `*.pre-key-state-rollback.json` were recorded before a rollback acted on the keys' real states
 * (patch `rollback-follows-key-states`): `rotation-rolled-back-early` withdrew its new key with
 * markKeyFailed where today's code asks restorePreviousKey, and must replay as it ran.
 * `*.pre-key-state-at-approval.json` were recorded before an approved key revocation read the key's
 * state at approval (patch `revocation-key-state-at-approval`): they replace the key as planned, as
 * they did; `revocation-kid-rotated-meanwhile.current.json` records the patch's direct revocation of a
 * key a rotation replaced while the run waited for sign-off.
 */
const DIR = fileURLToPath(new URL('./histories', import.meta.url));
const recorded = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

type Recorded = { workflowId: string; history: temporal.api.history.v1.IHistory };
const load = (file: string): Recorded => {
  const { workflowId, history } = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { workflowId: string; history: Record<string, unknown> };
  return { workflowId, history: temporal.api.history.v1.History.fromObject(history) };
};
const replay = async (history: temporal.api.history.v1.IHistory, workflowId: string) => {
  installTemporalRuntime();
  return Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
};

/** The decoded text of every payload in a recorded file (protobufjs object form: bytes as base64). */
function payloadTexts(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) payloadTexts(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.metadata && typeof o.data === 'string') out.push(Buffer.from(o.data, 'base64').toString('utf8'));
    for (const v of Object.values(o)) payloadTexts(v, out);
  }
  return out;
}

const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** Members only a private or symmetric JWK has, wherever a JWK sits in the value. */
function privateJwkMembers(v: unknown, found: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) privateJwkMembers(x, found);
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('kty' in o) found.push(...['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].filter((m) => m in o));
    for (const x of Object.values(o)) privateJwkMembers(x, found);
  }
  return found;
}

/** Trades the results of the first two completed calls of `activityType`, as a copier in the namespace could. */
function tradeResults(history: temporal.api.history.v1.IHistory, activityType: string): void {
  const events = history.events!;
  const typeOf = (scheduledEventId: unknown) => events.find((e) => String(e.eventId) === String(scheduledEventId))?.activityTaskScheduledEventAttributes?.activityType?.name;
  const [a, b] = events.map((e) => e.activityTaskCompletedEventAttributes).filter((c) => c && typeOf(c.scheduledEventId) === activityType);
  if (!a || !b) throw new Error(`fewer than two completed ${activityType} calls`);
  [a.result, b.result] = [b.result, a.result];
}

describe('recorded workflow histories replay on the current workflow code', () => {
  it('has histories from the current code, from before call ids, bound results, per-issuer groups, recorded late signals, the notice patches, the flood bounds, rollbacks by key states and the key state at approval', () => {
    expect(recorded.some((f) => f.endsWith('.current.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-call-ids.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-bound-results.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-groups.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-unhandled.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-notice-patches.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-flood-bounds.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-key-state-rollback.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-key-state-at-approval.json'))).toBe(true);
  });

  it.each(recorded)('%s replays without nondeterminism', async (file) => {
    const { workflowId, history } = load(file);
    await expect(replay(history, workflowId)).resolves.toBeUndefined();
  });

  it.each(recorded)('%s holds no private key member, PEM key or ciphertext', (file) => {
    const texts = payloadTexts(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    expect(texts.length).toBeGreaterThan(10);
    for (const text of texts) {
      expect(text).not.toMatch(/PRIVATE KEY|binary\/encrypted/);
      const value = parsed(text);
      if (value !== undefined) expect(privateJwkMembers(value)).toEqual([]);
    }
  });

  it('a history that scheduled an activity today\'s code does not is refused as nondeterministic', async () => {
    const { workflowId, history } = load('rotation-completed.current.json');
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
    scheduled.activityType = { name: 'someOtherActivity' };
    await expect(replay(history, workflowId)).rejects.toThrow(/[Nn]ondeterminism/);
  });

  it('a history whose call names a plain activity id instead of its type and run is refused as nondeterministic', async () => {
    const { workflowId, history } = load('rotation-completed.current.json');
    const call = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
    expect(call.activityId).toMatch(/^kt1\//);
    call.activityId = '1';
    await expect(replay(history, workflowId)).rejects.toThrow(/[Nn]ondeterminism/);
  });

  it('a history in which two calls trade their results is refused: each result carries its own call\'s nonce', async () => {
    const { workflowId, history } = load('rotation-completed.current.json');
    tradeResults(history, 'notify');
    await expect(replay(history, workflowId)).rejects.toThrow(/[Nn]ondeterminism/);
  });

  it('the same trade in a history from before the binding replays: nothing told those calls apart', async () => {
    const { workflowId, history } = load('rotation-completed.pre-bound-results.json');
    tradeResults(history, 'notify');
    await expect(replay(history, workflowId)).resolves.toBeUndefined();
  });
});
