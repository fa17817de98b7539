/**
 * The HTTP load generator: a child process (forked by bench/stack.ts) so that its own CPU time is
 * not charged to the server under test. It receives jobs over IPC and answers with counts. Each of
 * `connections` loops sends one request at a time on a keep-alive connection. It uses undici (the
 * faster client) when node_modules has it, else node:http with a keep-alive Agent.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type * as UndiciModule from 'undici';

export interface LoadJob {
  id: number;
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** One body per request, each sent once (e.g. never-seen tokens): the job ends early when they run out. Replaces `body`. */
  bodies?: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Status codes that count as success. */
  expectStatus: number[];
  /** A substring a successful response body must contain. */
  expectBody?: string;
}

export interface LoadResult {
  id: number;
  ok: number;
  errors: number;
  elapsedMs: number;
  opsPerSec: number;
  /** CPU the generator itself used during the timed part, in cores (1 = one core busy). */
  generatorCores: number;
  /** Requests of the whole job (warm-up included), to share out the server's CPU time. */
  totalRequests: number;
  /** True when `bodies` ran out before the timed part's end. */
  exhausted?: boolean;
  firstError?: string;
}

export interface LoadReady {
  ready: true;
  client: string;
}

interface Response {
  status: number;
  text?: string;
}

interface Sender {
  send(body: string | undefined): Promise<Response>;
  close(): Promise<void>;
}

type Undici = typeof UndiciModule;
const undici: Undici | undefined = await import('undici').catch(() => undefined);

function undiciSender(u: Undici, job: LoadJob): Sender {
  const url = new URL(job.url);
  const pool = new u.Pool(url.origin, { connections: job.connections, pipelining: 1 });
  const path = `${url.pathname}${url.search}`;
  return {
    async send(body) {
      const res = await pool.request({ path, method: job.method, headers: job.headers, ...(body !== undefined ? { body } : {}) });
      if (job.expectBody === undefined && job.expectStatus.includes(res.statusCode)) {
        await res.body.dump();
        return { status: res.statusCode };
      }
      return { status: res.statusCode, text: await res.body.text() };
    },
    close: () => pool.close(),
  };
}

function nodeHttpSender(job: LoadJob): Sender {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections, maxFreeSockets: job.connections });
  const url = new URL(job.url);
  return {
    send: (text) =>
      new Promise<Response>((resolve, reject) => {
        const body = text === undefined ? undefined : Buffer.from(text, 'utf8');
        const headers = body ? { ...job.headers, 'content-length': String(body.length) } : job.headers;
        const req = http.request(url, { method: job.method, headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: async () => agent.destroy(),
  };
}

async function run(job: LoadJob): Promise<LoadResult> {
  const sender = undici ? undiciSender(undici, job) : nodeHttpSender(job);
  let firstError: string | undefined;
  let nextBody = 0;
  let bodyCap = 0;
  const bodiesLeft = () => job.bodies === undefined || nextBody < bodyCap;
  const one = async (): Promise<boolean> => {
    try {
      const r = await sender.send(job.bodies === undefined ? job.body : job.bodies[nextBody++]);
      const ok = job.expectStatus.includes(r.status) && (job.expectBody === undefined || (r.text ?? '').includes(job.expectBody));
      if (!ok) firstError ??= `HTTP ${r.status}: ${(r.text ?? '').slice(0, 200)}`;
      return ok;
    } catch (e) {
      firstError ??= (e as Error).message;
      return false;
    }
  };
  /** `bodies`: how many of the job's bodies may have been sent by the phase's end. */
  const phase = async (ms: number, bodies: number) => {
    bodyCap = bodies;
    const cpu = process.cpuUsage();
    const start = performance.now();
    const end = start + ms;
    let ok = 0;
    let errors = 0;
    const loop = async () => {
      while (performance.now() < end && bodiesLeft()) {
        if (await one()) ok++;
        else errors++;
      }
    };
    await Promise.all(Array.from({ length: job.connections }, loop));
    const elapsedMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    return { ok, errors, elapsedMs, generatorCores: (used.user + used.system) / 1000 / elapsedMs, exhausted: !bodiesLeft() && elapsedMs < ms };
  };
  try {
    // The warm-up sends at most a fifth of the bodies, so the timed part has its own never-sent ones.
    const all = job.bodies?.length ?? 0;
    const w = await phase(job.warmupMs, Math.floor(all / 5));
    firstError = undefined;
    const r = await phase(job.durationMs, all);
    return { id: job.id, ...r, totalRequests: w.ok + w.errors + r.ok + r.errors, opsPerSec: r.elapsedMs > 0 ? (r.ok * 1000) / r.elapsedMs : 0, ...(firstError ? { firstError } : {}) };
  } finally {
    await sender.close();
  }
}

if (process.send) {
  process.on('message', (msg: LoadJob | { stop: true }) => {
    if ('stop' in msg) {
      process.disconnect();
      return;
    }
    run(msg).then(
      (r) => process.send!(r),
      (e: unknown) => process.send!({ id: msg.id, ok: 0, errors: 1, elapsedMs: 0, opsPerSec: 0, generatorCores: 0, totalRequests: 0, firstError: String(e) } satisfies LoadResult),
    );
  });
  const version = undici ? ((await import('undici/package.json', { with: { type: 'json' } }).catch(() => undefined))?.default as { version?: string } | undefined)?.version : undefined;
  process.send({ ready: true, client: undici ? `undici${version ? ` ${version}` : ''}` : 'node:http' } satisfies LoadReady);
}
