import type { Command } from 'commander';
import { registerAudit } from './audit.js';
import { registerClients } from './clients.js';
import { registerCodec } from './codec.js';
import { registerDb } from './db.js';
import { registerDoctor } from './doctor.js';
import { registerKeys } from './keys.js';
import { registerPolicy } from './policy.js';
import { registerRevoke } from './revoke.js';
import { registerRotation } from './rotation.js';
import { registerSchedule } from './schedule.js';
import { registerSubscribers } from './subscribers.js';

/** Each command module adds its subcommands to the program. */
export const commandModules: Array<(program: Command) => void> = [registerDoctor, registerPolicy, registerKeys, registerClients, registerAudit, registerRotation, registerSchedule, registerRevoke, registerSubscribers, registerCodec, registerDb];
