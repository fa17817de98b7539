import { appendAudit } from '../agents/auditor/audit-log.js';
import { loadDevRevocationNoticeKey, loadRevocationNoticeKey, type RevocationNoticeSigner } from '../agents/revocation-responder/notice.js';
import { subscriberAddressPolicy, type SubscriberAddressPolicy } from '../agents/revocation-responder/subscriber-address.js';
import { loadAuditKey, type AuditSigner } from '../agents/auditor/audit-key.js';
import type { AppendAudit } from '../agents/auditor/types.js';
import type { KekProvider } from '../agents/key-manager/envelope.js';
import { kekFromEnv, loadOrCreateDevKek } from '../agents/key-manager/kek.js';
import { kekIdsOf, type KekIds } from '../agents/key-manager/kek-holders.js';
import { KeyManager } from '../agents/key-manager/key-manager.js';
import { systemClock, type Clock } from '../agents/shared/clock.js';
import { loadEnv } from '../config/env.js';
import { KeyturnError } from '../config/errors.js';
import type { Pool } from '../db/pool.js';

/** The agents one keyturn process hosts, wired to their dependencies once. */
export interface Services {
  pool: Pool;
  clock: Clock;
  appendAudit: AppendAudit;
  keyManager: KeyManager;
  /** Public ids of the KEKs this process holds (reported for `keys reseal`); never the KEKs. */
  kekIds: KekIds;
  /** Signs audit checkpoints; loaded only in the process that signs them (the worker, `npm run dev`). */
  auditSigner: AuditSigner | undefined;
  /** Signs revocation webhooks; loaded on first use (only a subscriber needs it). */
  noticeSigner: () => Promise<RevocationNoticeSigner>;
  /** Where revocation notices may be delivered: KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS (dev default: loopback). */
  subscriberAddresses: SubscriberAddressPolicy;
}

export interface ServiceOptions {
  pool: Pool;
  /** Dev mode may create a KEK and an audit key in its data dir, and lets notices go to loopback; production must be given them. */
  devDataDir?: string;
  warn?: (message: string) => void;
  clock?: Clock;
  /** Load the audit checkpoint key (default true). The HTTP service signs no checkpoints and is given none. */
  signsCheckpoints?: boolean;
}

export async function createServices(opts: ServiceOptions): Promise<Services> {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`[keyturn] warning: ${m}\n`));
  const clock = opts.clock ?? systemClock;
  let kek: KekProvider | undefined = kekFromEnv();
  if (!kek && opts.devDataDir) {
    const dev = loadOrCreateDevKek(opts.devDataDir);
    if (dev.created) warn(`generated a development KEK at ${dev.path} (0600); set KEYTURN_KEK_FILE for anything real`);
    kek = dev.provider;
  }
  if (!kek) throw new KeyturnError('KEK_MISSING', 'no key-encryption key configured', 'Set KEYTURN_KEK_FILE (a 0600 file with base64 of 32 random bytes) or KEYTURN_KEK.');
  const auditSigner = opts.signsCheckpoints === false ? undefined : await requiredAuditKey(opts.devDataDir, warn);
  const keyManager = new KeyManager({
    pool: opts.pool,
    kek,
    appendAudit,
    clock,
    onWithheld: (k) => warn(`key ${k.kid} of ${k.issuer} is left out of the JWKS (${k.code}): ${k.message}${k.hint ? ` — ${k.hint}` : ''}`),
  });
  let signer: Promise<RevocationNoticeSigner> | undefined;
  // A failed load is not remembered: a key file fixed meanwhile is read on the next delivery.
  const noticeSigner = () =>
    (signer ??= loadNoticeSigner(opts.devDataDir, warn).catch((e: unknown) => {
      signer = undefined;
      throw e;
    }));
  const subscriberAddresses = subscriberAddressPolicy(loadEnv(), { dev: opts.devDataDir !== undefined });
  return { pool: opts.pool, clock, appendAudit, keyManager, kekIds: kekIdsOf(kek), auditSigner, noticeSigner, subscriberAddresses };
}

async function requiredAuditKey(devDataDir: string | undefined, warn: (m: string) => void): Promise<AuditSigner> {
  const signer = await loadAuditKey({
    env: devDataDir ? { ...process.env, KEYTURN_DATA_DIR: process.env.KEYTURN_DATA_DIR ?? devDataDir } : process.env,
    warn,
    create: devDataDir !== undefined,
  });
  if (!signer) throw new KeyturnError('AUDIT_KEY_MISSING', 'no audit checkpoint key configured', 'Set KEYTURN_AUDIT_KEY_FILE to a 0600 Ed25519 JWK file.');
  return signer;
}

/** The checkpoint signer of a process that signs checkpoints (created with signsCheckpoints). */
export function checkpointSigner(services: Services): AuditSigner {
  if (!services.auditSigner) throw new KeyturnError('AUDIT_KEY_MISSING', 'this process was started without the audit checkpoint key', 'Only the worker (and `npm run dev`) signs checkpoints.');
  return services.auditSigner;
}

/** KEYTURN_REVOCATION_KEY_FILE / KEYTURN_REVOCATION_KEY; in dev, a generated 0600 file in the data dir. */
function loadNoticeSigner(devDataDir: string | undefined, warn: (m: string) => void): Promise<RevocationNoticeSigner> {
  return devDataDir ? loadDevRevocationNoticeKey(devDataDir, process.env, warn) : loadRevocationNoticeKey({ env: process.env });
}
