import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KeyturnError } from '../../config/errors.js';
import { createLogger } from '../../infra/log/logger.js';
import { temporalLogger } from '../../workers/runtime.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, sdk: temporalLogger(createLogger({ name: 'temporal-test', level: 'trace' }, stream)) };
}

const secret = randomBytes(24).toString('base64url');

describe("the Temporal SDK's logs", () => {
  it("carry a failed activity's KeyturnError as its type, code and message, without its details", () => {
    const { lines, sdk } = capture();
    sdk.warn('Activity failed', { error: new KeyturnError('KEY_UNWRAP_FAILED', 'could not unwrap the key', 'check the KEK', { wrappedKey: secret, row: { note: secret } }), durationMs: 12 });
    expect(lines[0]).toMatchObject({ msg: 'Activity failed', durationMs: 12, error: { type: 'KeyturnError', code: 'KEY_UNWRAP_FAILED', message: 'could not unwrap the key' } });
    expect(lines[0]!.error).not.toHaveProperty('details');
    expect(JSON.stringify(lines)).not.toContain(secret);
  });

  it("carry a database error without its detail, which can quote whole rows", () => {
    const { lines, sdk } = capture();
    const pgError = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505', detail: `Key (client_secret)=(${secret}) already exists.`, table: 'clients' });
    sdk.warn('Activity failed', { error: pgError });
    expect(lines[0]!.error).toMatchObject({ code: '23505', message: 'duplicate key value violates unique constraint' });
    expect(lines[0]!.error).not.toHaveProperty('detail');
    expect(JSON.stringify(lines)).not.toContain(secret);
  });

  it('go through the redaction of keyturn logs', () => {
    const { lines, sdk } = capture();
    sdk.warn('Workflow log', { payloadKey: secret, bytes: randomBytes(32) });
    expect(lines[0]).toMatchObject({ payloadKey: '[REDACTED]', bytes: '[redacted bytes]', service: 'keyturn' });
  });

  it('keep the level the SDK gave each entry', () => {
    const { lines, sdk } = capture();
    sdk.warn('a warning');
    sdk.error('an error');
    expect(lines.map((l) => [l.msg, l.level])).toEqual([['a warning', 40], ['an error', 50]]);
  });

  it('leave out entries below the level the runtime was installed with', () => {
    const { lines, sdk } = capture();
    sdk.info('routine');
    sdk.debug('detail');
    expect(lines).toEqual([]);
  });
});
