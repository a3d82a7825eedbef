#!/bin/sh
# Runs once, when the postgres service initialises an empty data directory: creates cruncan's two
# roles with deploy/sql/roles.sql (mounted at /cruncan/roles.sql).
set -eu
psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --no-psqlrc -v ON_ERROR_STOP=1 \
    -v owner_password="$CRUNCAN_OWNER_PASSWORD" -v app_password="$CRUNCAN_APP_PASSWORD" \
    -f /cruncan/roles.sql
