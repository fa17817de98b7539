import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { entryHash, GENESIS_HASH } from './chain.js';
import type { AuditEntry } from './types.js';

const entry: Omit<AuditEntry, 'hash'> = {
  seq: 1,
  at: '2024-01-01T00:00:00.000Z',
  actor: { role: 'KeyManager', workflowId: 'wf-1' },
  action: 'key.generate',
  subject: { kid: 'k1' },
  policyVersion: 'v1',
  outcome: 'ok',
  details: {},
  prevHash: GENESIS_HASH,
};

describe('entryHash', () => {
  it('is sha256 hex of the canonical JSON of the entry fields', () => {
    const canonical =
      '{"action":"key.generate","actor":{"role":"KeyManager","workflowId":"wf-1"},"at":"2024-01-01T00:00:00.000Z","details":{},' +
      `"outcome":"ok","policyVersion":"v1","prevHash":"${GENESIS_HASH}","requestId":null,"seq":1,"subject":{"kid":"k1"}}`;
    expect(entryHash(entry)).toBe(createHash('sha256').update(canonical).digest('hex'));
  });

  it('genesis prev hash is 64 zeros', () => {
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
  });

  it('changes when any covered field changes', () => {
    const base = entryHash(entry);
    expect(entryHash({ ...entry, outcome: 'failed' })).not.toBe(base);
    expect(entryHash({ ...entry, requestId: 'r' })).not.toBe(base);
    expect(entryHash({ ...entry, prevHash: 'f'.repeat(64) })).not.toBe(base);
  });

  it('treats absent details as {}', () => {
    const { details: _d, ...noDetails } = entry;
    expect(entryHash(noDetails)).toBe(entryHash(entry));
  });
});
