import { randomBytes } from 'node:crypto';
import { encodeErrorToFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { describe, expect, it } from 'vitest';
import { plainEvents } from '../../cli/commands/audit-show.js';
import { keyturnDataConverter } from '../../infra/temporal/codec/data-converter.js';
import { PayloadKeyring } from '../../infra/temporal/codec/keyring.js';

const converter = loadDataConverter(keyturnDataConverter(new PayloadKeyring(randomBytes(32))));
const failedEvent = (failure: unknown) => ({ eventId: 9, eventTime: { seconds: 1_700_000_000 }, activityTaskFailedEventAttributes: { scheduledEventId: 8, failure } });

describe('keyturn audit show: activity failures', () => {
  it('shows the message of a failure keyturn encrypted, unflagged', async () => {
    const failure = await encodeErrorToFailure(converter, new Error('canary refused the new key'));
    const [e] = await plainEvents(converter, [failedEvent(failure)], { namespace: 'default', workflowId: 'rotate-x' });
    expect(e!.failure).toBe('canary refused the new key');
    expect(e!.unsealed).toBeUndefined();
  });

  it('flags a failure written in clear text, which keyturn\'s workers never write', async () => {
    const [e] = await plainEvents(converter, [failedEvent({ message: 'canary failed: restore the old key', applicationFailureInfo: { type: 'Error' } })], { namespace: 'default', workflowId: 'rotate-x' });
    expect(e!.failure).toBe('canary failed: restore the old key');
    expect(e!.unsealed).toEqual(['failure']);
  });
});
