import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * keyturn's secrets and database logins: every KEYTURN_* variable (no other program reads them, and
 * they include the KEK, the payload key, the codec token, the audit, revocation and Slack channel
 * keys, database passwords and admin URL, and the files holding them), every SLACK_*, DATABASE_URL,
 * and libpq's PG* (PGPASSWORD, PGPASSFILE…).
 */
const KEYTURN_SECRETS = /^(KEYTURN_|SLACK_|PG)|^DATABASE_URL$/i;

/**
 * The environment for a program that is not keyturn (the Temporal CLI, `go`, apt-get): the
 * process's own minus keyturn's secrets. PATH, HOME, TMPDIR, proxies and Go's settings (GOPROXY,
 * GOFLAGS, GOPATH, GOCACHE, GOMODCACHE…) pass, so that a build from the module proxy still works.
 */
export function envForOtherPrograms(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && !KEYTURN_SECRETS.test(name)) out[name] = value;
  }
  return out;
}
