/**
 * `npm run bench [-- --seconds 2] [--quick] [--write] [--connections 16] [--only sign,verify,jwks,rotation,revocation] [--algs RS256,ES256]`
 *
 * Prints one table: every row with the baseline it is compared with (measured in this run), the
 * ratio, and the goal from the issue where there is one. `--write` also overwrites BENCHMARKS.md.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SigningAlgorithm } from '../agents/planner/policy-types.js';
import { jwksRows } from './jwks.js';
import type { Timing } from './measure.js';
import { revocationRows } from './revocation.js';
import { rotationRows } from './rotation.js';
import { signRows } from './sign.js';
import { ALGORITHMS, startBenchStack, type BenchContext } from './stack.js';
import { benchmarksDocument, machineLines, renderTable, summaryLines, type Row, type RunInfo } from './table.js';
import { verifyRows } from './verify.js';

const GROUPS = ['sign', 'verify', 'jwks', 'rotation', 'revocation'] as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      connections: { type: 'string' },
      only: { type: 'string' },
      algs: { type: 'string' },
    },
    strict: true,
  });
  const num = (v: string | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const seconds = num(values.seconds, 'seconds', values.quick ? 0.3 : 2);
  const timing: Timing = { seconds, warmupSeconds: num(values.warmup, 'warmup', values.quick ? 0.1 : Math.min(1, seconds / 2)) };
  const connections = Math.round(num(values.connections, 'connections', 16));
  const only = new Set(values.only ? values.only.split(',').map((s) => s.trim()) : GROUPS);
  for (const g of only) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown group ${g} (use ${GROUPS.join(', ')})`);
  const algs = values.algs ? values.algs.split(',').map((s) => s.trim() as SigningAlgorithm) : [...ALGORITHMS];
  for (const a of algs) if (!ALGORITHMS.includes(a)) throw new Error(`--algs: unknown algorithm ${a} (use ${ALGORITHMS.join(', ')})`);

  const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}` : `tsx bench/run.ts ${argv.join(' ')}`.trim();
  const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  const stack = await startBenchStack(say);
  const info: RunInfo = { command, date: new Date(), seconds: timing.seconds, warmupSeconds: timing.warmupSeconds, connections, loadClient: stack.load.client };
  process.stdout.write(`${machineLines(info).join('\n')}\n\n`);
  const rows: Row[] = [];
  try {
    const ctx: BenchContext = { stack, timing, connections, quick: values.quick, say };
    if (only.has('sign')) for (const alg of algs) rows.push(...(await signRows(ctx, alg)));
    if (only.has('verify')) for (const alg of algs) rows.push(...(await verifyRows(ctx, alg)));
    if (only.has('jwks')) rows.push(...(await jwksRows(ctx)));
    if (only.has('rotation')) rows.push(...(await rotationRows(ctx)));
    if (only.has('revocation')) rows.push(...(await revocationRows(ctx)));
  } finally {
    say('stopping…');
    await stack.stop();
  }

  process.stdout.write(`${renderTable(rows)}\n\n${summaryLines(rows).join('\n')}\n`);
  if (values.write) {
    const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'BENCHMARKS.md');
    writeFileSync(path, benchmarksDocument(rows, info));
    say(`wrote ${path}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
