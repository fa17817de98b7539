import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { envForOtherPrograms } from '../../infra/process.js';
import { buildGoBinaries, findGo, isExecutable, keyturnCacheBase, TOOLS_MODULE_DIR, type Say } from '../../infra/temporal/cli.js';

/** Bump with the server release in tools/temporal-cli/go.mod. */
const SERVER_BUILD_ID = 'server-1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';

/** Temporal's standalone server and SQL schema tool: what compose runs, from the release the CLI pins. */
export interface TemporalServerTools {
  server: string;
  sqlTool: string;
  /** schema/postgresql/v12 of that release: `temporal/versioned` and `visibility/versioned`. */
  postgresSchemaDir: string;
}

/**
 * Builds `temporal-server` and `temporal-sql-tool` from the Go module proxy into keyturn's cache
 * when missing (the tests that run Temporal on PostgreSQL as compose does need them), saying so.
 */
export async function ensureTemporalServerTools(say: Say): Promise<TemporalServerTools> {
  const out = join(keyturnCacheBase(), 'temporal', SERVER_BUILD_ID);
  const tools = { server: join(out, 'temporal-server'), sqlTool: join(out, 'temporal-sql-tool') };
  const missing = ([['server', `${SERVER_MODULE}/cmd/server`], ['sqlTool', `${SERVER_MODULE}/cmd/tools/sql`]] as const).filter(([k]) => !isExecutable(tools[k]));
  const go = findGo();
  if (missing.length) {
    mkdirSync(out, { recursive: true });
    say(`[keyturn] building Temporal ${SERVER_BUILD_ID} server and SQL tool with ${go} into ${out} (first time only: a few minutes)`);
    const seconds = await buildGoBinaries(say, 'Temporal server tools', go, missing.map(([key, pkg]) => ({ pkg, target: tools[key] })));
    say(`[keyturn] built Temporal server tools in ${seconds}s`);
  }
  const moduleDir = execFileSync(go, ['list', '-m', '-f', '{{.Dir}}', SERVER_MODULE], { cwd: TOOLS_MODULE_DIR, encoding: 'utf8', env: { ...envForOtherPrograms(), GOFLAGS: '-mod=readonly' } }).trim();
  return { ...tools, postgresSchemaDir: join(moduleDir, 'schema', 'postgresql', 'v12') };
}
