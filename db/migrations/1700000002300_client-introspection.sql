-- Up Migration
-- Who may introspect tokens it was not issued. Before, any authenticated client could introspect any
-- token and read its claims (another client's id, tenant, scopes). Now a client introspects its own
-- tokens, and others' only when granted (`keyturn clients allow-introspection`): a resource server's
-- client. Off for every existing client: grant it to those that introspect others' tokens.
ALTER TABLE clients ADD COLUMN may_introspect boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE clients DROP COLUMN may_introspect;
