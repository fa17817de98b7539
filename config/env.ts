import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { KeyturnError } from './errors.js';

const port = z.coerce.number().int().min(1).max(65535);

/** https anywhere, or http to this machine only; anything unparseable is refused (by `.url()` as well). */
function secureOrLoopback(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || (protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(hostname));
}

/** An optional variable set to the empty string counts as unset (compose passes `VAR:` through empty). */
function unsetWhenEmpty<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === '' ? undefined : v), schema);
}

/** Every environment variable keyturn reads; the README's table mirrors this schema. */
const EnvSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  /**
   * `check` (the worker's and the HTTP service's default): the process migrates nothing and refuses
   * to start while a migration is pending or while its login is more than keyturn_app; migrations run
   * from `keyturn db migrate` with KEYTURN_DB_ADMIN_URL. `apply` (`npm run dev`'s default): it
   * migrates at start, so DATABASE_URL must own keyturn's tables.
   */
  KEYTURN_MIGRATIONS: unsetWhenEmpty(z.enum(['apply', 'check']).optional()),
  /** The table owner's login, read by `keyturn db migrate` only; long-running processes never need it. */
  KEYTURN_DB_ADMIN_URL: unsetWhenEmpty(z.string().url().optional()),
  /** Temporal's own PostgreSQL login, created by `keyturn db temporal-login` (compose's temporal-db-login job). */
  KEYTURN_TEMPORAL_DB_USER: unsetWhenEmpty(z.string().min(1).default('temporal')),
  KEYTURN_TEMPORAL_DB_PASSWORD: unsetWhenEmpty(z.string().optional()),
  TEMPORAL_ADDRESS: z.string().min(3).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  KEYTURN_TASK_QUEUE: z.string().min(1).default('keyturn'),
  KEYTURN_TEMPORAL_PORT: port.default(7233),
  KEYTURN_TEMPORAL_UI_PORT: port.default(8233),
  KEYTURN_TEMPORAL_UI_URL: z.string().url().optional(),
  KEYTURN_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  KEYTURN_HTTP_PORT: port.default(8080),
  KEYTURN_PG_PORT: port.default(5433),
  KEYTURN_DATA_DIR: z.string().min(1).default('.keyturn'),
  KEYTURN_POLICY: z.string().min(1).default('policy.md'),
  /** Where relying parties reach this deployment's HTTP service; default http://KEYTURN_HTTP_HOST:KEYTURN_HTTP_PORT. */
  KEYTURN_PUBLIC_URL: unsetWhenEmpty(z.string().url().optional()),
  SLACK_SIGNING_SECRET: z.string().min(16).optional(),
  SLACK_BOT_TOKEN: z.string().startsWith('xoxb-').optional(),
  /** Socket Mode instead of the HTTP receiver when set. */
  SLACK_APP_TOKEN: z.string().startsWith('xapp-').optional(),
  SLACK_APP_ID: z.string().min(1).optional(),
  SLACK_TEAM_ID: z.string().min(1).optional(),
  /** Web API base URL; only for a stand-in in tests. The bot token goes to it: https, or http to this machine only. */
  SLACK_API_URL: z.string().url().refine(secureOrLoopback, 'must be https (the bot token is sent to it), or http to 127.0.0.1, ::1 or localhost for a local stand-in').optional(),
  /**
   * The reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the
   * client: behind a TLS proxy every request otherwise comes from the proxy's address, and one
   * address's failed authentications would lock every client out. Default: none trusted.
   */
  KEYTURN_TRUST_PROXY: unsetWhenEmpty(addressList('10.0.0.5,10.1.0.0/16').optional()),
  /**
   * The non-public networks (addresses or CIDR ranges, comma-separated) revocation subscribers may
   * be reached on: loopback, private, link-local and other special ranges are refused at every
   * connection unless listed here. Default: none (`npm run dev`: loopback).
   */
  KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS: unsetWhenEmpty(addressList('10.20.0.0/16,fd00:1::/64', (s) => isAddressOrRange(s) && !s.includes('%')).optional()),
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  KEYTURN_METRICS_TOKEN: unsetWhenEmpty(z.string().min(16).optional()),
  /** The worker process's own /metrics port (production; in dev the HTTP service serves them). */
  KEYTURN_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Browser origins that may use /codec/decode with an operator session; default: the Temporal Web UI. */
  KEYTURN_CODEC_ALLOWED_ORIGINS: z.string().min(1).optional(),
  KEYTURN_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

/** A comma-separated list of addresses or CIDR ranges, at least one; a bad entry is named in the error. */
function addressList(example: string, accept: (entry: string) => boolean = isAddressOrRange) {
  return z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
    .superRefine((list, ctx) => {
      const bad = list.find((s) => !accept(s));
      if (list.length === 0 || bad !== undefined) {
        const what = bad === undefined ? 'no address in it' : `${JSON.stringify(bad)} is not an IP address or CIDR range`;
        ctx.addIssue({ code: 'custom', message: `${what}; expected a comma-separated list of IP addresses or CIDR ranges, such as ${example}` });
      }
    });
}

/** Dotted-quad IPv4 or IPv6, alone or as a CIDR range (no `10.1` or hex shorthands). */
function isAddressOrRange(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv4.isValidCIDRFourPartDecimal(s) || ipaddr.IPv6.isValid(s) || ipaddr.IPv6.isValidCIDR(s);
}

export type Env = z.infer<typeof EnvSchema> & { dataDir: string; publicUrl: string };

/** Parses configuration from the environment; a bad value is refused with the variable's name. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new KeyturnError('CONFIG_INVALID', `environment variable ${issue.path.join('.')} is invalid: ${issue.message}`, 'Fix or unset it; the README lists every variable and its default.');
  }
  const d = parsed.data;
  const publicUrl = (d.KEYTURN_PUBLIC_URL ?? `http://${d.KEYTURN_HTTP_HOST === '0.0.0.0' ? '127.0.0.1' : d.KEYTURN_HTTP_HOST}:${d.KEYTURN_HTTP_PORT}`).replace(/\/$/, '');
  return { ...d, dataDir: resolve(d.KEYTURN_DATA_DIR), publicUrl };
}

/** The variables a production process (no embedded parts) cannot start without. */
export function requireEnv<K extends 'DATABASE_URL' | 'TEMPORAL_ADDRESS'>(env: Env, names: K[]): Env & Record<K, string> {
  const missing = names.filter((n) => !env[n]);
  if (missing.length) {
    throw new KeyturnError('CONFIG_MISSING', `${missing.join(' and ')} must be set`, 'Production processes use no embedded parts; `npm run dev` starts PostgreSQL and Temporal for you.');
  }
  return env as Env & Record<K, string>;
}
