-- Up Migration
-- A revocation only grows stronger: keyturn writes entries, extends them, makes temporary ones
-- permanent, lifts temporary ones and purges expired ones, and nothing else. The grants let the
-- runtime login delete or weaken any entry, so whoever held it could un-revoke a token or a key
-- without an audit entry; this trigger holds every login to what keyturn itself does:
--  * an entry's kind, value, cutoff and creation time never change;
--  * its expiry never moves earlier, and a permanent entry never becomes temporary;
--  * a permanent entry is deleted only once it has expired. A purge whose clock runs ahead of the
--    database's skips such an entry (it goes at a later purge) rather than fail.
-- The table owner can still DISABLE TRIGGER for a deliberate repair.
CREATE FUNCTION revocations_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF NOT OLD.temporary AND OLD.expires_at > now() THEN
      RETURN NULL;
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.kind IS DISTINCT FROM OLD.kind OR NEW.value IS DISTINCT FROM OLD.value
     OR NEW.not_before IS DISTINCT FROM OLD.not_before OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'revocations: kind, value, not_before and created_at never change' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.expires_at < OLD.expires_at OR (NEW.temporary AND NOT OLD.temporary) THEN
    RAISE EXCEPTION 'revocations: an entry is never shortened, and a permanent one never becomes temporary' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER revocations_only_grow BEFORE UPDATE OR DELETE ON revocations
  FOR EACH ROW EXECUTE FUNCTION revocations_only_grow();

-- Down Migration
DROP TRIGGER revocations_only_grow ON revocations;
DROP FUNCTION revocations_only_grow();
