import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (the SDK's rule) in workers, the workflow bundle and clients: failure messages and
 * stack traces move into an encoded attributes payload, which the EncryptionCodec then encrypts.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
