import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateChannelKey } from '../../agents/approvals/channel-keys.js';
import { cliRequester, writeApproverKey } from '../../cli/approver-key.js';

describe('the requester a CLI start names', () => {
  const login = `cli:${userInfo().username.toLowerCase()}`;

  it('is the approver of the given key', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'key.json');
    const key = await generateChannelKey();
    await writeApproverKey(file, { approver: 'cli:alice', kid: key.kid, privateJwk: key.privateJwk });
    expect(await cliRequester(file)).toBe('cli:alice');
  });

  it('is cli:<login name> without a key', async () => {
    expect(await cliRequester(undefined)).toBe(login);
  });

  it('falls back to cli:<login name> with a warning when the key cannot be read, so an emergency start is not blocked', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'open.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    const warnings: string[] = [];
    expect(await cliRequester(file, (l) => warnings.push(l))).toBe(login);
    expect(warnings).toEqual([expect.stringContaining(`the run names ${login} as requester`)]);
  });
});
