import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { FailureLimiter } from '../../agents/token-issuer/failure-limiter.js';
import { registerCodecRoutes, SESSION_COOKIE } from '../../http/codec.js';
import { UNSEALED_LABEL } from '../../infra/temporal/codec/display-seal.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { displayPayload } from '../../workflows/display.js';
import { PayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import { CodecOperatorToken } from '../../infra/temporal/codec/operator-token.js';
import { CLOCK_MARGIN_MS, pgCodecSessionEnds, type CodecSessionEnds } from '../../infra/temporal/codec/session-ends.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { codecAllowedOrigins, codecRoutesFor } from '../../workers/codec-wiring.js';

const UI = 'http://127.0.0.1:8233';
const TOKEN = randomBytes(32).toString('base64url');
const codec = new EncryptionCodec(new PayloadKeyring(randomBytes(32)));
const json = (p: Payload) => ({ metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(p.data!).toString('base64') });

describe('the codec endpoint', () => {
  let app: FastifyInstance;
  let clock = Date.now();
  let body: { payloads: ReturnType<typeof json>[] };
  // A database of its own: ending every session is global, and other files sign in to codecs too.
  let db: PolicyDb;
  let sessionEnds: CodecSessionEnds;

  beforeAll(async () => {
    db = await policyDatabase();
    sessionEnds = pgCodecSessionEnds(db.app);
    app = Fastify();
    registerCodecRoutes(app, { codec, token: new CodecOperatorToken(TOKEN), sessionEnds, allowedOrigins: [UI], secureCookie: false, sessionTtlSeconds: 3600, now: () => clock });
    await app.ready();
    body = { payloads: (await codec.encode([defaultPayloadConverter.toPayload({ planHash: 'abc' })])).map(json) };
  });
  afterAll(async () => {
    await app.close();
    await db.drop();
  });

  const decode = (headers: Record<string, string>, payload: unknown = body) => app.inject({ method: 'POST', url: '/codec/decode', headers: { 'content-type': 'application/json', ...headers }, payload: payload as object });
  const login = (token: string) => app.inject({ method: 'POST', url: '/codec/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ token }).toString() });
  const sessionFrom = (setCookie: string | string[] | undefined) => String(setCookie).split(';')[0]!;

  it('refuses a request without credentials with 401 and decodes nothing', async () => {
    const res = await decode({});
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain('abc');
  });

  it('refuses a wrong bearer token with 401', async () => {
    expect((await decode({ authorization: `Bearer ${randomBytes(32).toString('base64url')}` })).statusCode).toBe(401);
  });

  it('decodes for the codec token as a bearer token (the temporal CLI\'s --codec-auth)', async () => {
    const res = await decode({ authorization: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(200);
    const [p] = res.json<{ payloads: Array<{ data: string }> }>().payloads;
    expect(JSON.parse(Buffer.from(p!.data, 'base64').toString())).toEqual({ planHash: 'abc' });
  });

  it('refuses to encode, even for the operator: what workers accept is encoded only by keyturn\'s own clients', async () => {
    const plain = { payloads: [json(defaultPayloadConverter.toPayload({ kind: 'kid', value: 'k1', reason: 'x', requester: 'cli:dev-lead' }))] };
    const res = await app.inject({ method: 'POST', url: '/codec/encode', headers: { authorization: `Bearer ${TOKEN}` }, payload: plain });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'encode_not_offered' });
    expect(res.body).not.toContain('payloads');
  });

  it('checks credentials before reading the body: an unauthenticated malformed body gets 401, not a parse error', async () => {
    const res = await app.inject({ method: 'POST', url: '/codec/decode', headers: { 'content-type': 'application/json' }, payload: '{"payloads": [' });
    expect(res.statusCode).toBe(401);
  });

  it('answers a preflight from the Web UI origin with a credentialed CORS grant for that origin only', async () => {
    const res = await app.inject({ method: 'OPTIONS', url: '/codec/decode', headers: { origin: UI, 'access-control-request-method': 'POST' } });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(UI);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(String(res.headers['access-control-allow-headers'])).toContain('x-namespace');
  });

  it('gives another origin no CORS grant, on the preflight and on the request itself', async () => {
    const pre = await app.inject({ method: 'OPTIONS', url: '/codec/decode', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    const req = await decode({ origin: 'https://evil.example', authorization: `Bearer ${TOKEN}` });
    expect([pre.statusCode, req.statusCode]).toEqual([403, 403]);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    expect(req.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('signs an operator in with the token: an HttpOnly, SameSite=Strict session cookie scoped to /codec', async () => {
    const res = await login(TOKEN);
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(new RegExp(`^${SESSION_COOKIE}=v2\\.[^;]+; Path=/codec; Max-Age=3600; HttpOnly; SameSite=Strict$`));
  });

  it('refuses a wrong token at sign-in with 401 and sets no cookie', async () => {
    const res = await login('wrong-wrong-wrong-wrong-wrong-wrong');
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('decodes for the Web UI with the session cookie', async () => {
    const cookie = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    const res = await decode({ origin: UI, cookie });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(UI);
  });

  it('refuses an altered session cookie with 401', async () => {
    const cookie = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    expect((await decode({ cookie: cookie.replace(/v2\.(\d)/, (_m, d: string) => `v2.${(Number(d) + 1) % 10}`) })).statusCode).toBe(401);
  });

  it('refuses a session cookie past its lifetime with 401', async () => {
    const cookie = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    clock += 3601_000;
    try {
      expect((await decode({ cookie })).statusCode).toBe(401);
    } finally {
      clock -= 3601_000;
    }
  });

  it('signing out ends the session itself: the same cookie value is refused afterwards', async () => {
    const cookie = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    const out = await app.inject({ method: 'POST', url: '/codec/logout', headers: { cookie } });
    expect([out.statusCode, String(out.headers['set-cookie'])]).toEqual([204, expect.stringMatching(new RegExp(`^${SESSION_COOKIE}=; Path=/codec; Max-Age=0`))]);
    expect((await decode({ cookie })).statusCode).toBe(401);
  });

  it('ending every session refuses each one signed in before (and within the clock margin after), and admits one signed in later', async () => {
    const before = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    clock += 1;
    await sessionEnds.endAll(clock);
    clock += CLOCK_MARGIN_MS;
    const withinMargin = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    clock += 1;
    const after = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    expect(await Promise.all([before, withinMargin, after].map(async (cookie) => (await decode({ cookie })).statusCode))).toEqual([401, 401, 200]);
  });

  it('keyturn\'s own role can end sessions but never revive one', async () => {
    const cookie = sessionFrom((await login(TOKEN)).headers['set-cookie']);
    await app.inject({ method: 'POST', url: '/codec/logout', headers: { cookie } });
    const attempts = [
      `DELETE FROM codec_session_ends WHERE session = '*'`,
      `DELETE FROM codec_session_ends WHERE session <> '*'`,
      `UPDATE codec_session_ends SET ended_at = ended_at - interval '1 day' WHERE session = '*'`,
    ];
    for (const sql of attempts) await expect(db.app.query(sql)).rejects.toThrow(/cannot be revived/);
    expect((await decode({ cookie })).statusCode).toBe(401);
  });

  it('answers a tampered payload with 400 PAYLOAD_TAMPERED, not a crash', async () => {
    const bad = structuredClone(body);
    const data = Buffer.from(bad.payloads[0]!.data, 'base64');
    data[15] = data[15]! ^ 1;
    bad.payloads[0]!.data = data.toString('base64');
    const res = await decode({ authorization: `Bearer ${TOKEN}` }, bad);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'PAYLOAD_TAMPERED' });
  });

  it('answers a body without payloads with 400', async () => {
    expect((await decode({ authorization: `Bearer ${TOKEN}` }, { nope: 1 })).statusCode).toBe(400);
  });
});

describe('the codec endpoint under guessing', () => {
  let app: FastifyInstance;
  const sessionEnds: CodecSessionEnds = { ended: async () => false, endOne: async () => {}, endAll: async () => {} };
  const wrong = () => randomBytes(32).toString('base64url');
  const login = (token: string, remoteAddress: string) => app.inject({ method: 'POST', url: '/codec/login', remoteAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ token }).toString() });
  const decode = (headers: Record<string, string>, remoteAddress: string) => app.inject({ method: 'POST', url: '/codec/decode', remoteAddress, headers: { 'content-type': 'application/json', ...headers }, payload: { payloads: [] } });

  beforeAll(async () => {
    app = Fastify();
    registerCodecRoutes(app, { codec, token: new CodecOperatorToken(TOKEN), sessionEnds, allowedOrigins: [UI], publicOrigin: 'https://keyturn.test', secureCookie: false, limiter: new FailureLimiter({ maxFailures: 3 }) });
    await app.ready();
  });
  afterAll(() => app.close());

  it('after 3 wrong tokens at sign-in, refuses even the right one from that address with 429 and Retry-After, setting no cookie', async () => {
    for (let i = 0; i < 3; i++) expect((await login(wrong(), '10.9.0.1')).statusCode).toBe(401);
    const res = await login(TOKEN, '10.9.0.1');
    expect([res.statusCode, Number(res.headers['retry-after']) > 0, res.headers['set-cookie']]).toEqual([429, true, undefined]);
  });

  it('counts wrong bearer tokens on decode toward the same limit', async () => {
    for (let i = 0; i < 3; i++) expect((await decode({ authorization: `Bearer ${wrong()}` }, '10.9.0.2')).statusCode).toBe(401);
    expect((await decode({ authorization: `Bearer ${TOKEN}` }, '10.9.0.2')).statusCode).toBe(429);
    expect((await login(TOKEN, '10.9.0.2')).statusCode).toBe(429);
  });

  it('never locks out an address for requests without credentials (the Web UI before sign-in)', async () => {
    for (let i = 0; i < 10; i++) expect((await decode({}, '10.9.0.3')).statusCode).toBe(401);
    expect((await login(TOKEN, '10.9.0.3')).statusCode).toBe(200);
  });

  it('keeps decoding for a signed-in session while its address is locked out for wrong tokens', async () => {
    const cookie = String((await login(TOKEN, '10.9.0.6')).headers['set-cookie']).split(';')[0]!;
    for (let i = 0; i < 3; i++) await decode({ authorization: `Bearer ${wrong()}` }, '10.9.0.6');
    expect((await decode({ authorization: `Bearer ${TOKEN}` }, '10.9.0.6')).statusCode).toBe(429);
    expect((await decode({ cookie }, '10.9.0.6')).statusCode).toBe(200);
  });

  it('refuses a sign-in posted from another site with 403, counting nothing against the address', async () => {
    const fromElsewhere = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/codec/login', remoteAddress: '10.9.0.7', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: new URLSearchParams({ token: wrong() }).toString() });
    for (let i = 0; i < 3; i++) {
      expect((await fromElsewhere({ 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
      expect((await fromElsewhere({ origin: 'https://evil.test' })).statusCode).toBe(403);
    }
    expect((await login(TOKEN, '10.9.0.7')).statusCode).toBe(200);
  });

  it('admits a sign-in a browser posts from the sign-in page itself', async () => {
    const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/codec/login', remoteAddress: '10.9.0.8', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, payload: new URLSearchParams({ token: TOKEN }).toString() });
    expect((await post({ 'sec-fetch-site': 'same-origin', origin: 'https://keyturn.test' })).statusCode).toBe(200);
    expect((await post({ origin: 'https://keyturn.test:443' })).statusCode).toBe(200);
  });

  it('refuses a sign-in whose Origin is opaque (null) or another host, when the browser sends no Sec-Fetch-Site', async () => {
    const post = (origin: string) => app.inject({ method: 'POST', url: '/codec/login', remoteAddress: '10.9.0.9', headers: { 'content-type': 'application/x-www-form-urlencoded', origin }, payload: new URLSearchParams({ token: TOKEN }).toString() });
    expect([(await post('null')).statusCode, (await post('http://localhost')).statusCode]).toEqual([403, 403]);
  });

  it('admits a valid session that also carries a foreign bearer token (a Web UI forwarding its own access token), counting nothing', async () => {
    const cookie = String((await login(TOKEN, '10.9.0.10')).headers['set-cookie']).split(';')[0]!;
    for (let i = 0; i < 5; i++) expect((await decode({ cookie, authorization: `Bearer ${wrong()}` }, '10.9.0.10')).statusCode).toBe(200);
    expect((await decode({ authorization: `Bearer ${TOKEN}` }, '10.9.0.10')).statusCode).toBe(200);
  });

  it('blocks only the guessing address', async () => {
    for (let i = 0; i < 3; i++) await login(wrong(), '10.9.0.4');
    expect((await login(TOKEN, '10.9.0.5')).statusCode).toBe(200);
  });
});

describe('codec endpoint configuration', () => {
  it('is not served when no codec token is configured', () => {
    expect(codecRoutesFor(loadEnv({}), new PayloadKeyring(randomBytes(32)), { query: async () => ({ rows: [], rowCount: 0 }) }, { env: {} })).toBeUndefined();
  });

  it('as wired in production, marks a display payload keyturn did not seal', async () => {
    const keyring = new PayloadKeyring(randomBytes(32));
    const routes = codecRoutesFor(loadEnv({}), keyring, { query: async () => ({ rows: [], rowCount: 0 }) }, { env: { KEYTURN_CODEC_TOKEN: TOKEN } })!;
    const [sealed] = await new EncryptionCodec(keyring).encode([displayPayload('Planner → KeyManager: generate')]);
    const decoded = await routes.codec.decode([sealed!, displayPayload('Planner → KeyManager: generate')]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['Planner → KeyManager: generate', `${UNSEALED_LABEL}: Planner → KeyManager: generate`]);
  });

  it('refuses a codec token shorter than 32 characters with CODEC_TOKEN_INVALID', () => {
    expect(() => new CodecOperatorToken('short')).toThrow(expect.objectContaining({ code: 'CODEC_TOKEN_INVALID' }));
  });

  it('admits by default only the local Web UI origins', () => {
    expect(codecAllowedOrigins(loadEnv({}))).toEqual(['http://localhost:8233', 'http://127.0.0.1:8233']);
  });

  it('admits the configured Web UI URL\'s origin when one is set', () => {
    expect(codecAllowedOrigins(loadEnv({ KEYTURN_TEMPORAL_UI_URL: 'https://temporal.example.com/ui/' }))).toEqual(['https://temporal.example.com']);
  });
});

describe('the codec endpoint when the database is down', () => {
  it('refuses a session cookie with 503 (it cannot tell whether the session was ended), still decodes for the bearer token, and a sign-out clears the cookie and says 503', async () => {
    const db = await policyDatabase();
    const app = Fastify();
    const token = new CodecOperatorToken(TOKEN);
    registerCodecRoutes(app, { codec, token, sessionEnds: pgCodecSessionEnds(db.app), allowedOrigins: [UI], secureCookie: false });
    const body = { payloads: (await codec.encode([defaultPayloadConverter.toPayload({ planHash: 'abc' })])).map(json) };
    const cookie = `${SESSION_COOKIE}=${token.issueSession(Date.now(), 3600)}`;
    await db.drop();
    try {
      const decode = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/codec/decode', headers: { 'content-type': 'application/json', ...headers }, payload: body });
      const refused = await decode({ cookie });
      expect([refused.statusCode, refused.json().error, refused.body.includes('abc')]).toEqual([503, 'codec_sessions_unavailable', false]);
      expect((await decode({ authorization: `Bearer ${TOKEN}` })).statusCode).toBe(200);
      const out = await app.inject({ method: 'POST', url: '/codec/logout', headers: { cookie } });
      expect([out.statusCode, out.json().error, String(out.headers['set-cookie'])]).toEqual([503, 'codec_sessions_unavailable', expect.stringMatching(new RegExp(`^${SESSION_COOKIE}=; Path=/codec; Max-Age=0`))]);
    } finally {
      await app.close();
    }
  });
});
