import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { kekFromEnv, kekId, LocalKekProvider, loadOrCreateDevKek, parseKekRing, readKekFile } from './kek.js';

const dir = () => mkdtempSync(join(tmpdir(), 'keyturn-kek-'));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isKeyturnError(e) ? e.code : 'non-keyturn';
  }
}

function kekFile(mode: number, content = `${randomBytes(32).toString('base64')}\n`): string {
  const path = join(dir(), 'kek');
  writeFileSync(path, content, { mode });
  return path;
}

describe('local KEK', () => {
  it('is identified by the first 16 hex characters of its sha256', () => {
    const raw = randomBytes(32);
    expect(new LocalKekProvider(raw).id).toBe(createHash('sha256').update(raw).digest('hex').slice(0, 16));
  });

  it('reads KEYTURN_KEK as base64 of 32 bytes', () => {
    const raw = randomBytes(32);
    expect(kekFromEnv({ KEYTURN_KEK: raw.toString('base64') })?.id).toBe(new LocalKekProvider(raw).id);
  });

  it('refuses a KEYTURN_KEK that is not 32 bytes with KEK_INVALID', () => {
    expect(codeOf(() => kekFromEnv({ KEYTURN_KEK: randomBytes(16).toString('base64') }))).toBe('KEK_INVALID');
  });

  it('refuses both KEYTURN_KEK and KEYTURN_KEK_FILE at once', () => {
    expect(codeOf(() => kekFromEnv({ KEYTURN_KEK: randomBytes(32).toString('base64'), KEYTURN_KEK_FILE: kekFile(0o600) }))).toBe('KEK_CONFIG_AMBIGUOUS');
  });

  it('reads a KEYTURN_KEK_FILE with mode 0600', () => {
    expect(kekFromEnv({ KEYTURN_KEK_FILE: kekFile(0o600) })?.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a KEK file with mode 0644 with SECRET_FILE_PERMISSIONS', () => {
    const path = kekFile(0o644);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(codeOf(() => readKekFile(path))).toBe('SECRET_FILE_PERMISSIONS');
  });

  it('does not reveal the KEK through JSON or inspection', () => {
    const raw = randomBytes(32);
    const kek = new LocalKekProvider(raw);
    const shown = JSON.stringify(kek) + inspect(kek, { showHidden: true, depth: 5 });
    for (const enc of ['base64', 'hex', 'base64url'] as const) expect(shown).not.toContain(raw.toString(enc));
  });

  it('never echoes a bad KEK value in its error', () => {
    const bad = 'not-a-kek-but-maybe-a-secret-value';
    try {
      kekFromEnv({ KEYTURN_KEK: bad });
    } catch (e) {
      expect((e as Error).message).not.toContain(bad);
      return;
    }
    throw new Error('expected a refusal');
  });
});

describe('development KEK', () => {
  it('is generated at <dataDir>/kek with mode 0600 and a warning flag', () => {
    const d = dir();
    const dev = loadOrCreateDevKek(d);
    expect(dev.path).toBe(join(d, 'kek'));
    expect(dev.created).toBe(true);
    expect(dev.warn).toBe(true);
    expect(statSync(dev.path).mode & 0o777).toBe(0o600);
  });

  it('is reused on the next start', () => {
    const d = dir();
    const first = loadOrCreateDevKek(d);
    const second = loadOrCreateDevKek(d);
    expect(second.created).toBe(false);
    expect(second.provider.id).toBe(first.provider.id);
  });
});

describe('a KEK file with more than one line', () => {
  it('seals with the first KEK and keeps the others for opening only, showing their ids and never their bytes', () => {
    const [first, second] = [randomBytes(32), randomBytes(32)];
    const ring = parseKekRing(`${first.toString('base64')}\n${second.toString('base64')}\n`, 'test');
    expect(ring.id).toBe(kekId(first));
    expect(ring.olderIds).toEqual([kekId(second)]);
    const shown = JSON.stringify(ring) + inspect(ring, { showHidden: true, depth: 5 });
    for (const k of [first, second]) expect(shown).not.toContain(k.toString('base64'));
  });

  it('refuses a second line that is not a KEK with KEK_INVALID, without echoing it', () => {
    expect(() => parseKekRing(`${randomBytes(32).toString('base64')}\nnot-a-kek-at-all`, 'test')).toThrow(expect.objectContaining({ code: 'KEK_INVALID', message: expect.not.stringContaining('not-a-kek') }));
  });
});
