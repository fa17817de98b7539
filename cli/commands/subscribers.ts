import type { Command } from 'commander';
import { loadDevRevocationNoticeKey, loadRevocationNoticeKey } from '../../agents/revocation-responder/notice.js';
import { owedNoticeCounts } from '../../agents/revocation-responder/notice-outbox.js';
import { activePolicy } from '../../agents/planner/policy-store.js';
import { addSubscriber, listSubscribers, setSubscriberDisabled, setSubscriberIssuers, subscriberAddressPolicy, type Subscriber } from '../../agents/revocation-responder/webhooks.js';
import type { Queryable } from '../../agents/shared/db.js';
import { readSecretFile } from '../../agents/shared/secret-file.js';
import { KeyturnError } from '../../config/errors.js';
import { listOf, listOrAll } from '../list-args.js';
import { formatTable } from '../table.js';
import { withContext } from '../context.js';
import { auditContext } from './clients.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`${line}\n`);
const toldOf = (s: Subscriber) => (s.issuers ? `the revocations of ${s.issuers.join(', ')}` : 'every revocation notice');

/**
 * Issuers the policy in force does not name are most likely typos (a trailing slash, say): none of
 * them named is refused (the subscriber would be told nothing), some is warned about, before anything
 * is written, as a subscriber may be set up before the policy change that adds its issuer.
 */
async function checkKnownIssuers(db: Queryable, issuers: string[]): Promise<void> {
  const active = await activePolicy(db);
  if (!active) {
    warn('warning: no keyturn policy is in force yet, so these issuers were not checked against it.');
    return;
  }
  const known = active.policy.issuers.map((i) => i.issuer);
  const unknown = issuers.filter((i) => !known.includes(i));
  if (unknown.length === issuers.length) {
    throw new KeyturnError('SUBSCRIBER_INVALID', `the policy in force has no issuer ${unknown.join(', ')}: the subscriber would be told of nothing`, `Name issuers exactly as the policy does (${known.join(', ')}).`);
  }
  if (unknown.length > 0) warn(`warning: the policy in force has no issuer ${unknown.join(', ')}; the subscriber is told of its revocations once it does.`);
}

/** A subscriber's url without its path or query, which often embed a secret. */
const origin = (url: string) => `${new URL(url).origin}/…`;

/** `SUBSCRIBER  URL  STATUS  ISSUERS  OWED  SINCE`: the url as its origin only; OWED counts the notices not delivered yet. */
export function formatSubscriberTable(subscribers: Subscriber[], owed: ReadonlyMap<string, number>): string {
  const header = ['SUBSCRIBER', 'URL', 'STATUS', 'ISSUERS', 'OWED', 'SINCE'];
  const rows = subscribers.map((s) => [s.id, origin(s.url), s.disabled ? 'disabled' : 'enabled', s.issuers?.join(',') ?? 'all', String(owed.get(s.id) ?? 0), s.createdAt]);
  return formatTable(header, rows);
}

interface DeliveryRow extends Record<string, unknown> {
  attempted_at: Date;
  event: string;
  notice_jti: string;
  outcome: string;
  http_status: number | null;
  error: string | null;
}

async function deliveries(db: Queryable, id: string, limit: number): Promise<DeliveryRow[]> {
  const res = await db.query<DeliveryRow>(
    `SELECT attempted_at, event, notice_jti, outcome, http_status, error FROM revocation_deliveries WHERE subscriber_id = $1 ORDER BY id DESC LIMIT $2`,
    [id, limit],
  );
  return res.rows.reverse();
}

/** The url argument, or the first line of --url-file (a secret file: 0600, owned by this user); exactly one. */
function subscriberUrl(given: string | undefined, file: string | undefined): string {
  if ((given === undefined) === (file === undefined)) {
    throw new KeyturnError('INVALID_ARGUMENT', 'give the subscriber url either as an argument or with --url-file, not both', 'e.g. `keyturn subscribers add billing --url-file ./billing-hook.url`.');
  }
  return given ?? readSecretFile(file!).split(/\r?\n/, 1)[0]!.trim();
}

export function registerSubscribers(program: Command): void {
  const subscribers = program.command('subscribers').description('downstream systems told of every revocation with a signed notice (webhooks)');

  subscribers
    .command('add <id> [url]')
    .description('register a subscriber: https, or http to this machine only; an IP address must be public or in KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS; audited')
    .option('--issuers <list>', 'comma-separated issuer urls: it is told of their revocations only (default: every issuer)')
    .option('--url-file <file>', 'read the url from this file (mode 0600) instead: a url that carries a secret stays out of the process list and shell history')
    .action((id: string, given: string | undefined, opts: { issuers?: string; urlFile?: string }) =>
      withContext(async (ctx) => {
        const url = subscriberUrl(given, opts.urlFile);
        // Against the `npm run dev` database, loopback is allowed as the dev worker allows it.
        const addresses = subscriberAddressPolicy(ctx.env, { dev: ctx.local !== undefined && !ctx.env.DATABASE_URL });
        const issuers = opts.issuers === undefined ? undefined : listOf(opts.issuers);
        if (issuers) await checkKnownIssuers(ctx.db(), issuers);
        const s = await addSubscriber(ctx.db(), { id, url, ...(issuers ? { issuers } : {}) }, auditContext(ctx), { addresses });
        out(`subscriber ${s.id} (${origin(s.url)}) gets ${toldOf(s)} from now on${s.disabled ? ', once enabled again (it is disabled)' : ''}`);
      }),
    );

  subscribers
    .command('set-issuers <id> [issuers]')
    .description('limit the issuers whose revocations a subscriber is told of (comma-separated urls), or tell it of every issuer again with --all; audited')
    .option('--all', 'every issuer (the default for a new subscriber)')
    .action((id: string, list: string | undefined, opts: { all?: boolean }) =>
      withContext(async (ctx) => {
        const issuers = listOrAll(list, opts.all, 'issuers', 'keyturn subscribers set-issuers billing https://auth.example.com');
        if (issuers) await checkKnownIssuers(ctx.db(), issuers);
        const s = await setSubscriberIssuers(ctx.db(), id, issuers, auditContext(ctx));
        out(`subscriber ${s.id} gets ${toldOf(s)} from now on`);
      }),
    );

  subscribers
    .command('list')
    .description('every subscriber, enabled or not (urls shown as their origin), and how many notices it is owed')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      withContext(async (ctx) => {
        const [all, owed] = await Promise.all([listSubscribers(ctx.db(), { includeDisabled: true }), owedNoticeCounts(ctx.db())]);
        if (opts.json) out(JSON.stringify(all.map((s) => ({ ...s, url: origin(s.url), owed: owed.get(s.id) ?? 0 })), null, 2));
        else out(all.length === 0 ? 'no subscribers' : formatSubscriberTable(all, owed));
      }),
    );

  for (const [command, disabled, said] of [['disable', true, 'gets no notice from now on'], ['enable', false, 'gets every revocation notice again']] as const) {
    subscribers
      .command(`${command} <id>`)
      .description(`${command} deliveries to a subscriber; audited`)
      .action((id: string) =>
        withContext(async (ctx) => {
          await setSubscriberDisabled(ctx.db(), id, disabled, auditContext(ctx));
          out(`subscriber ${id} ${said}`);
        }),
      );
  }

  subscribers
    .command('key')
    .description("the public key subscribers verify notices with, as a JWKS (never the private key)")
    .action(() =>
      withContext(async (ctx) => {
        // A machine running `npm run dev` (its runtime file is in the data directory) keeps a generated notice key there.
        const signer = ctx.local ? await loadDevRevocationNoticeKey(ctx.env.dataDir, process.env, (m) => process.stderr.write(`${m}\n`)) : await loadRevocationNoticeKey({ env: process.env });
        out(JSON.stringify({ keys: [signer.publicJwk] }, null, 2));
      }),
    );

  subscribers
    .command('deliveries <id>')
    .description("a subscriber's latest delivery attempts, oldest first: what it was told, and what failed")
    .option('-n <count>', 'how many', '20')
    .action((id: string, opts: { n: string }) =>
      withContext(async (ctx) => {
        const n = Number(opts.n);
        if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new KeyturnError('INVALID_ARGUMENT', `-n ${opts.n} is not a count between 1 and 10000`, 'Pass a whole number, e.g. -n 50.');
        const rows = await deliveries(ctx.db(), id, n);
        if (rows.length === 0) out(`no delivery to ${id} yet`);
        for (const r of rows) out(`${r.attempted_at.toISOString()}  ${r.event}  ${r.notice_jti}  ${r.outcome}${r.http_status ? ` ${r.http_status}` : ''}${r.error ? `  ${r.error}` : ''}`);
      }),
    );
}
