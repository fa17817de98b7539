-- Up Migration
-- Which audiences a client's tokens may carry. NULL (every existing client) keeps the behaviour of
-- before: every audience of the issuer. A list limits the client's tokens to those of the issuer's
-- audiences that it names (`keyturn clients set-audiences`).
ALTER TABLE clients ADD COLUMN audiences text[];
ALTER TABLE clients ADD CONSTRAINT clients_audiences_not_empty CHECK (audiences IS NULL OR (cardinality(audiences) > 0 AND array_position(audiences, NULL) IS NULL));

-- The issuance commit re-checks the client's audiences too: a token built before a client's
-- audiences were narrowed is dropped unseen, as it is when its scopes or tenant change. A new
-- overload (p_audiences: each client's list joined by newlines, which an audience cannot contain,
-- NULL for every audience). The old one stays for workers of the version before, which know
-- nothing of audiences: it now finds every client limited to audiences changed, so such a worker
-- refuses that client's tokens (503, retry) rather than issue them for every audience.
CREATE FUNCTION record_issued_tokens(
  p_issuer         text,
  p_jti            text[],
  p_sub            text[],
  p_client_id      text[],
  p_kid            text[],
  p_exp            timestamptz[],
  p_iat            timestamptz[],
  p_policy_version text[],
  p_scopes         text[],
  p_tenant         text[],
  p_secret_hash    text[],
  p_audiences      text[]
) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_active   text;
  v_verdicts text[];
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('keyturn.issuance:' || p_issuer, 0));
  IF EXISTS (SELECT 1 FROM issuance_pauses WHERE issuer = p_issuer) THEN
    RETURN array_fill('paused'::text, ARRAY[cardinality(p_jti)]);
  END IF;
  -- See 1700000001100_issuance-commit-key-row.sql for why these two rows are locked shared.
  SELECT kid INTO v_active FROM signing_keys WHERE issuer = p_issuer AND state = 'active' FOR SHARE;
  PERFORM 1 FROM clients WHERE client_id = ANY (p_client_id) ORDER BY client_id FOR SHARE;
  SELECT array_agg(
           CASE
             WHEN r.kid IS DISTINCT FROM v_active THEN 'key-changed'
             WHEN c.client_id IS NULL OR c.disabled OR array_to_string(c.scopes, ' ') <> r.scopes OR c.tenant IS DISTINCT FROM r.tenant
                  OR array_to_string(c.audiences, E'\n') IS DISTINCT FROM r.audiences THEN 'client-changed'
             WHEN r.secret_hash IS NOT NULL AND c.secret_hash <> r.secret_hash THEN 'secret-changed'
             ELSE 'recorded'
           END ORDER BY r.ord)
    INTO v_verdicts
    FROM unnest(p_kid, p_client_id, p_scopes, p_tenant, p_secret_hash, p_audiences) WITH ORDINALITY AS r (kid, client_id, scopes, tenant, secret_hash, audiences, ord)
    LEFT JOIN clients c ON c.client_id = r.client_id;
  INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version)
    SELECT r.jti, p_issuer, r.sub, r.client_id, r.kid, r.exp, r.iat, r.policy_version
      FROM unnest(p_jti, p_sub, p_client_id, p_kid, p_exp, p_iat, p_policy_version) WITH ORDINALITY AS r (jti, sub, client_id, kid, exp, iat, policy_version, ord)
     WHERE v_verdicts[r.ord] = 'recorded';
  RETURN v_verdicts;
END
$$;

CREATE OR REPLACE FUNCTION record_issued_tokens(
  p_issuer         text,
  p_jti            text[],
  p_sub            text[],
  p_client_id      text[],
  p_kid            text[],
  p_exp            timestamptz[],
  p_iat            timestamptz[],
  p_policy_version text[],
  p_scopes         text[],
  p_tenant         text[],
  p_secret_hash    text[]
) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_active   text;
  v_verdicts text[];
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('keyturn.issuance:' || p_issuer, 0));
  IF EXISTS (SELECT 1 FROM issuance_pauses WHERE issuer = p_issuer) THEN
    RETURN array_fill('paused'::text, ARRAY[cardinality(p_jti)]);
  END IF;
  -- The active key's row, locked shared until commit: an activation, retirement or revocation that
  -- commits before this point is seen here; one that starts later waits for this commit, so no token
  -- recorded here is handed out after the key change returned.
  SELECT kid INTO v_active FROM signing_keys WHERE issuer = p_issuer AND state = 'active' FOR SHARE;
  -- The clients' rows, locked shared until commit: a rotation or disable that commits before this
  -- point is seen by the next statement (a new snapshot); one that starts later waits for this
  -- commit, so no token recorded here is handed out after a rotateSecret or disableClient returned.
  PERFORM 1 FROM clients WHERE client_id = ANY (p_client_id) ORDER BY client_id FOR SHARE;
  SELECT array_agg(
           CASE
             WHEN r.kid IS DISTINCT FROM v_active THEN 'key-changed'
             WHEN c.client_id IS NULL OR c.disabled OR array_to_string(c.scopes, ' ') <> r.scopes OR c.tenant IS DISTINCT FROM r.tenant
                  OR c.audiences IS NOT NULL THEN 'client-changed'
             WHEN r.secret_hash IS NOT NULL AND c.secret_hash <> r.secret_hash THEN 'secret-changed'
             ELSE 'recorded'
           END ORDER BY r.ord)
    INTO v_verdicts
    FROM unnest(p_kid, p_client_id, p_scopes, p_tenant, p_secret_hash) WITH ORDINALITY AS r (kid, client_id, scopes, tenant, secret_hash, ord)
    LEFT JOIN clients c ON c.client_id = r.client_id;
  INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version)
    SELECT r.jti, p_issuer, r.sub, r.client_id, r.kid, r.exp, r.iat, r.policy_version
      FROM unnest(p_jti, p_sub, p_client_id, p_kid, p_exp, p_iat, p_policy_version) WITH ORDINALITY AS r (jti, sub, client_id, kid, exp, iat, policy_version, ord)
     WHERE v_verdicts[r.ord] = 'recorded';
  RETURN v_verdicts;
END
$$;

-- Down Migration
DROP FUNCTION record_issued_tokens(text, text[], text[], text[], text[], timestamptz[], timestamptz[], text[], text[], text[], text[], text[]);
ALTER TABLE clients DROP COLUMN audiences;
CREATE OR REPLACE FUNCTION record_issued_tokens(
  p_issuer         text,
  p_jti            text[],
  p_sub            text[],
  p_client_id      text[],
  p_kid            text[],
  p_exp            timestamptz[],
  p_iat            timestamptz[],
  p_policy_version text[],
  p_scopes         text[],
  p_tenant         text[],
  p_secret_hash    text[]
) RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_active   text;
  v_verdicts text[];
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('keyturn.issuance:' || p_issuer, 0));
  IF EXISTS (SELECT 1 FROM issuance_pauses WHERE issuer = p_issuer) THEN
    RETURN array_fill('paused'::text, ARRAY[cardinality(p_jti)]);
  END IF;
  -- The active key's row, locked shared until commit: an activation, retirement or revocation that
  -- commits before this point is seen here; one that starts later waits for this commit, so no token
  -- recorded here is handed out after the key change returned.
  SELECT kid INTO v_active FROM signing_keys WHERE issuer = p_issuer AND state = 'active' FOR SHARE;
  -- The clients' rows, locked shared until commit: a rotation or disable that commits before this
  -- point is seen by the next statement (a new snapshot); one that starts later waits for this
  -- commit, so no token recorded here is handed out after a rotateSecret or disableClient returned.
  PERFORM 1 FROM clients WHERE client_id = ANY (p_client_id) ORDER BY client_id FOR SHARE;
  SELECT array_agg(
           CASE
             WHEN r.kid IS DISTINCT FROM v_active THEN 'key-changed'
             WHEN c.client_id IS NULL OR c.disabled OR array_to_string(c.scopes, ' ') <> r.scopes OR c.tenant IS DISTINCT FROM r.tenant THEN 'client-changed'
             WHEN r.secret_hash IS NOT NULL AND c.secret_hash <> r.secret_hash THEN 'secret-changed'
             ELSE 'recorded'
           END ORDER BY r.ord)
    INTO v_verdicts
    FROM unnest(p_kid, p_client_id, p_scopes, p_tenant, p_secret_hash) WITH ORDINALITY AS r (kid, client_id, scopes, tenant, secret_hash, ord)
    LEFT JOIN clients c ON c.client_id = r.client_id;
  INSERT INTO issued_tokens (jti, issuer, sub, client_id, kid, exp, iat, policy_version)
    SELECT r.jti, p_issuer, r.sub, r.client_id, r.kid, r.exp, r.iat, r.policy_version
      FROM unnest(p_jti, p_sub, p_client_id, p_kid, p_exp, p_iat, p_policy_version) WITH ORDINALITY AS r (jti, sub, client_id, kid, exp, iat, policy_version, ord)
     WHERE v_verdicts[r.ord] = 'recorded';
  RETURN v_verdicts;
END
$$;
