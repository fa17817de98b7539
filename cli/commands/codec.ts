import type { Command } from 'commander';
import { inTransaction } from '../../db/pool.js';
import { pgCodecSessionEnds } from '../../infra/temporal/codec/session-ends.js';
import { withContext } from '../context.js';
import { auditContext } from './clients.js';

export function registerCodec(program: Command): void {
  const codec = program.command('codec').description("the Web UI's codec endpoint: its browser sessions");
  codec
    .command('end-sessions')
    .description('end every codec browser session signed in until now, on every keyturn process (the codec token itself stays valid); audited')
    .action(() =>
      withContext(async (ctx) => {
        const audit = auditContext(ctx);
        const at = Date.now();
        await inTransaction(ctx.db(), async (tx) => {
          await pgCodecSessionEnds(tx).endAll(at);
          await audit.appendAudit(tx, { actor: audit.actor, action: 'codec.sessions_ended', subject: { codec: 'sessions' }, policyVersion: audit.policyVersion, outcome: 'ok', details: { signedInUntil: new Date(at).toISOString() } });
        });
        process.stdout.write(`every codec browser session signed in until ${new Date(at).toISOString()} is ended; operators sign in again at /codec/login\n`);
      }),
    );
}
