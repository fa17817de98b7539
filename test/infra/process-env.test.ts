import { describe, expect, it } from 'vitest';
import { envForOtherPrograms } from '../../infra/process.js';

const SECRETS = {
  KEYTURN_KEK: 'kek', KEYTURN_KEK_FILE: '/run/secrets/kek', KEYTURN_KEK_SECRET_FILE: '/run/secrets/kek',
  KEYTURN_PAYLOAD_KEY: 'pk', KEYTURN_PAYLOAD_KEY_FILE: '/k', KEYTURN_PAYLOAD_KEY_SECRET_FILE: '/k',
  KEYTURN_CODEC_TOKEN: 'ct', KEYTURN_CODEC_TOKEN_FILE: '/c', KEYTURN_CODEC_TOKEN_SECRET_FILE: '/c',
  KEYTURN_AUDIT_KEY_FILE: '/a', KEYTURN_AUDIT_KEY_SECRET_FILE: '/a', KEYTURN_REVOCATION_KEY: 'rk', KEYTURN_REVOCATION_KEY_FILE: '/r',
  KEYTURN_SLACK_KEY: 'sk', KEYTURN_SLACK_KEY_FILE: '/s', KEYTURN_APPROVER_KEY: 'ak', KEYTURN_METRICS_TOKEN: 'mt',
  KEYTURN_DB_ADMIN_URL: 'postgres://owner:pw@db/keyturn', KEYTURN_DB_PASSWORD: 'pw', KEYTURN_TEMPORAL_DB_PASSWORD: 'pw', KEYTURN_EMBEDDED_PG_PASSWORD: 'pw',
};
const SLACK = { SLACK_SIGNING_SECRET: 's', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_APP_ID: 'A1', SLACK_TEAM_ID: 'T1', SLACK_API_URL: 'https://slack.com/api' };
const DATABASE = { DATABASE_URL: 'postgres://app:pw@db/keyturn', PGPASSWORD: 'pw', PGPASSFILE: '/home/u/.pgpass', PGUSER: 'app', PGHOST: 'db' };
const SYSTEM = { PATH: '/usr/local/go/bin:/usr/bin', HOME: '/home/u', TMPDIR: '/tmp', USER: 'u', LANG: 'C.UTF-8', HTTPS_PROXY: 'http://proxy:3128', https_proxy: 'http://proxy:3128', NO_PROXY: 'localhost' };
const GO = { GOPROXY: 'https://proxy.golang.org', GOFLAGS: '-mod=mod', GOPATH: '/home/u/go', GOCACHE: '/home/u/.cache/go-build', GOMODCACHE: '/home/u/go/pkg/mod', GONOSUMDB: 'example.com', GOTOOLCHAIN: 'local' };

describe('the environment of a program that is not keyturn', () => {
  it("has none of keyturn's key, token, password or secret-file variables", () => {
    expect(Object.keys(envForOtherPrograms({ ...SYSTEM, ...SECRETS }))).toEqual(Object.keys(SYSTEM));
  });

  it('has no other KEYTURN_ variable either, since no other program reads them', () => {
    expect(envForOtherPrograms({ KEYTURN_LOG_LEVEL: 'info', KEYTURN_DATA_DIR: '.keyturn' })).toEqual({});
  });

  it('has no SLACK_ variable', () => {
    expect(envForOtherPrograms(SLACK)).toEqual({});
  });

  it("has no DATABASE_URL and no libpq PG variable", () => {
    expect(envForOtherPrograms(DATABASE)).toEqual({});
  });

  it('keeps PATH, HOME, TMPDIR, the locale and proxies', () => {
    expect(envForOtherPrograms(SYSTEM)).toEqual(SYSTEM);
  });

  it("keeps Go's settings, so that a build from the module proxy still works", () => {
    expect(envForOtherPrograms({ ...GO, ...SECRETS })).toEqual(GO);
  });

  it('reads process.env when given nothing, leaving it unchanged', () => {
    const before = { ...process.env };
    const env = envForOtherPrograms();
    expect(env.PATH).toBe(process.env.PATH);
    expect(process.env).toEqual(before);
  });
});
