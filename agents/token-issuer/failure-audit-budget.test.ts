import { describe, expect, it } from 'vitest';
import { AuditBudgets, FailureAuditBudget } from './failure-audit-budget.js';

function budget(perWindow = 2, maxClientsNamed = 20) {
  let now = Date.parse('2026-11-30T12:00:00Z');
  const b = new FailureAuditBudget({ perWindow, windowMs: 60_000, maxClientsNamed, now: () => now });
  return { b, advance: (ms: number) => (now += ms) };
}

describe('FailureAuditBudget', () => {
  it('admits failures one by one up to the budget of the window', () => {
    const { b } = budget(2);
    expect([b.admit('no_credentials', undefined), b.admit('bad_secret', 'c1'), b.admit('bad_secret', 'c1')]).toEqual([true, true, false]);
  });

  it('summarises nothing while the window is open', () => {
    const { b } = budget(1);
    b.admit('no_credentials', undefined);
    b.admit('no_credentials', undefined);
    expect(b.takeSummary()).toBeUndefined();
  });

  it('once the window has ended, summarises what it counted by reason and client, once', () => {
    const { b, advance } = budget(1);
    b.admit('unknown_client', '(unknown:abc)', 'ip:10.0.0.1');
    b.admit('unknown_client', '(unknown:abc)', 'ip:10.0.0.1');
    b.admit('no_credentials', undefined, 'ip:10.0.0.2');
    b.admit('unknown_client', '(unknown:def)', 'ip:10.0.0.1');
    advance(60_000);
    expect(b.takeSummary()).toEqual({
      count: 3, from: '2026-11-30T12:00:00.000Z', to: '2026-11-30T12:01:00.000Z', byReason: { unknown_client: 2, no_credentials: 1 },
      clients: ['(unknown:abc)', '(unknown:def)'], moreClients: 0, addresses: ['ip:10.0.0.1', 'ip:10.0.0.2'], moreAddresses: 0,
    });
    expect(b.takeSummary()).toBeUndefined();
  });

  it('at shutdown, also summarises the window still open, up to now', () => {
    const { b, advance } = budget(0);
    b.admit('no_credentials', undefined);
    advance(10_000);
    expect(b.takeSummary({ includeOpen: true })).toMatchObject({ count: 1, from: '2026-11-30T12:00:00.000Z', to: '2026-11-30T12:00:10.000Z' });
  });

  it('gives a new window a fresh budget', () => {
    const { b, advance } = budget(1);
    b.admit('no_credentials', undefined);
    advance(61_000);
    expect(b.admit('no_credentials', undefined)).toBe(true);
  });

  it('names at most maxClientsNamed clients and addresses and counts the others', () => {
    const { b, advance } = budget(0, 2);
    for (const c of ['a', 'b', 'c', 'd', 'a']) b.admit('unknown_client', c, `ip:${c}`);
    advance(60_000);
    expect(b.takeSummary()).toMatchObject({ count: 5, clients: ['a', 'b'], moreClients: 2, addresses: ['ip:a', 'ip:b'], moreAddresses: 2 });
  });

  it('keeps a summary put back after a failed write, adding the next window to it', () => {
    const { b, advance } = budget(0);
    b.admit('no_credentials', undefined);
    advance(60_000);
    const first = b.takeSummary()!;
    b.restore(first);
    b.admit('unknown_client', '(unknown:abc)');
    advance(60_000);
    expect(b.takeSummary()).toEqual({ count: 2, from: first.from, to: '2026-11-30T12:02:00.000Z', byReason: { no_credentials: 1, unknown_client: 1 }, clients: ['(unknown:abc)'], moreClients: 0, addresses: [], moreAddresses: 0 });
  });
});

describe('AuditBudgets', () => {
  let now = Date.parse('2026-11-30T12:00:00Z');
  const budgets = () => new AuditBudgets({ perWindow: 1, perClientWindow: 1, windowMs: 60_000, now: () => now });

  it('gives each registered client a budget of its own, apart from the anonymous one', () => {
    const b = budgets();
    expect([
      b.admit({ kind: 'anonymous' }, 'no_credentials', undefined),
      b.admit({ kind: 'anonymous' }, 'no_credentials', undefined),
      b.admit({ kind: 'client', clientId: 'c1' }, 'bad_secret', 'c1'),
      b.admit({ kind: 'client', clientId: 'c2' }, 'bad_secret', 'c2'),
      b.admit({ kind: 'client', clientId: 'c1' }, 'bad_secret', 'c1'),
    ]).toEqual([true, false, true, true, false]);
  });

  it('summarises each budget under its own bucket once the window ends', () => {
    const b = budgets();
    for (let i = 0; i < 3; i++) b.admit({ kind: 'client', clientId: 'c1' }, 'bad_secret', 'c1');
    b.admit({ kind: 'anonymous' }, 'no_credentials', undefined);
    now += 60_000;
    expect(b.takeSummaries().map((s) => [s.bucket, s.summary.count])).toEqual([[{ kind: 'client', clientId: 'c1' }, 2]]);
  });
});
