import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'node:querystring';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  /** Whether a bearer token came with the call (its value is not kept). */
  authorized: boolean;
}

/**
 * A stand-in for Slack's Web API (and response_url endpoints): records every call and answers
 * plausibly, as Slack would for a bot with chat:write, commands and usergroups:read.
 */
export interface FakeSlack {
  apiUrl: string;
  responseUrl(id: string): string;
  calls: SlackCall[];
  callsTo(method: string): SlackCall[];
  /** Members of each user group, answered by usergroups.users.list. */
  groups: Record<string, string[]>;
  /** Methods Slack refuses, with the error it names (`{ok: false, error}`), as for a channel the bot left. */
  refusing: Record<string, string>;
  /** User groups whose member lookup Slack refuses, with the error it names. */
  refusingGroups: Record<string, string>;
  stop(): Promise<void>;
}

const read = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

function parseArgs(contentType: string | undefined, text: string): Record<string, unknown> {
  if (!text) return {};
  if (contentType?.startsWith('application/json')) return JSON.parse(text) as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parse(text))) {
    const s = Array.isArray(v) ? v[0] : v;
    try {
      args[k] = typeof s === 'string' && /^[[{]/.test(s) ? JSON.parse(s) : s;
    } catch {
      args[k] = s;
    }
  }
  return args;
}

export async function startFakeSlack(opts: { teamId: string; groups?: Record<string, string[]> }): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const groups: Record<string, string[]> = { ...(opts.groups ?? {}) };
  const refusing: Record<string, string> = {};
  const refusingGroups: Record<string, string> = {};
  let seq = 100;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const url = req.url ?? '/';
      const json = (status: number, o: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (url.startsWith('/response/')) {
        calls.push({ method: 'response_url', args: { ...parseArgs(req.headers['content-type'], body), id: url.slice('/response/'.length) }, authorized: false });
        res.writeHead(200);
        res.end('ok');
        return;
      }
      const method = url.replace(/^\/api\//, '').split('?')[0]!;
      const args = parseArgs(req.headers['content-type'], body);
      calls.push({ method, args, authorized: typeof req.headers.authorization === 'string' && req.headers.authorization.startsWith('Bearer ') });
      if (refusing[method]) return json(200, { ok: false, error: refusing[method] });
      switch (method) {
        case 'auth.test':
          return json(200, { ok: true, url: 'https://keyturn-test.slack.com/', team: 'keyturn-test', user: 'keyturn', team_id: opts.teamId, user_id: 'UBOT0001', bot_id: 'BBOT0001' });
        case 'chat.postMessage': {
          const ts = `1700000000.${String(seq++).padStart(6, '0')}`;
          return json(200, { ok: true, channel: args.channel, ts, message: { type: 'message', text: args.text, ts, bot_id: 'BBOT0001' } });
        }
        case 'chat.update':
          return json(200, { ok: true, channel: args.channel, ts: args.ts, text: args.text });
        case 'chat.postEphemeral':
          return json(200, { ok: true, message_ts: `1700000000.${String(seq++).padStart(6, '0')}` });
        case 'usergroups.users.list':
          if (refusingGroups[String(args.usergroup)]) return json(200, { ok: false, error: refusingGroups[String(args.usergroup)] });
          return json(200, { ok: true, users: groups[String(args.usergroup)] ?? [] });
        case 'views.open':
          return json(200, { ok: true, view: { id: `V${seq++}`, ...(args.view as object) } });
        default:
          return json(200, { ok: true });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: `${base}/api/`,
    responseUrl: (id) => `${base}/response/${id}`,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    groups,
    refusing,
    refusingGroups,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
