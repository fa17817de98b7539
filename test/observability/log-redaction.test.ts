import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../infra/log/logger.js';

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
});
