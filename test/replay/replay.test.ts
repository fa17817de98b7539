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
 * must still decide them by counting approvers, at the same point as then.
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

describe('recorded workflow histories replay on the current workflow code', () => {
  it('has histories from the current code and from before per-issuer groups', () => {
    expect(recorded.some((f) => f.endsWith('.current.json'))).toBe(true);
    expect(recorded.some((f) => f.endsWith('.pre-groups.json'))).toBe(true);
  });

  it.each(recorded)('%s replays without nondeterminism', async (file) => {
    const { workflowId, history } = load(file);
    await expect(replay(history, workflowId)).resolves.toBeUndefined();
  });

  it('a history that scheduled an activity today\'s code does not is refused as nondeterministic', async () => {
    const { workflowId, history } = load('rotation-completed.current.json');
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
    scheduled.activityType = { name: 'someOtherActivity' };
    await expect(replay(history, workflowId)).rejects.toThrow(/[Nn]ondeterminism/);
  });
});
