import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  environment?: Record<string, string | null>;
  command?: string[];
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { services: Record<string, Service> };

const holding = (variable: string) =>
  Object.entries(compose.services)
    .filter(([, s]) => Object.values(s.environment ?? {}).some((v) => typeof v === 'string' && v.includes(`\${${variable}`)))
    .map(([name]) => name)
    .sort();

describe('docker-compose.yml', () => {
  it('gives the PostgreSQL superuser’s password only to PostgreSQL and the two one-shot login jobs', () => {
    expect(holding('POSTGRES_PASSWORD')).toEqual(['keyturn-migrate', 'postgres', 'temporal-db-login']);
  });

  it('has the Temporal server and its schema job log in as Temporal’s own login', () => {
    expect(compose.services.temporal!.environment!.POSTGRES_USER).toBe('${TEMPORAL_DB_USER:-temporal}');
    expect(compose.services.temporal!.environment!.POSTGRES_PWD).toBe('${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}');
    expect(holding('TEMPORAL_DB_PASSWORD')).toEqual(['temporal', 'temporal-db-login', 'temporal-schema']);
  });

  it('creates Temporal’s login with keyturn’s own command before Temporal’s schema job runs', () => {
    expect(compose.services['temporal-db-login']!.command).toEqual(['node', '--import', 'tsx', 'cli/main.ts', 'db', 'temporal-login']);
    expect((compose.services['temporal-schema'] as { depends_on?: Record<string, { condition: string }> }).depends_on).toEqual({
      'temporal-db-login': { condition: 'service_completed_successfully' },
    });
  });
});
