import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';

/** Each command module adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [registerDoctor];
