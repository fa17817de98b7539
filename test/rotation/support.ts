import type { WorkflowHandle } from '@temporalio/client';
import { isTokenRejected } from '../../agents/validator/index.js';
import type { Validator } from '../../agents/validator/types.js';
import type { RunResult } from '../../workflows/types.js';
import type { RotationStack } from '../support/rotation-stack.js';

/** A completed first rotation: the issuer had no key; now it has one active key. */
export async function seedActiveKey(stack: RotationStack): Promise<string> {
  const handle = await stack.rotate('first key');
  await stack.decide(handle, 'approve', 'cli:alice');
  const result = (await handle.result()) as RunResult;
  if (result.outcome !== 'completed' || !result.newKid) throw new Error(`seeding rotation ended ${result.outcome}: ${result.reason}`);
  return result.newKid;
}

export const result = (handle: WorkflowHandle) => handle.result() as Promise<RunResult>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Verifies `token` every 250 ms from now until half a second before its exp, as a relying party
 * would on each request. Resolves with the failures (empty when every check passed).
 */
export async function verifyUntilExpiry(validator: Validator, token: string): Promise<string[]> {
  const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
  const failures: string[] = [];
  while (Date.now() < exp - 500) {
    try {
      await validator.verify(token);
    } catch (e) {
      failures.push(`${new Date().toISOString()} ${isTokenRejected(e) ? e.code : (e as Error).message}`);
    }
    await sleep(250);
  }
  return failures;
}

export function kidOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
}
