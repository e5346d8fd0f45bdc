# datagen recipes. Extra arguments pass through to the CLI, e.g. `just generate --dry-run`.
# Recipes read DATABASE_URL; without it (and without PG* variables) they use the embedded server.

set positional-arguments

python := if path_exists(justfile_directory() / ".venv/bin/python") == "true" { justfile_directory() / ".venv/bin/python" } else { "python3" }

# List the recipes
default:
    @just --list

# Generate the core entities and load them with COPY (--dry-run, --yes, --schema, --config, --scale, --sink parquet --out ...)
generate *args:
    {{python}} -m datagen generate "$@"

# Stream tap events, sessions, page views and feature usage for the event range (--start/--end, --dry-run, --yes, --scale, --sink parquet --out, --executor)
generate-events *args:
    {{python}} -m datagen generate-events "$@"

# Read the database (or --parquet PATH) back and check it against the config, seed and manifest (--json, --tables, --checks, --list)
validate *args:
    {{python}} -m datagen validate "$@"

# Draw the loaded data beside its config: .datagen/report/report.html and a PNG per chart (--out DIR, --parquet PATH, --schema)
report *args:
    {{python}} -m datagen report "$@"

# Run the full test suite (TEST_DATABASE_URL or the embedded server)
test *args:
    {{python}} -m pytest "$@"

# Lint and type-check exactly as CI does
lint:
    {{python}} -m ruff check datagen tests benchmarks
    {{python}} -m mypy

# Start (or reuse) the embedded PostgreSQL server and print its URL
db-url:
    {{python}} -m datagen db-url

# Stop the embedded PostgreSQL server
db-stop:
    {{python}} -m datagen db-stop

# The benchmark suite against ceilings and baselines (--rows 1M,10M,100M; --quick: a minute, records nothing)
bench *args:
    {{python}} benchmarks/bench.py "$@"

# Write the dbt sources YAML for the loaded schema (--out PATH, --schema, --dbt-database; default: stdout)
dbt-sources *args:
    {{python}} -m datagen dbt-sources "$@"

# What the schema holds, from its manifest table, against the catalog (--schema, --export PATH)
status *args:
    {{python}} -m datagen status "$@"

# Print the DDL rendered from datagen/tables.py (--schema NAME); --write refreshes sql/schema.sql
ddl *args:
    {{python}} -m datagen ddl "$@"
