import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateChannelKey } from '../../agents/approvals/channel-keys.js';
import { checkStartRequest, startRequestDigest } from '../../agents/approvals/start-request.js';
import { cliStarter, writeApproverKey } from '../../cli/approver-key.js';

describe('the requester a CLI start names', () => {
  const login = `cli:${userInfo().username.toLowerCase()}`;

  it('is the approver of the given key', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'key.json');
    const key = await generateChannelKey();
    await writeApproverKey(file, { approver: 'cli:alice', kid: key.kid, privateJwk: key.privateJwk });
    expect((await cliStarter(file)).requester).toBe('cli:alice');
  });

  it('signs the start request with the given key, so the worker can tell who asked', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'key.json');
    const key = await generateChannelKey();
    await writeApproverKey(file, { approver: 'cli:alice', kid: key.kid, privateJwk: key.privateJwk });
    const { signStart } = await cliStarter(file);
    const request = { issuer: 'https://a.example', reason: 'r', startNonce: 't1_aaaaaaaaaaaaaaaaaaaaaa' };
    const startProof = await signStart!({ kind: 'rotation', requester: 'cli:alice', workflowId: 'wf', startNonce: request.startNonce, requestDigest: startRequestDigest(request) });
    const lookup = async (kid: string) => (kid === key.kid ? { kid, channel: 'cli' as const, approver: 'cli:alice', publicJwk: key.publicJwk } : undefined);
    const check = await checkStartRequest({ kind: 'rotation', workflowId: 'wf', requester: 'cli:alice', request: { ...request, startProof } }, lookup, { required: true, now: new Date() });
    expect(check).toEqual({ verified: true, channel: 'cli', kid: key.kid });
  });

  it('is cli:<login name>, unsigned, without a key', async () => {
    expect(await cliStarter(undefined)).toEqual({ requester: login });
  });

  it('falls back to cli:<login name>, unsigned, with a warning when the key cannot be read, so an emergency start is not blocked', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'open.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    const warnings: string[] = [];
    expect(await cliStarter(file, { emergency: true, warn: (l) => warnings.push(l) })).toEqual({ requester: login });
    expect(warnings).toEqual([expect.stringContaining(`the run names ${login} as requester, unsigned`)]);
  });

  it('refuses to start anything else when the given key cannot be read (readable by others)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kt-req-')), 'open.json');
    const key = await generateChannelKey();
    writeFileSync(file, JSON.stringify({ approver: 'cli:alice', kid: key.kid, privateJwk: key.privateJwk }), { mode: 0o644 });
    await expect(cliStarter(file)).rejects.toMatchObject({ code: expect.stringMatching(/^SECRET_FILE_/) });
  });
});
