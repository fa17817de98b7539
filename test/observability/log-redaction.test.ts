import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KeyturnError } from '../../config/errors.js';
import { createLogger, PublicText } from '../../infra/log/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, log: createLogger({ name: 'redaction-test', level: 'info' }, stream) };
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const clientSecret = randomBytes(24).toString('base64url');
const slackBotToken = `xoxb-${randomBytes(12).toString('hex')}`;
const slackSigningSecret = randomBytes(16).toString('hex');
const kek = randomBytes(32).toString('base64');

describe('structured logs', () => {
  it('never contain a private JWK, a client secret, a Slack token or a KEK, however they are nested', () => {
    const { lines, log } = capture();
    log.info({ privateJwk: rsa, key: { privateJwk: ec }, client: { clientSecret, client_secret: clientSecret }, slack: { botToken: slackBotToken, signingSecret: slackSigningSecret }, kek }, 'everything secret at once');
    log.info({ deeper: { still: { privateKey: { ...ec } } }, secret: clientSecret, token: slackBotToken }, 'nested');
    log.info({ keys: [rsa, ec], note: slackBotToken, header: { Authorization: `Basic ${clientSecret}` } }, 'arrays and innocent names');
    const out = lines.join('\n');
    for (const secret of [rsa.d, rsa.p, rsa.q, rsa.dp, rsa.dq, rsa.qi, ec.d, clientSecret, slackBotToken, slackSigningSecret, kek]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[REDACTED]');
  });

  it('leave the logged object itself untouched', () => {
    const { log } = capture();
    const jwk = { ...ec };
    log.info({ privateJwk: jwk, again: { key: jwk }, deeper: { still: { privateKey: jwk } } }, 'same object, three paths');
    expect(jwk).toEqual(ec);
  });

  it('are one JSON object per line carrying the run as a correlation id', () => {
    const { lines, log } = capture();
    const run = log.child({ workflowId: 'rotate-x-1', runId: 'run-1' });
    run.info('first');
    run.warn({ phase: 'canary' }, 'second');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ workflowId: 'rotate-x-1', runId: 'run-1', service: 'keyturn' });
  });

  it('print bytes under any field name as "[redacted bytes]", never byte by byte', () => {
    const { lines, log } = capture();
    const key = randomBytes(32);
    log.info({ activeKey: key, view: new Uint8Array(key), raw: key.buffer.slice(key.byteOffset, key.byteOffset + key.length), data: new DataView(new Uint8Array(key).buffer) }, 'bytes');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ activeKey: '[redacted bytes]', view: '[redacted bytes]', raw: '[redacted bytes]', data: '[redacted bytes]' });
    expect(lines[0]).not.toContain(`"0":${key[0]!}`);
  });

  it('print a KeyObject or CryptoKey under any field name as "[redacted key]"', async () => {
    const { lines, log } = capture();
    const web = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
    log.info({ signing: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, wrapping: createSecretKey(randomBytes(32)), web }, 'keys');
    expect(JSON.parse(lines[0]!)).toMatchObject({ signing: '[redacted key]', wrapping: '[redacted key]', web: '[redacted key]' });
  });

  it('replace a JWT under any field name, alone or within text, with "[redacted jwt]"', () => {
    const { lines, log } = capture();
    const jwt = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from('{"sub":"agent"}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    log.info({ presented: jwt, note: `rejected ${jwt} at the gateway` }, 'jwt');
    expect(JSON.parse(lines[0]!)).toMatchObject({ presented: '[redacted jwt]', note: 'rejected [redacted jwt] at the gateway' });
  });

  it('redact a JWT or a Slack token within the message itself', () => {
    const { lines, log } = capture();
    const jwt = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from('{"sub":"agent"}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    log.warn(`refused ${jwt} from the gateway`);
    log.warn({ at: 'slack' }, slackBotToken);
    expect(JSON.parse(lines[0]!).msg).toBe('refused [redacted jwt] from the gateway');
    expect(JSON.parse(lines[1]!).msg).toBe('[REDACTED]');
  });

  it('redact format arguments (%j, %o) as fields are', () => {
    const { lines, log } = capture();
    const jwt = `eyJhbGciOiJFUzI1NiJ9.${Buffer.from('{"sub":"agent"}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    log.info('presented %j and %o', { presented: jwt }, { token: clientSecret });
    expect(lines[0]).not.toContain(jwt);
    expect(lines[0]).not.toContain(clientSecret);
  });

  it('take the redacted message of an error logged alone', () => {
    const { lines, log } = capture();
    log.error(new Error(`gateway sent ${slackBotToken}`));
    expect(lines[0]).not.toContain(slackBotToken);
  });

  it("redact a child logger's bindings", () => {
    const { lines, log } = capture();
    log.child({ authorization: `Bearer ${clientSecret}`, note: slackBotToken }).info('child');
    expect(lines[0]).not.toContain(clientSecret);
    expect(lines[0]).not.toContain(slackBotToken);
  });

  it('let only a compact JWS past redaction as public text, never a PEM key', () => {
    const { lines, log } = capture();
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    log.info({ jws: new PublicText(pem) }, 'not a checkpoint');
    expect(lines[0]).not.toContain('PRIVATE KEY');
  });

  it('print an audit checkpoint marked public as it is, for the witness check', () => {
    const { lines, log } = capture();
    const jws = `eyJhbGciOiJFZERTQSJ9.${Buffer.from('{"seq":5}').toString('base64url')}.${randomBytes(64).toString('base64url')}`;
    log.info({ jws: new PublicText(jws) }, 'audit checkpoint signed');
    expect(JSON.parse(lines[0]!).jws).toBe(jws);
  });

  it.each(['payloadKey', 'codecToken', 'refresh_token', 'refreshToken', 'access_token', 'client_secret', 'id_token', 'idToken'])('redact the value of a field named %s', (field) => {
    const { lines, log } = capture();
    log.info({ nested: { [field]: clientSecret } }, 'named');
    expect(JSON.parse(lines[0]!)).toMatchObject({ nested: { [field]: '[REDACTED]' } });
  });

  it('print an error as its type, code, message and stack, never its other properties', () => {
    const { lines, log } = capture();
    const rowQuote = `Key (secret)=(${clientSecret}) already exists.`;
    log.warn({ error: new KeyturnError('KEY_WRAP_FAILED', 'could not wrap', 'retry', { dataKey: kek, note: clientSecret }), cause: Object.assign(new Error('duplicate key'), { code: '23505', detail: rowQuote }) }, 'failed');
    const line = JSON.parse(lines[0]!) as Record<string, Record<string, unknown>>;
    expect(line.error).toMatchObject({ type: 'KeyturnError', code: 'KEY_WRAP_FAILED', message: 'could not wrap' });
    expect(Object.keys(line.error!).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(Object.keys(line.cause!).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(lines[0]).not.toContain(clientSecret);
  });
});
