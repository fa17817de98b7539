import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyturnError } from '../../config/errors.js';
import { envForOtherPrograms } from '../process.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The tools module pins the CLI release and the patched server it is built against. */
export const TOOLS_MODULE_DIR = resolve(here, '../../tools/temporal-cli');
export const CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';
export const CLI_VERSION = '1.5.1';
/** Bump together with tools/temporal-cli/go.mod so that caches never mix builds. */
export const CLI_BUILD_ID = 'cli-1.5.1-server-1.29.1';

/** Where keyturn caches what it builds: KEYTURN_CACHE_DIR, else the XDG cache. */
export function keyturnCacheBase(): string {
  return process.env.KEYTURN_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'keyturn');
}

export function cacheDir(): string {
  return join(keyturnCacheBase(), 'temporal', CLI_BUILD_ID);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A `temporal` named by KEYTURN_TEMPORAL_CLI, on PATH, or in the cache; undefined when there is none. */
export function findTemporalCli(): string | undefined {
  const explicit = process.env.KEYTURN_TEMPORAL_CLI;
  if (explicit) {
    if (!isExecutable(explicit)) {
      throw new KeyturnError('TEMPORAL_CLI_NOT_EXECUTABLE', `KEYTURN_TEMPORAL_CLI=${explicit} is not an executable file`, 'Point it at a temporal binary or unset it so keyturn builds one.');
    }
    return explicit;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  const cached = join(cacheDir(), 'temporal');
  return isExecutable(cached) ? cached : undefined;
}

export function findGo(): string {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'go')), '/usr/local/go/bin/go'];
  const go = candidates.find((c) => c && isExecutable(c));
  if (!go) {
    throw new KeyturnError('GO_MISSING', 'temporal CLI not found and Go is not installed, so it cannot be built', 'Install Go 1.25+ (https://go.dev/dl) or put a `temporal` binary on PATH.');
  }
  return go;
}

export type Say = (line: string) => void;

/** Returns a usable `temporal` binary, building it from the Go module proxy into the cache when missing. */
export async function ensureTemporalCli(say: Say = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  const go = findGo();
  const out = cacheDir();
  mkdirSync(out, { recursive: true });
  const target = join(out, 'temporal');
  say(`[keyturn] temporal CLI not found; building ${CLI_BUILD_ID} with ${go} into ${out}`);
  say('[keyturn] first build downloads modules and compiles the server: expect several minutes; later runs reuse it');
  const seconds = await buildGoBinaries(say, 'temporal CLI', go, [{ pkg: CLI_PACKAGE, target, flags: ['-ldflags', `-X github.com/temporalio/cli/temporalcli.Version=${CLI_VERSION}`] }]);
  say(`[keyturn] built temporal CLI in ${seconds}s: ${target}`);
  return target;
}

/**
 * Builds Go packages of the tools module into their targets (each written whole, never half), saying
 * every 30 s that `what` is still building; returns the seconds it took. Each build writes a file of
 * its own and renames it into place, so two processes building at once (test runs) both succeed.
 */
export async function buildGoBinaries(say: Say, what: string, go: string, builds: Array<{ pkg: string; target: string; flags?: string[] }>): Promise<number> {
  const started = Date.now();
  const ticker = setInterval(() => say(`[keyturn] still building ${what}… ${Math.round((Date.now() - started) / 1000)}s`), 30_000);
  try {
    await runBuildStep(go, ['mod', 'download'], TOOLS_MODULE_DIR);
    for (const { pkg, target, flags = [] } of builds) {
      const partial = `${target}.${process.pid}.partial`;
      try {
        await runBuildStep(go, ['build', '-trimpath', ...flags, '-o', partial, pkg], TOOLS_MODULE_DIR);
        renameSync(partial, target);
      } finally {
        rmSync(partial, { force: true });
      }
    }
  } finally {
    clearInterval(ticker);
  }
  return Math.round((Date.now() - started) / 1000);
}

/** One step of a Go build, its output shown; fails with TEMPORAL_CLI_BUILD_FAILED. */
function runBuildStep(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: { ...envForOtherPrograms(), GOFLAGS: '-mod=readonly' } });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolvePromise();
      else reject(new KeyturnError('TEMPORAL_CLI_BUILD_FAILED', `\`${cmd} ${args.join(' ')}\` exited with ${code}`, 'Read the Go output above; check that the Go module proxy is reachable.'));
    });
  });
}

export function temporalCliVersion(bin: string): string {
  return spawnSync(bin, ['--version'], { encoding: 'utf8', env: envForOtherPrograms() }).stdout.trim();
}
