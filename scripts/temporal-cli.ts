/** `npm run temporal:install`: finds the Temporal CLI, or builds it into keyturn's cache. */
import { isKeyturnError } from '../config/errors.js';
import { ensureTemporalCli, temporalCliVersion } from '../infra/temporal/cli.js';

try {
  const bin = await ensureTemporalCli();
  process.stderr.write(`[keyturn] temporal CLI: ${bin} (${temporalCliVersion(bin)})\n`);
} catch (e) {
  process.stderr.write(`${isKeyturnError(e) ? e.toLine() : String(e)}\n`);
  process.exit(1);
}
