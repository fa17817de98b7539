import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { bootstrapPolicy, PolicyWatcher, storeAndActivate, type PolicyWatcherOptions } from '../../agents/planner/policy-store.js';
import { policyVersion } from '../../agents/planner/policy.js';
import { docWith, eventually, policyDatabase, type PolicyDb } from './support.js';

const HOUR = 3_600_000;
let db: PolicyDb;
const watchers: PolicyWatcher[] = [];
beforeAll(async () => {
  db = await policyDatabase();
  await bootstrapPolicy(db.app, docWith(), appendAudit, { role: 'Orchestrator' });
});
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.close();
});
afterAll(() => db.drop());

/** A started watcher that never resyncs on its own unless told: only NOTIFY can move it. */
async function watcher(o: Partial<PolicyWatcherOptions> = {}): Promise<PolicyWatcher> {
  const w = new PolicyWatcher({ db: db.app, connectListener: db.listener, resyncIntervalMs: HOUR, ...o });
  watchers.push(w);
  await w.start();
  return w;
}

const activate = async (text = docWith()) => {
  await storeAndActivate(db.app, { text, approvers: ['U0LEAD1'], reason: 'test', requester: 'cli:alice' }, appendAudit);
  return policyVersion(text);
};

describe('PolicyWatcher', () => {
  it('starts with the policy in force', async () => {
    const version = await activate();
    const w = await watcher();
    expect(w.current().version).toBe(version);
  });

  it('picks up a newly activated version through NOTIFY, without a restart or resync', async () => {
    const w = await watcher();
    const version = await activate(docWith({ accessTokenTtl: '5m' }));
    await eventually(() => w.current().version === version);
    expect(w.current().issuers[0]!.accessTokenTtlSeconds).toBe(300);
  });

  it('keeps the versions it has held retrievable after they are superseded', async () => {
    const w = await watcher();
    const old = w.current().version;
    const next = await activate();
    await eventually(() => w.current().version === next);
    expect(w.version(old)?.version).toBe(old);
  });

  it('reads a version it never held from the store on resolve', async () => {
    const older = await activate();
    await activate();
    const w = await watcher();
    expect([w.version(older), (await w.resolve(older)).version]).toEqual([undefined, older]);
  });

  it('reports each change to onChange with the previous policy', async () => {
    const seen: Array<[string, string]> = [];
    const w = await watcher({ onChange: (next, previous) => seen.push([previous.policy.version, next.policy.version]) });
    const before = w.current().version;
    const after = await activate();
    await eventually(() => seen.length === 1);
    expect(seen).toEqual([[before, after]]);
  });

  it('catches up by periodic resync when it cannot listen', async () => {
    const w = await watcher({ connectListener: () => Promise.reject(new Error('no listener')), reconnectDelayMs: HOUR, resyncIntervalMs: 50, onError: () => {} });
    const version = await activate();
    await eventually(() => w.current().version === version);
  });

  it('refuses to start before anything is stored', async () => {
    const empty = await policyDatabase();
    try {
      const w = new PolicyWatcher({ db: empty.app, connectListener: empty.listener });
      await expect(w.start()).rejects.toMatchObject({ code: 'POLICY_NOT_BOOTSTRAPPED' });
    } finally {
      await empty.drop();
    }
  });
});
