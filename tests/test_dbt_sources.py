"""`datagen dbt-sources`: the YAML follows the declarations exactly (no database needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from datagen import dbt_sources
from datagen.cli import main
from datagen.config import Config
from datagen.domains import domains
from datagen.tables import LAYOUTS, TABLES


def _tables(cfg: Config, **kw: Any) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(dbt_sources.render(cfg, schema="raw", **kw))
    assert doc["version"] == 2 and len(doc["sources"]) == 1 and doc["sources"][0]["name"] == "app_database"
    return {t["name"]: t for t in doc["sources"][0]["tables"]}


def _tests(column: dict[str, Any], kind: str) -> list[Any]:
    out = []
    for test in column.get("data_tests", []):
        if test == kind:
            out.append(test)
        elif isinstance(test, dict) and kind in test:
            out.append(test[kind])
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_table_and_column_with_the_tests_its_declaration_implies(cfg: Config, layout: str) -> None:
    cfg = dataclasses.replace(cfg, events=dataclasses.replace(cfg.events, tap_layout=layout))
    tables = _tables(cfg)
    values = domains(cfg)
    assert list(tables) == list(TABLES)
    for key, t in TABLES.items():
        entry = tables[key]
        assert entry["identifier"] == t.name and entry["description"].strip()
        columns = {c["name"]: c for c in entry["columns"]}
        stored = t.stored_columns(layout)
        assert list(columns) == [c.name for c in stored], key
        for c in stored:
            col = columns[c.name]
            assert col["description"].strip(), (key, c.name)
            assert bool(_tests(col, "not_null")) == (not c.nullable), (key, c.name)  # from the declaration only
            assert bool(_tests(col, "unique")) == (c.name == t.primary_key), (key, c.name)
            fks = [fk for fk in t.foreign_keys if fk.column == c.name]
            assert _tests(col, "relationships") == [
                {"to": f"source('app_database', '{fk.parent}')", "field": fk.parent_column} for fk in fks]
            copies = [(via, parent_column) for column, via, parent_column in t.copies if column == c.name]
            got = _tests(col, "equals_parent")
            assert [(g["via"], g["parent_field"]) for g in got] == copies, (key, c.name)
            for g in got:
                fk = next(fk for fk in t.foreign_keys if fk.column == g["via"])
                assert g["to"] == f"source('app_database', '{fk.parent}')" and g["parent_key"] == fk.parent_column
            domain = values.get(key, {}).get(c.name)
            assert _tests(col, "accepted_values") == ([{"values": list(domain)}] if domain else []), (key, c.name)
    tap = {c["name"]: c for c in tables["tap_events"]["columns"]}
    assert ("metrics" in tap) == (layout == "contract")
    if layout == "contract":
        assert all(k in tap["metrics"]["description"] for k in
                   ("volume_ml", "temperature_c", "pressure_psi", "flow_rate_ml_per_sec", "duration_seconds"))


def test_every_declared_relationship_and_copy_has_its_test(cfg: Config) -> None:
    tables = _tables(cfg)
    relationships = sum(len(_tests(c, "relationships")) for t in tables.values() for c in t["columns"])
    copies = sum(len(_tests(c, "equals_parent")) for t in tables.values() for c in t["columns"])
    assert relationships == sum(len(t.foreign_keys) for t in TABLES.values()) == 17
    assert copies == sum(len(t.copies) for t in TABLES.values()) == 8


def test_the_command_writes_the_file_with_schema_and_database(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models" / "sources" / "app_database.yml"
    assert main(["dbt-sources", "--schema", "raw_dev", "--dbt-database", "saas_platform_dev", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().err
    source = yaml.safe_load(out.read_text())["sources"][0]
    assert (source["schema"], source["database"]) == ("raw_dev", "saas_platform_dev")
    assert main(["dbt-sources"]) == 0  # standard output, the default schema, no database
    printed = yaml.safe_load(capsys.readouterr().out)["sources"][0]
    assert printed["schema"] == "raw" and "database" not in printed
    assert printed["tables"] == source["tables"]


def test_an_unwritable_out_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["dbt-sources", "--out", str(blocker / "sources.yml")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["dbt-sources", "--out", str(tmp_path)]) == 2  # a folder, not a file
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err
