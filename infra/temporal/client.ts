import { Client, type Connection } from '@temporalio/client';
import { keyturnDataConverter } from './codec/data-converter.js';
import type { PayloadKeyring } from './codec/keyring.js';

/** A Temporal client on an existing connection that encrypts what it sends and decrypts what it reads. */
export function keyturnClient(connection: Connection, namespace: string, keyring: PayloadKeyring): Client {
  return new Client({ connection, namespace, dataConverter: keyturnDataConverter(keyring) });
}
