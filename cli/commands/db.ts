import type { Command } from 'commander';
import { KeyturnError } from '../../config/errors.js';
import { migrate, migrationNames } from '../../db/migrate.js';
import { createPool } from '../../db/pool.js';
import { provisionTemporalLogin, TEMPORAL_DATABASES } from '../../db/temporal-login.js';
import { describeLoginPowers, LEAST_PRIVILEGE_HINT, loginOf, loginPowers, provisionRuntimeLogin } from '../../db/runtime-login.js';
import { withContext } from '../context.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerDb(program: Command): void {
  const db = program.command('db').description("keyturn's PostgreSQL schema and logins");

  db.command('migrate')
    .description('apply pending migrations as KEYTURN_DB_ADMIN_URL (else DATABASE_URL); with both set, also make DATABASE_URL a login that is only keyturn_app')
    .action(() =>
      withContext(async (ctx) => {
        const runtimeUrl = ctx.env.DATABASE_URL ?? ctx.local?.databaseUrl;
        const adminUrl = ctx.env.KEYTURN_DB_ADMIN_URL ?? runtimeUrl;
        if (!adminUrl) throw new KeyturnError('DATABASE_URL_MISSING', 'neither KEYTURN_DB_ADMIN_URL nor DATABASE_URL is set, and no `npm run dev` is running here', 'Export KEYTURN_DB_ADMIN_URL (the table owner) and DATABASE_URL (the runtime login).');
        const applied = await migrate(adminUrl);
        out(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : `the schema is up to date (${migrationNames().length} migrations)`);
        if (runtimeUrl && runtimeUrl !== adminUrl) {
          const admin = createPool(adminUrl, { max: 1, appRole: false });
          try {
            const { login, created } = await provisionRuntimeLogin(admin, runtimeUrl);
            out(`runtime login ${login}: ${created ? 'created' : 'exists'}, member of keyturn_app`);
          } finally {
            await admin.end();
          }
        }
        await reportRuntimeLogin(runtimeUrl ?? adminUrl, runtimeUrl !== undefined && runtimeUrl !== adminUrl);
      }),
    );

  db.command('temporal-login')
    .description("as KEYTURN_DB_ADMIN_URL, make KEYTURN_TEMPORAL_DB_USER a plain login that owns Temporal's databases and nothing else (created when missing; databases an earlier setup made are handed over)")
    .option('--databases <names>', "Temporal's databases, comma-separated", TEMPORAL_DATABASES.join(','))
    .action((opts: { databases: string }) =>
      withContext(async (ctx) => {
        const adminUrl = ctx.env.KEYTURN_DB_ADMIN_URL;
        if (!adminUrl) throw new KeyturnError('DB_ADMIN_URL_MISSING', 'KEYTURN_DB_ADMIN_URL is not set', 'Export KEYTURN_DB_ADMIN_URL as the PostgreSQL superuser (compose: POSTGRES_USER); nothing was changed.');
        const password = ctx.env.KEYTURN_TEMPORAL_DB_PASSWORD;
        if (!password) throw new KeyturnError('DB_TEMPORAL_PASSWORD_MISSING', 'KEYTURN_TEMPORAL_DB_PASSWORD is not set', 'Export it (16+ characters, for example `openssl rand -hex 24`); nothing was changed.');
        const databases = opts.databases.split(',').map((d) => d.trim()).filter((d) => d !== '');
        const result = await provisionTemporalLogin(adminUrl, { login: ctx.env.KEYTURN_TEMPORAL_DB_USER, password, databases });
        out(`Temporal login ${result.login}: ${result.created ? 'created' : 'exists'}, a plain login`);
        for (const d of result.databases) {
          out(`database ${d.name}: ${d.created ? 'created' : 'exists'}, owned by ${result.login}${d.objectsTakenOver ? ` (${d.objectsTakenOver} objects handed over)` : ''}`);
        }
      }),
    );
}

/** Logs in as the processes will, and says whether that login could get around keyturn's guards. */
async function reportRuntimeLogin(url: string, mustBeLeast: boolean): Promise<void> {
  const pool = createPool(url, 1);
  try {
    const powers = await loginPowers(pool);
    const login = loginOf(url) || 'of DATABASE_URL';
    if (!powers.length) {
      out(`runtime login ${login} is only keyturn_app: keyturn's worker and HTTP service may start with it (KEYTURN_MIGRATIONS=check)`);
    } else if (mustBeLeast) {
      throw new KeyturnError('DB_LOGIN_PRIVILEGED', describeLoginPowers(login, powers), LEAST_PRIVILEGE_HINT);
    } else {
      out(`warning: ${describeLoginPowers(login, powers)}. ${LEAST_PRIVILEGE_HINT}`);
    }
  } finally {
    await pool.end();
  }
}
