import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRevocation } from '../../client/revocations.js';
import { startRotation } from '../../client/rotations.js';
import { findTemporalCli } from '../../infra/temporal/cli.js';
import { DISPLAY_MARK_KEY } from '../../workflows/display.js';
import { CALL_ID_PATCH, parseCallId } from '../../workflows/call-ids.js';
import { RESULT_BINDING_PATCH } from '../../workflows/result-binding.js';
import { CALL_METADATA_KEY, EncryptionCodec, ENCRYPTED_ENCODING } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import type { RunResult, RunStatus } from '../../workflows/types.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

const run = promisify(execFile);

interface JsonPayload {
  metadata: Record<string, string>;
  data?: string;
}
interface Dump {
  text: string;
  payloads: JsonPayload[];
  /** Where each payload sits, e.g. `events.3.userMetadata.summary`. */
  paths: string[];
  failures: Array<{ message?: string; stackTrace?: string; encodedAttributes?: JsonPayload }>;
  /** Payloads Temporal itself keeps out of the codec: a call's result-binding header, a patch marker. */
  protocol: Array<{ p: JsonPayload; path: string }>;
}

/** Headers skip the codec by Temporal's design, and Core writes patch markers itself. */
const PROTOCOL_PATHS = /\.header\.fields\.keyturn-result-binding$|\.markerRecordedEventAttributes\.details\.patch-data\.payloads\.\d+$/;
/** Every patch id keyturn's workflows ask for (`grep -rn "patched(" workflows`): a marker may carry only one of these. */
const KEYTURN_PATCHES = [
  RESULT_BINDING_PATCH, CALL_ID_PATCH, 'best-effort-notices', 'check-rollbacks-received-by-deadline', 'rollback-follows-key-states',
  'notices-never-reject', 'await-notices-on-failure', 'revocation-key-state-at-approval',
  'record-signals-unhandled-at-end', 'signoff-checks-bounded-by-deadline', 'signoff-refusal-audit-budget',
];

/** Every payload object ({metadata: {encoding}, data}) and every failure object anywhere in a history dump. */
function walk(node: unknown, dump: Dump, path = ''): void {
  if (Array.isArray(node)) return node.forEach((n, i) => walk(n, dump, `${path}.${i}`));
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.metadata && typeof o.metadata === 'object' && 'encoding' in (o.metadata as object)) {
    if (PROTOCOL_PATHS.test(path)) dump.protocol.push({ p: o as unknown as JsonPayload, path });
    else {
      dump.payloads.push(o as unknown as JsonPayload);
      dump.paths.push(path);
    }
  }
  if ('encodedAttributes' in o || ('message' in o && 'stackTrace' in o)) dump.failures.push(o as Dump['failures'][number]);
  // Search attributes are the server's index (issuer, requester, phase, kid: public identifiers the
  // auditor searches by), so Temporal keeps them out of the codec by design.
  for (const [k, v] of Object.entries(o)) if (k !== 'searchAttributes' && k !== 'upsertedSearchAttributes') walk(v, dump, `${path}.${k}`);
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const decoded = (p: JsonPayload) => Buffer.from(p.metadata.encoding ?? '', 'base64').toString();
const isDisplay = (p: JsonPayload) => Buffer.from(p.metadata[DISPLAY_MARK_KEY] ?? '', 'base64').toString() === 'v1';
const plainData = (p: JsonPayload) => Buffer.from(p.data ?? '', 'base64').toString();
/** The fields issue 8 keeps readable without a codec: summaries, static details, a run's result. */
const DISPLAY_PATHS = /\.userMetadata\.(summary|details)$|\.workflowExecutionCompletedEventAttributes\.result\.payloads\.0$/;

/**
 * What the Temporal server stores for keyturn's runs, read the way an attacker with access to it
 * would: `temporal workflow show --output json`, no codec. A completed rotation, a refused one (its
 * failure carries a message) and a revocation.
 */
describe('Temporal histories of keyturn runs: encrypted payloads, clear display fields free of secrets', () => {
  let stack: RotationStack;
  let cli: string;
  const dumps = new Map<string, Dump>();
  let rotation: { workflowId: string; result: RunResult; planHash: string };
  let refusedReason: string;
  let revocationReason: string;

  const show = async (workflowId: string, extra: string[] = []): Promise<Dump> => {
    const { stdout } = await run(cli, ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', stack.temporalAddress, '--namespace', stack.namespace, ...extra], { maxBuffer: 64 * 1024 * 1024 });
    const dump: Dump = { text: stdout, payloads: [], paths: [], failures: [], protocol: [] };
    walk(JSON.parse(stdout), dump);
    return dump;
  };

  beforeAll(async () => {
    cli = findTemporalCli() ?? '';
    if (!cli) throw new Error('no temporal CLI: run `npm run temporal:install` (npm test does it in pretest)');
    stack = await startRotationStack({ name: 'dump', codec: { allowedOrigins: [] } });
    await seedActiveKey(stack);

    const handle = await stack.rotate('history dump rotation');
    const planned = await stack.waitFor(handle, (s: RunStatus) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    rotation = { workflowId: handle.workflowId, result: await result(handle), planHash: planned.planHash! };

    const refused = await startRotation(stack.client, { issuer: 'https://not-in-the-policy.example', reason: 'history dump refusal', requester: { kind: 'cli', id: 'alice' }, taskQueue: stack.taskQueue });
    refusedReason = ((await refused.result()) as RunResult).reason!;

    revocationReason = 'history dump: token leaked in a ticket';
    const revocation = await startRevocation(stack.client, { kind: 'kid', value: rotation.result.newKid!, reason: revocationReason, requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(revocation, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(revocation, 'approve', 'cli:alice');
    await revocation.result();

    for (const id of [handle.workflowId, refused.workflowId, revocation.workflowId]) dumps.set(id, await show(id));
  }, 180_000);
  afterAll(() => stack?.stop());

  const all = () => [...dumps.values()];

  it('every payload outside the display fields is binary/encrypted and names its key id', () => {
    const entries = all().flatMap((d) => d.payloads.map((p, i) => ({ p, path: d.paths[i]! })));
    const encrypted = entries.filter(({ path }) => !DISPLAY_PATHS.test(path));
    expect(encrypted.length).toBeGreaterThan(30);
    const keyId = loadPayloadKeyring().activeId;
    for (const { p } of encrypted) {
      expect(decoded(p)).toBe(ENCRYPTED_ENCODING);
      expect(Buffer.from(p.metadata['encryption-key-id']!, 'base64').toString()).toBe(keyId);
    }
  });

  it('outside the codec, Temporal\'s own fields carry only each call\'s nonce and the names of keyturn\'s patches', () => {
    const protocol = all().flatMap((d) => d.protocol);
    const nonces = protocol.filter(({ path }) => path.endsWith('keyturn-result-binding'));
    const patches = protocol.filter(({ path }) => !path.endsWith('keyturn-result-binding'));
    expect(nonces.length).toBeGreaterThan(20);
    expect(patches.length).toBeGreaterThan(0);
    for (const { p } of protocol) expect(decoded(p)).toBe('json/plain');
    for (const { p } of nonces) expect(JSON.parse(plainData(p))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const { p } of patches) expect(KEYTURN_PATCHES).toContain((JSON.parse(plainData(p)) as { id: string }).id);
    expect(new Set(nonces.map(({ p }) => plainData(p))).size).toBe(nonces.length);
  });

  it('every activity input and result is encrypted for its own call (namespace, workflow id, activity id)', () => {
    let checked = 0;
    for (const [workflowId, dump] of dumps) {
      const events = (JSON.parse(dump.text) as { events: Array<Record<string, Record<string, unknown> | string>> }).events;
      const activityIdOf = new Map<string, string>();
      for (const e of events) {
        const scheduled = e.activityTaskScheduledEventAttributes as { activityId: string; input?: { payloads: JsonPayload[] } } | undefined;
        const completed = e.activityTaskCompletedEventAttributes as { scheduledEventId: string; result?: { payloads: JsonPayload[] } } | undefined;
        if (scheduled) activityIdOf.set(String(e.eventId), scheduled.activityId);
        const activityId = scheduled ? scheduled.activityId : completed ? activityIdOf.get(String(completed.scheduledEventId)) : undefined;
        for (const p of [...(scheduled?.input?.payloads ?? []), ...(completed?.result?.payloads ?? [])]) {
          expect(JSON.parse(Buffer.from(p.metadata[CALL_METADATA_KEY] ?? '', 'base64').toString() || 'null')).toEqual([stack.namespace, workflowId, activityId]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('every other encrypted payload names where it belongs: an activity call of its run, or the namespace', () => {
    let namespaced = 0;
    for (const [workflowId, dump] of dumps) {
      const encrypted = dump.payloads.filter((p) => decoded(p) === ENCRYPTED_ENCODING);
      const failures = dump.failures.map((f) => f.encodedAttributes!);
      for (const p of [...encrypted, ...failures]) {
        const label = JSON.parse(Buffer.from(p.metadata[CALL_METADATA_KEY] ?? '', 'base64').toString() || 'null') as string[] | null;
        if (label?.[0] === 'namespace') {
          expect(label).toEqual(['namespace', stack.namespace]);
          namespaced++;
        } else {
          expect(label).toHaveLength(3);
          expect(label!.slice(0, 2)).toEqual([stack.namespace, workflowId]);
          expect(parseCallId(label![2]!)).toBeDefined();
        }
      }
    }
    expect(namespaced).toBeGreaterThan(3);
  });

  it('every display payload sits in a summary, a details field or a run result, and is marked', () => {
    const entries = all().flatMap((d) => d.payloads.map((p, i) => ({ p, path: d.paths[i]! })));
    const clear = entries.filter(({ p }) => decoded(p) !== ENCRYPTED_ENCODING);
    expect(clear.length).toBeGreaterThan(20);
    for (const { p, path } of clear) {
      expect(path).toMatch(DISPLAY_PATHS);
      expect(isDisplay(p)).toBe(true);
    }
  });

  it('without any codec, the dump shows the handoffs, the details and the outcome with its audit seqs', () => {
    const rotationText = dumps.get(rotation.workflowId)!.payloads.filter(isDisplay).map(plainData).join('\n');
    expect(rotationText).toContain('Planner → KeyManager: generate');
    expect(rotationText).toContain('**Reason:** history dump rotation');
    expect(rotationText).toContain('"outcome":"completed"');
    expect(rotationText).toContain(`"auditSeqRange":[${rotation.result.auditSeqRange!.join(',')}]`);
  });

  it('no dump contains the plan, a canary token or an approval attestation in clear text', () => {
    const secrets = ['"plan"', 'prePublishLead', 'attestation', 'canaryToken'];
    for (const d of all()) for (const s of secrets) expect(d.text).not.toContain(s);
  });

  it('no dump contains the KEK, the payload key, the codec token or an OAuth client secret, raw or base64', () => {
    const kek = readFileSync(join(stack.dataDir, 'kek'), 'utf8').trim();
    const payloadKey = readFileSync(process.env.KEYTURN_PAYLOAD_KEY_FILE!, 'utf8').trim();
    const secrets = [kek, payloadKey, stack.codecToken!, stack.oauthClient.secret];
    for (const d of all()) for (const s of secrets) {
      expect(d.text).not.toContain(s);
      expect(d.text).not.toContain(b64(s));
    }
  });

  it('a failure keeps its message and stack trace only inside an encrypted attributes payload', () => {
    const failures = all().flatMap((d) => d.failures);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f.message ?? '').toBe('Encoded failure');
      expect(f.stackTrace ?? '').toBe('');
      expect(decoded(f.encodedAttributes!)).toBe(ENCRYPTED_ENCODING);
    }
    // The workflow reads the decrypted message and states it as the reason in the run's (display) result.
    expect(refusedReason).toBe('planning refused: the policy has no issuer https://not-in-the-policy.example');
  });

  it('decrypted with the payload key, the payloads still hold no private key material', async () => {
    const codec = new EncryptionCodec(loadPayloadKeyring());
    const plain = await codec.decode(all().flatMap((d) => d.payloads).map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p.data ?? '', 'base64'),
    })));
    const text = plain.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString()).join('\n');
    expect(text).toContain(rotation.planHash);
    expect(text).not.toMatch(/"d"\s*:|PRIVATE KEY|"privateJwk"|"kek"/i);
  });

  it('an operator with the codec token reads the plan through the codec endpoint (temporal --codec-endpoint)', async () => {
    const viaCodec = await show(rotation.workflowId, ['--codec-endpoint', `${stack.httpUrl}/codec`, '--codec-auth', `Bearer ${stack.codecToken!}`]);
    expect(viaCodec.payloads.map(decoded)).not.toContain(ENCRYPTED_ENCODING);
    const plain = viaCodec.payloads.map((p) => Buffer.from(p.data ?? '', 'base64').toString()).join('\n');
    expect(plain).toContain(rotation.planHash);
    expect(plain).toContain('history dump rotation');
  });

  it('with a wrong codec token the temporal CLI gets no decoded history', async () => {
    await expect(show(rotation.workflowId, ['--codec-endpoint', `${stack.httpUrl}/codec`, '--codec-auth', 'Bearer not-the-token-not-the-token-not-the'])).rejects.toThrow(/Command failed/);
  });
});
