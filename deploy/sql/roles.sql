-- Least privilege for cruncan: run once per database, as a superuser, with psql:
--
--   psql "postgresql://postgres@db:5432/cruncan" -v ON_ERROR_STOP=1 \
--        -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" -f deploy/sql/roles.sql
--
-- cruncan_owner owns the schema: `cruncan migrate` (and `migrate rollback`) connect as it, so every
-- table, index, sequence and function the migrations create belongs to it.
-- cruncan_app is what `cruncan api`, `relay` and `worker` connect as: it reads and writes the tables
-- (SELECT, INSERT, UPDATE, DELETE; sequences' USAGE and SELECT) and can create, alter or drop nothing.
-- Default privileges cover every table the owner creates later, so a new migration needs no new GRANT.
--
-- Idempotent: run it again to change a password or repair a grant. Optional variables:
-- owner_role and app_role (other role names), owner_password and app_password (a password not
-- given is left as it is: none for a new role, for certificate or peer authentication).

\set ON_ERROR_STOP on
\if :{?owner_role}
\else
\set owner_role cruncan_owner
\endif
\if :{?app_role}
\else
\set app_role cruncan_app
\endif
\if :{?owner_password}
\else
\set owner_password ''
\endif
\if :{?app_password}
\else
\set app_password ''
\endif

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', role)
  FROM (VALUES (:'owner_role'), (:'app_role')) AS wanted (role)
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) \gexec

SELECT format('ALTER ROLE %I PASSWORD %L', role, password)
  FROM (VALUES (:'owner_role', :'owner_password'), (:'app_role', :'app_password')) AS given (role, password)
 WHERE password <> '' \gexec

-- Nobody else may create objects in the schema (PostgreSQL 15 and later already revoke this).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), :'owner_role', :'app_role') \gexec
GRANT USAGE, CREATE ON SCHEMA public TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"app_role";

-- What the owner's migrations create from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";

-- What exists already (a database migrated before this script ran).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
