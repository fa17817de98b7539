import type { Command } from 'commander';
import { registerAudit } from './audit.js';
import { registerDoctor } from './doctor.js';
import { registerKeys } from './keys.js';

/** Each command module adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [registerDoctor, registerKeys, registerAudit];
