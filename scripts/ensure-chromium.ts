/**
 * The Web UI test drives Debian's chromium through playwright-core. On a bare machine it is not
 * installed: install it with apt (as root), saying so, or fail with the command to run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { envForOtherPrograms } from '../infra/process.js';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  const say = (l: string) => process.stderr.write(`[keyturn] ${l}\n`);
  if (process.getuid?.() !== 0) {
    say(`error CHROMIUM_MISSING: ${CHROMIUM} not found — run: sudo apt-get install -y chromium`);
    process.exit(1);
  }
  say('chromium is missing; installing Debian\'s chromium with apt-get (for the Web UI test)…');
  const env = { ...envForOtherPrograms(), DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
  if (!(run(['update', '-qq']) && run(['install', '-y', '-qq', 'chromium']))) {
    say('error CHROMIUM_INSTALL_FAILED: apt-get could not install chromium — install it and rerun');
    process.exit(1);
  }
  say(`chromium installed at ${CHROMIUM}`);
}
