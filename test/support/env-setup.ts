import { inject } from 'vitest';

// Every process of a test (in-process stacks, CLI children, worker processes) encrypts its Temporal
// payloads with the run's key, exactly as production processes must.
process.env.KEYTURN_PAYLOAD_KEY_FILE ??= inject('payloadKeyFile');
// Tests' webhook subscribers listen on loopback, which production refuses unless allowed.
process.env.KEYTURN_SUBSCRIBER_ALLOWED_NETWORKS ??= '127.0.0.0/8,::1/128';
