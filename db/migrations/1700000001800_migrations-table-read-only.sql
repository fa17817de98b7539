-- Up Migration
-- keyturn's processes only read which migrations ran (KEYTURN_MIGRATIONS=check); deleting a record
-- would make the next `keyturn db migrate` apply that migration again.
REVOKE ALL ON keyturn_migrations FROM keyturn_app;
GRANT SELECT ON keyturn_migrations TO keyturn_app;

-- Down Migration
SELECT 1;
