import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { JWK } from 'jose';
import { startSigner, type StartSigner } from '../agents/approvals/start-request.js';
import { readSecretFile } from '../agents/shared/secret-file.js';
import { isKeyturnError, KeyturnError } from '../config/errors.js';

export interface ApproverKeyFile {
  approver: string;
  kid: string;
  privateJwk: JWK;
}

/** Reads a CLI approver key: refused unless the file is readable by its owner only (0600). */
export async function readApproverKey(path: string): Promise<ApproverKeyFile> {
  const text = readSecretFile(path);
  let parsed: ApproverKeyFile;
  try {
    parsed = JSON.parse(text) as ApproverKeyFile;
  } catch {
    throw new KeyturnError('APPROVER_KEY_UNREADABLE', `cannot read approver key ${path}`, 'Create one with `keyturn approvers add-cli-key <cli:name> --out <file>`.');
  }
  if (!parsed.approver || !parsed.kid || !parsed.privateJwk?.d) {
    throw new KeyturnError('APPROVER_KEY_INVALID', `${path} is not a keyturn approver key`, 'Create one with `keyturn approvers add-cli-key`.');
  }
  return parsed;
}

export async function writeApproverKey(path: string, key: ApproverKeyFile): Promise<void> {
  await writeFile(path, `${JSON.stringify(key)}\n`, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') throw new KeyturnError('FILE_EXISTS', `${path} already exists`, 'Choose another --out path; keyturn never overwrites a key file.');
    throw e;
  });
}

/** The `--key` option of the commands that start a run: whose approver the run names as requester (see cliRequester). */
export const requesterKeyOption = ['--key <file>', 'your approver key file: the run names that approver as its requester, so the key cannot approve it'] as const;

export interface CliStarter {
  requester: string;
  /** Present when the requester's approver key was read: the start request is signed with it. */
  signStart?: StartSigner;
}

/**
 * Who a run started from this terminal names as its requester: the approver of the given key (by
 * default KEYTURN_APPROVER_KEY), who signs the start request with it and so cannot approve the run;
 * without a key, cli:<login name>, unsigned, which matches an approver only through the policy's
 * `people` links (and which a policy with `requireSignedStart` refuses).
 *
 * A key given but unreadable (missing, not 0600, not a key) refuses the start, except for an
 * emergency (a revocation), which must not wait for a key file: that run names the login, unsigned,
 * with a warning.
 */
export async function cliStarter(keyFile: string | undefined, o: { emergency?: boolean; warn?: (line: string) => void } = {}): Promise<CliStarter> {
  const login = `cli:${userInfo().username.toLowerCase()}`;
  if (!keyFile) return { requester: login };
  try {
    const key = await readApproverKey(keyFile);
    return { requester: key.approver, signStart: startSigner('cli', { kid: key.kid, privateJwk: key.privateJwk }) };
  } catch (e) {
    if (!o.emergency) throw e;
    const warn = o.warn ?? ((l: string) => process.stderr.write(`${l}\n`));
    warn(`warning: approver key ${keyFile} unreadable (${isKeyturnError(e) ? e.code : 'error'}); the run names ${login} as requester, unsigned`);
    return { requester: login };
  }
}
