import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, type CodecReader } from './encryption-codec.js';
import type { PayloadKeyring } from './keyring.js';

/** The failure converter module, by path: the SDK loads it in each worker thread and client. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

/** keyturn's converter for every Temporal client and worker: encrypted payloads, encoded failures. */
export function keyturnDataConverter(keyring: PayloadKeyring, reader: CodecReader = 'client'): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring, reader)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
