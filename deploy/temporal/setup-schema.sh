#!/bin/sh
# One-shot (temporalio/admin-tools): creates Temporal's two databases in the shared PostgreSQL and brings their
# schemas up to the version this admin-tools image ships. Idempotent: an existing database is kept and only
# migrated forward, so it also runs on every `docker compose up` after an upgrade of the Temporal images.
set -eu

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"
}

echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do sleep 1; done

for db in temporal temporal_visibility; do
  schema_dir=/etc/temporal/schema/postgresql/v12/$([ "$db" = temporal ] && echo temporal || echo visibility)/versioned
  sql_tool --db "$db" create || echo "database $db exists"
  # setup-schema -v 0.0 only creates the version table when it is missing; update-schema then applies what is new.
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$schema_dir"
done
echo "Temporal schemas are up to date"
