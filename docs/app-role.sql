-- The application's PostgreSQL role: it reads and writes rows, owns nothing, and can only add
-- to the audit log. See docs/deployment.md ("The application's database role").
--
-- Run it as the role that owns the tables (the one `manage.py migrate` runs as), connected
-- to the application's database, after the first `migrate`:
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/app-role.sql
--   psql "$OWNER_DATABASE_URL" -c '\password alliance_app'
--
-- It can be run again after any release (it changes nothing that is already so).
-- tests/security/test_app_role.py runs this very file and then tries, as alliance_app, to
-- empty or change the audit log.

-- Login role; its password is set apart (above), so that it is never written in a file.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alliance_app') THEN
        CREATE ROLE alliance_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO alliance_app', current_database());
END
$$;

-- No new tables, functions or types from the application (PostgreSQL 15 already says so).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO alliance_app;

-- Rows of every table and sequence there is now...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO alliance_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO alliance_app;

-- ...and of those later migrations create (as the owner, who runs this file).
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO alliance_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO alliance_app;

-- The audit log is append-only: read and add, never change, delete or empty. Not owning the
-- table, the role can neither drop nor disable its triggers, and, not a superuser, it cannot
-- set session_replication_role (which silences triggers) either.
REVOKE UPDATE, DELETE, TRUNCATE ON alliance_accessevent FROM alliance_app;
