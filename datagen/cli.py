"""Command line: `python -m datagen COMMAND`. User errors become a message and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from datagen import (
    _malloc,
    checks,
    db,
    dbt_sources,
    ddl,
    embedded,
    executors,
    parquet_store,
    pipeline,
    report,
    status,
    tuning,
    validate,
)
from datagen.config import DEFAULT_CONFIG, Config, load_config
from datagen.config.scale import DEFAULT_SCALE, scale_config
from datagen.db import redact
from datagen.errors import DatagenError, OutputError, UsageError
from datagen.generate import generate
from datagen.manifest import write_manifest
from datagen.tables import EVENT_TABLES, SCHEMA, TABLES, same_day_groups

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
datagen: deterministic data generator and bulk loader for the TapFlow Analytics raw schema.

The same seed and config always give byte-identical tables. Data goes to DATABASE_URL, else to the
libpq PG* variables, else to a private embedded PostgreSQL (started on demand) in .datagen/pg/, or, as
root in a folder other users cannot enter, in /var/lib/datagen/<folder>-<digest>/ (.datagen/pg links to it).
Exit codes: 0 success, 1 validation failed, 2 bad input or database unreachable, 130 interrupted."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"run `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="datagen", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="PATH",
                        help="YAML config (default: config/tapflow.yaml)")

    def scaled(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("--scale", type=_scale, default=DEFAULT_SCALE, metavar="S",
                        help=f"multiply accounts.total, and so every table below it, by S (fractions too: 0.1 is 15 "
                             f"accounts at the shipped config), keeping every share; id ranges grow to fit. {what} "
                             "(default 1: the config as written)")

    def sinks(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--sink", choices=("postgres", "parquet"), default="postgres",
                        help="where the rows go: postgres (the default: the database, one transaction) or parquet "
                             "(files under --out; docs/parquet.md)")
        sp.add_argument("--out", metavar="PATH_OR_URL",
                        help="--sink parquet: the dataset's folder or object-store URL (s3://bucket/prefix)")
        sp.add_argument("--compression", choices=parquet_store.COMPRESSIONS, default="zstd",
                        help="--sink parquet: the files' compression (default zstd)")

    def executor(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("--executor", choices=executors.EXECUTORS, default="local",
                        help=f"{what}: local (threads in this process, the default), dask (the workers of "
                             "--scheduler's cluster, which must run the same datagen, numpy, polars and pyarrow) or "
                             "dask-local (a cluster of --dask-workers processes on this machine, started and stopped "
                             "by datagen); every executor writes the same bytes (docs/executors.md)")
        sp.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="--executor dask: the cluster's scheduler")
        sp.add_argument("--dask-workers", type=_positive, default=2, metavar="N",
                        help="--executor dask-local: worker processes, one thread each (default 2)")

    def reading(sp: argparse.ArgumentParser, *, what: str, parquet: str) -> None:
        """The options of the commands that read a loaded schema or a Parquet dataset (validate, report)."""
        sp.add_argument("--schema", default=SCHEMA, help=f"schema to {what} (default: {SCHEMA})")
        sp.add_argument("--database-url", metavar="URL", help="PostgreSQL URL; overrides DATABASE_URL")
        sp.add_argument("--parquet", metavar="PATH_OR_URL", help=parquet)

    def loading(sp: argparse.ArgumentParser, *, replace: str, dry_run: str, manifest: str) -> None:
        """The options every command that writes to the database shares."""
        sp.add_argument("--schema", default=SCHEMA, help=f"target schema (default: {SCHEMA})")
        sp.add_argument("--database-url", metavar="URL",
                        help="PostgreSQL URL; overrides DATABASE_URL (prefer the variable: URLs on the command "
                             "line are visible to other users)")
        sp.add_argument("--yes", "-y", action="store_true", help=replace)
        sp.add_argument("--dry-run", action="store_true", help=dry_run)
        sp.add_argument("--manifest", type=Path, metavar="PATH", help=manifest)
        sp.add_argument("--no-progress", action="store_true", help="no progress bar")
        sp.add_argument("--adopt", action="store_true",
                        help="take over tables with datagen's names that datagen did not create (their rows are "
                             "replaced); without it such a table is refused and nothing changes")

    g = sub.add_parser("generate", help="generate the core entities and load them with COPY",
                       description="Generate accounts, locations, devices, users, subscriptions and device "
                                   "maintenance logs from the config, check them, and replace the tables in one "
                                   "transaction. A failure at any point leaves the previous data untouched. Event "
                                   "tables, whose rows belong to the replaced data, are emptied in the same "
                                   "transaction (the question says so); run `generate-events` afterwards.")
    common(g)
    scaled(g, "The manifest records it; generate-events and validate must be given the same S")
    g.add_argument("--only", type=_table_list, metavar="T1,T2",
                   help="regenerate only these tables and everything that depends on them (devices brings "
                        "subscriptions, maintenance logs and the events that use devices); every other table is "
                        "left as it is. The tables they point at must already hold what this config generates")
    loading(g, replace="replace existing rows without asking (required when there is no terminal)",
            dry_run="print the plan (expected, bounds and planned rows per table) and write nothing",
            manifest="also export the manifest as JSON to PATH after the commit (it is always recorded in the "
                     "schema's _datagen_manifest table, in the load's own transaction)")
    sinks(g)
    executor(g, "with --only, where the regenerated event days are built (the core tables are built here)")

    e = sub.add_parser(
        "generate-events", help="stream tap events, sessions, page views and feature usage into PostgreSQL",
        description="Generate the event tables for the config's event range (events.range), or for the window "
                    "--start..--end inside it, and swap the window's day partitions in, in one transaction. Ids "
                    "count from the start of the range, so any window holds exactly its slice of one sequence, and "
                    "running window A then window B equals running both at once. Needs the core tables of the same "
                    "config (`just generate`). Tap events are stored in events.tap_events.layout: contract (the "
                    "default: a jsonb metrics column, what the dbt staging models read) or typed (typed columns "
                    "and a view, for load tests); a window next to days of the other layout is refused, a run over "
                    "the whole range switches the table.")
    common(e)
    scaled(e, "Must be the S the core tables were generated with")
    e.add_argument("--start", type=_date, metavar="YYYY-MM-DD", help="first day of the window (default: range start)")
    e.add_argument("--end", type=_date, metavar="YYYY-MM-DD",
                   help="last day of the window, inclusive (default: range end)")
    e.add_argument("--tables", type=_table_list, metavar="T1,T2",
                   help=f"only these event tables ({', '.join(t.key for t in EVENT_TABLES)}); "
                        + "; ".join(f"{', '.join(g)} come together" for g in same_day_groups() if len(g) > 1))
    e.add_argument("--workers", type=_positive, metavar="N",
                   help=f"threads building partitions while the connections copy (default {tuning.BUILD_WORKERS}; "
                        f"with --sink parquet, threads building and writing files, default {tuning.PARQUET_WRITERS}); "
                        "any N gives the same bytes")
    e.add_argument("--connections", type=_positive, default=tuning.COPY_CONNECTIONS, metavar="N",
                   help=f"parallel COPY connections, each loading one day (default {tuning.COPY_CONNECTIONS}: "
                        "PostgreSQL ingests one stream per core); under Dask each worker task opens its own "
                        "connection instead, so the workers' count is the parallelism")
    executor(e, "where partitions are built")
    e.add_argument("--batch-rows", type=_positive, default=tuning.COPY_BATCH_ROWS, metavar="N",
                   help="rows per Arrow batch where pgpq encodes (sessions, page views, feature usage; tap "
                        f"events use datagen's own encoder); default {tuning.COPY_BATCH_ROWS}, any N gives the "
                        "same bytes")
    loading(e, replace="replace existing day partitions without asking (required when there is no terminal)",
            dry_run="print the event plan (rows per table for the window and the whole range) and write nothing",
            manifest="also export the manifest as JSON to PATH after the commit (it is always recorded in the "
                     "schema's _datagen_manifest table, in the swap's own transaction)")
    sinks(e)

    v = sub.add_parser(
        "validate", help="prove the database holds exactly what the config, seed and manifest say",
        description="Read the tables back out of PostgreSQL (binary COPY, event tables one day partition at a "
                    "time) and run the validation catalogue on them: ids, foreign keys and denormalized copies, "
                    "business and data-quality rules, temporal rules, distributions. Then compare every table and "
                    "partition with the manifest the loads recorded in the schema (_datagen_manifest, written in "
                    "the same transaction as the data): rows, id spans and content fingerprints; "
                    "missing, extra and altered partitions are named. Waits for a running load into the schema. "
                    "Exit 0: everything passes; 1: violations; 2: bad usage or the database is unreachable.")
    common(v)
    scaled(v, "Must be the S the schema was generated with")
    reading(v, what="validate", parquet="validate a Parquet dataset (`--sink parquet --out`) instead of the database: "
                                         "the same catalogue, against the _datagen_manifest.json beside it")
    v.add_argument("--manifest", type=Path, metavar="PATH",
                   help="compare with this JSON manifest (`datagen status --export` writes one) instead of the one "
                        "recorded in the schema's _datagen_manifest table")
    v.add_argument("--tables", type=_table_list, metavar="T1,T2",
                   help="report only these tables' checks (the core tables are always read: events join them)")
    v.add_argument("--checks", type=_table_list, metavar="PATTERN,...",
                   help="run only checks whose name matches, e.g. 'tap_events.*,*_fk' (see --list)")
    v.add_argument("--connections", type=_positive, default=tuning.READ_CONNECTIONS, metavar="N",
                   help=f"partitions read at once, one connection each (default {tuning.READ_CONNECTIONS})")
    v.add_argument("--json", action="store_true", help="machine-readable output on stdout (for CI)")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.add_argument("--in-memory", action="store_true",
                   help="check freshly generated core frames instead of the database (needs no database)")
    v.add_argument("--list", action="store_true", help="print every check and what it asserts, then exit")

    r = sub.add_parser(
        "report", help="draw the loaded data beside its config: one HTML page and a PNG per chart",
        description="Profile the loaded schema (or --parquet dataset) and write one self-contained HTML page "
                    "(charts embedded, opens without a network) and a PNG per chart under --out. Each chart stands "
                    "beside the config it should follow, drawn as the expected curve or values, with the pass/fail "
                    "marks of the validate checks that hold it there (the tap-event distribution checks share their "
                    "aggregates and verdicts with validate). The header names the tables, rows, event days, seed, "
                    "config digest, datagen version and load time. Event tables are read one day partition at a "
                    "time, only the columns the charts need. Exit 0: every mark passes; 1: a mark fails, or the core "
                    "tables are not what the config generates, so the tap-event charts cannot be drawn (the report "
                    "is written either way); 2: bad usage or the database is unreachable.")
    common(r)
    scaled(r, "Must be the S the schema was generated with")
    reading(r, what="draw", parquet="draw a Parquet dataset (`--sink parquet --out`) instead of the database")
    r.add_argument("--out", type=Path, default=Path(".datagen/report"), metavar="DIR",
                   help="folder for report.html and the PNGs (default: .datagen/report)")
    r.add_argument("--connections", type=_positive, default=tuning.READ_CONNECTIONS, metavar="N",
                   help=f"partitions read at once, one connection each (default {tuning.READ_CONNECTIONS})")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    d = sub.add_parser(
        "dbt-sources", help="write the dbt sources YAML for the loaded schema",
        description="Write a dbt sources file for the raw schema from datagen's table declarations: source "
                    "app_database, every table with its identifier and its columns (tap events in the config's "
                    "events.tap_events.layout) described in one line, and tests that follow from the declarations: "
                    "unique and not_null on primary keys, not_null on NOT NULL columns, relationships on foreign "
                    "keys, equals_parent on denormalized copies (copy tests/dbt/macros/equals_parent.sql into "
                    "your project's macros) and accepted_values on the value domains datagen writes. Needs no "
                    "database.")
    common(d)
    d.add_argument("--schema", default=SCHEMA, help=f"the source's schema (default: {SCHEMA})")
    d.add_argument("--dbt-database", metavar="NAME",
                   help="the source's database (default: none, so dbt uses the target's database)")
    d.add_argument("--out", type=Path, metavar="PATH", help="file to write (default: standard output)")

    st = sub.add_parser(
        "status", help="print what a schema holds, from its manifest table",
        description="Print what the schema holds according to its manifest table (_datagen_manifest, recorded by "
                    "every load in the same transaction as the data): every table with its rows, the days and "
                    "partitions of the event tables and their layout, whether the catalog still has exactly the "
                    "partitions the manifest lists, and the last runs (when, which command and datagen version, "
                    "seed, config digest). Reads no data. Exit 0: the manifest matches the catalog; 1: partitions "
                    "or tables missing or extra; 2: no such schema or the database is unreachable.")
    st.add_argument("--schema", default=SCHEMA, help=f"schema to describe (default: {SCHEMA})")
    st.add_argument("--database-url", metavar="URL", help="PostgreSQL URL; overrides DATABASE_URL")
    st.add_argument("--export", type=Path, metavar="PATH", help="also write the manifest as JSON to PATH")

    dd = sub.add_parser(
        "ddl", help="print the DDL of every table, rendered from the table declarations",
        description="Print the CREATE TABLE, key and comment statements datagen runs, rendered from the table "
                    "declarations (datagen/tables.py): the core tables, their keys (added after each load), the "
                    "partitioned event tables and the typed layout of tap events (commented out). Needs no "
                    f"database. --write refreshes the checked-in copy, {ddl.DDL_FILE}.")
    dd.add_argument("--schema", default=SCHEMA, help=f"schema to render for (default: {SCHEMA})")
    dd.add_argument("--write", action="store_true", help=f"write the file instead of printing ({ddl.DDL_FILE})")
    dd.add_argument("--out", type=Path, metavar="PATH",
                    help=f"write the DDL to PATH instead (--write without it: {ddl.DDL_FILE})")

    sub.add_parser("db-url", help="start (or reuse) the embedded server and print its URL")
    sub.add_parser("db-stop", help="stop the embedded server")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _dispatch(_parser(), list(sys.argv[1:] if argv is None else argv))
    except DatagenError as exc:
        report.err.print(f"[bold red]error:[/] {redact(str(exc))}", markup=True, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        report.err.print("interrupted; nothing was committed")
        return EXIT_INTERRUPTED


def _dispatch(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    _malloc.tune()
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "db-url":
        url = embedded.ensure_server()
        print(url)
        report.err.print(f"psql '{url}'")
        return EXIT_OK
    if args.command == "db-stop":
        stopped = embedded.stop_server()
        report.err.print("embedded server stopped" if stopped else "embedded server was not running")
        return EXIT_OK
    if args.command == "validate" and args.list:
        for name, description in validate.catalogue_names():
            print(f"{name:48s} {description}")
        return EXIT_OK
    if args.command == "ddl":
        _check_schema_name(args.schema)
        if not (args.write or args.out):
            print(ddl.script(args.schema), end="")
            return EXIT_OK
        out = args.out or Path(__file__).resolve().parent.parent / ddl.DDL_FILE
        _write_file(out, ddl.script(args.schema), example="schema.sql")
        report.err.print(f"wrote {out}")
        return EXIT_OK
    if args.command == "status":
        _check_schema_name(args.schema)
        return _status(args.schema, args.database_url, args.export)
    cfg = scale_config(load_config(args.config), getattr(args, "scale", DEFAULT_SCALE))
    if args.command == "validate":
        if args.in_memory:
            return _validate_in_memory(cfg, as_json=args.json)
        _check_schema_name(args.schema)
        return pipeline.run_validate(cfg, pipeline.ValidateOptions(
            schema=args.schema, database_url=args.database_url, manifest=args.manifest, tables=args.tables,
            checks=args.checks, connections=args.connections, as_json=args.json, progress=not args.no_progress,
            parquet=args.parquet))
    _check_schema_name(args.schema)
    if args.command == "report":
        return pipeline.run_report(cfg, pipeline.ReportOptions(
            schema=args.schema, database_url=args.database_url, out=args.out, connections=args.connections,
            progress=not args.no_progress, parquet=args.parquet))
    if args.command in ("generate", "generate-events"):
        _check_sink(args)
    if args.command == "dbt-sources":
        return _dbt_sources(cfg, args.config, args.schema, args.dbt_database, args.out)
    if args.command == "generate-events":
        pipeline.run_generate_events(cfg, pipeline.EventOptions(
            config_path=args.config, schema=args.schema, database_url=args.database_url, yes=args.yes,
            dry_run=args.dry_run, manifest=args.manifest, progress=not args.no_progress, start=args.start,
            end=args.end, connections=args.connections, batch_rows=args.batch_rows, tables=args.tables,
            adopt=args.adopt, sink=args.sink, out=args.out, compression=args.compression,
            executor=executors.Executor(args.executor, args.scheduler, args.dask_workers),
            workers=args.workers or (tuning.PARQUET_WRITERS if args.sink == "parquet" else tuning.BUILD_WORKERS)))
        return EXIT_OK
    pipeline.run_generate(cfg, pipeline.Options(
        config_path=args.config, schema=args.schema, database_url=args.database_url, yes=args.yes,
        dry_run=args.dry_run, manifest=args.manifest, progress=not args.no_progress, only=args.only,
        adopt=args.adopt, sink=args.sink, out=args.out, compression=args.compression,
        executor=executors.Executor(args.executor, args.scheduler, args.dask_workers)))
    return EXIT_OK


def _check_sink(args: argparse.Namespace) -> None:
    """The options that go with --sink parquet, before any work."""
    if args.sink == "parquet":
        if not args.out:
            raise UsageError("--sink parquet needs --out PATH_OR_URL", hint="e.g. --out .datagen/parquet")
        for flag, given in (("--only", getattr(args, "only", None)), ("--database-url", args.database_url),
                            ("--adopt", args.adopt), ("--manifest", args.manifest)):
            if given:
                raise UsageError(f"{flag} is for --sink postgres; the Parquet sink writes its manifest beside the "
                                 "data", hint=f"leave out {flag}, or drop --sink parquet")
    elif args.out:
        raise UsageError("--out is for --sink parquet", hint="add --sink parquet, or leave out --out")


def _write_file(out: Path, text: str, *, example: str) -> None:
    """Write text to the --out file atomically (a temporary name, then a rename); errors name the path."""
    if out.is_dir() or not out.name:
        raise UsageError(f"--out: {out} is a folder", hint=f"give a file, e.g. {out / example}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None


def _dbt_sources(cfg: Config, config_path: str, schema: str, database: str | None, out: Path | None) -> int:
    text = dbt_sources.render(cfg, schema=schema, database=database, config_path=config_path)
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    _write_file(out, text, example="app_database.yml")
    report.err.print(f"wrote the dbt sources for schema {schema} to {out}")
    return EXIT_OK


def _status(schema: str, database_url: str | None, export: Path | None) -> int:
    target = db.resolve(database_url)
    st = status.read_status(target, schema)
    report.err.print(f"Target: {target.display} ({target.source}), schema {schema}")
    if st.manifest is None:
        if not st.present:
            raise UsageError(f"schema {schema} at {target.display} holds no datagen table",
                             hint="run `just generate` (and `just generate-events`) first, or pass --schema")
        report.out.print(f"Schema {schema} holds {', '.join(sorted(st.present))} but no manifest table: it was "
                         "loaded before datagen recorded one. Reload with `just generate` and `just generate-events` "
                         "to record it.")
        return EXIT_OK
    runs = st.manifest["runs"]
    last = runs[-1] if runs else {}
    report.out.print(status.status_table(st))
    if runs:
        report.out.print(status.runs_table(st))
        report.out.print(f"Last loaded {str(last.get('ended_at', ''))[:19].replace('T', ' ')} UTC by datagen "
                         f"{last.get('datagen_version')} (`{last.get('command')}`), seed {last.get('seed')}, config "
                         f"digest {last.get('config_digest')}; {len(runs)} runs recorded.")
    if st.matches:
        report.out.print("The manifest matches the catalog.")
    else:
        report.out.print("[bold red]The manifest does not match the catalog:[/]")
        for key in st.missing:
            for what, names in (("missing (in the manifest, not in the catalog)", st.missing[key]),
                                ("extra (in the catalog, not in the manifest)", st.extra.get(key, []))):
                if names:
                    report.out.print(f"  {TABLES[key].name}: {what}: {', '.join(names)}", highlight=False)
        report.out.print("`just validate` compares the rows too; reload the tables concerned to record them again.")
    if export is not None:
        write_manifest(st.manifest, export)
        report.err.print(f"exported the manifest to {export}")
    return EXIT_OK if st.matches else EXIT_VIOLATIONS


def _validate_in_memory(cfg: Config, *, as_json: bool) -> int:
    outcomes = checks.run_checks(generate(cfg).frames, cfg)
    failed = [o for o in outcomes if not o.passed]
    if as_json:
        print(json.dumps({"passed": not failed, "checks": [
            {"name": o.check.name, "severity": o.check.severity, "description": o.check.description,
             "violations": o.violations, "sample": o.sample, "seconds": round(o.seconds, 6)}
            for o in outcomes]}, indent=2, default=str))
    else:
        report.out.print(report.checks_table(outcomes))
        report.out.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} checks passed.")
    return EXIT_VIOLATIONS if failed else EXIT_OK


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return n


def _scale(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = 0.0
    if not (s > 0 and s != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return s


def _table_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _check_schema_name(schema: str) -> None:
    if not schema or len(schema) > 63 or schema.startswith("pg_") or schema == "information_schema":
        raise UsageError(f"--schema: {schema!r} is not a usable schema name",
                         hint="use 1-63 characters, not starting with pg_")
