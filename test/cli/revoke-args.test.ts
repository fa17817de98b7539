import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// No Temporal server is reachable here: a refusal must come before anything is started.
const keyturn = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/keyturn.mjs', ...args], { encoding: 'utf8', env: { ...process.env, KEYTURN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kt-cli-')), TEMPORAL_ADDRESS: '127.0.0.1:1' } });

describe('keyturn revoke, refusing bad arguments before starting anything', () => {
  it('a --jti or --sub revocation without --issuer exits 2 with REVOCATION_INVALID naming --issuer', () => {
    for (const target of ['--jti', '--sub']) {
      const r = keyturn('revoke', target, 'x', '--reason', 'test');
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`error REVOCATION_INVALID: a ${target} revocation needs --issuer`);
      expect(r.stdout).toBe('');
    }
  });
});
