import { describe, expect, it } from 'vitest';
import { parseWitnessLog } from './witness.js';

const line = (o: Record<string, unknown>) => JSON.stringify({ level: 30, time: '2030-01-01T00:00:00.000Z', service: 'keyturn', msg: 'audit checkpoint signed', ...o });
const signed = { seq: 7, headHash: 'h'.repeat(64), at: '2030-01-01T00:00:00.000Z', jws: 'a.b.c' };

describe('reading the checkpoints a worker logged', () => {
  it('reads each checkpoint line as a witness named by file and line', () => {
    const log = [JSON.stringify({ level: 30, msg: 'keyturn worker started' }), line(signed), ''].join('\n');
    expect(parseWitnessLog(log, 'worker.log')).toEqual({
      checkpoints: [{ id: 'worker.log:2', witness: 'worker.log:2', seq: '7', head_hash: signed.headHash, at: signed.at, jws: 'a.b.c' }],
      unreadable: [],
      mentions: [],
    });
  });

  it('skips lines about anything else, JSON or not', () => {
    expect(parseWitnessLog('plain text\n{"msg":"audit checkpoint not signed","seq":3}', 'w')).toEqual({ checkpoints: [], unreadable: [], mentions: [] });
  });

  it('reports a checkpoint line it cannot read instead of skipping it silently', () => {
    const log = [line({ ...signed, jws: undefined }), line({ ...signed, seq: '7' }), line({ ...signed, seq: 7.5 })].join('\n');
    expect(parseWitnessLog(log, 'w')).toEqual({ checkpoints: [], unreadable: [1, 2, 3], mentions: [] });
  });

  it('skips, and counts, lines that only mention the message: a pretty-printed copy, or text inside another line', () => {
    const log = [
      '[12:00] INFO audit checkpoint signed seq=7',
      JSON.stringify({ msg: 'a sign-off check got no answer of its own', error: 'audit checkpoint signed' }),
      line(signed),
    ].join('\n');
    expect(parseWitnessLog(log, 'w')).toMatchObject({ checkpoints: [{ seq: '7' }], unreadable: [], mentions: [1] });
  });
});
