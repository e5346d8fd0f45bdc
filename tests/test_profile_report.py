"""`datagen report` on a real PostgreSQL (and a Parquet dataset), opened in a real headless Chromium: the page
loads with no console message, every chart embeds its points as JSON with at least one non-zero point, every
pass/fail mark agrees with validate's result for its check, and pours moved to 3 am turn the hour-of-day mark
and validate's check to FAIL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datagen import profile_html
from datagen.cli import main
from tests.test_validate import by_name, execute, report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# As the machine's probe starts it: without the background-networking flags Chromium dials Google's hosts
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0")
DATA = re.compile(r"<script type=['\"]application/json['\"] class=['\"]?chart-data['\"]? id=['\"]data-[^'\"]+['\"]>"
                  r"(.*?)</script>", re.S)


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); CI installs it")
    return CHROMIUM


def open_page(browser: str, page: Path, tmp: Path, *args: str) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran (or, with --screenshot, nothing) and the console messages it logged."""
    run = subprocess.run([browser, *FLAGS, f"--user-data-dir={tmp / 'chromium'}", *args, page.as_uri()],
                         capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, [line for line in run.stderr.splitlines() if ":CONSOLE" in line]


def charts_of(page_text: str) -> list[dict[str, Any]]:
    return [json.loads(m.replace("<\\/", "</")) for m in DATA.findall(page_text)]


def marks_of(charts: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in charts:
        for m in c["marks"]:
            out[m["check"]] = m["status"]
    return out


def test_the_console_check_sees_a_page_that_throws(chromium: str, tmp_path: Path) -> None:
    """The browser check below can fail: a script error reaches the console lines it reads."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('boom')</script></body></html>", encoding="utf-8")
    _, console = open_page(chromium, bad, tmp_path, "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in console)


def test_report_opens_in_chromium_and_its_marks_agree_with_validate(
        db_env: str, schema: str, small_loaded: list[str], tmp_path: Path, chromium: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["report", *small_loaded, "--out", str(out), "--no-progress"]) == 0
    page = out / profile_html.HTML_FILE
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    charts = charts_of(text)
    ids = {c["id"] for c in charts}
    assert {"tap_hour_of_day", "tap_weekday", "tap_daily", "tap_pour_volume", "tap_temperature", "tap_pressure",
            "devices_per_location", "users_per_account", "device_mix", "account_growth", "mrr_by_tier",
            "churn_by_month", "sessions_by_role_hour", "page_transitions", "feature_usage", "null_shares"} <= ids
    for c in charts:
        assert (out / f"{c['id']}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        points = [v for series in c["series"].values() for v in series if v]
        assert points, f"{c['id']} draws no non-zero point"
    hours = next(c for c in charts if c["id"] == "tap_hour_of_day")
    sums = [sum(s) for s in hours["series"].values()]  # shares of each industry's day (0: none in a small config)
    assert all(abs(x - 1) < 1e-3 or x == 0 for x in sums) and max(sums) > 0.99
    assert len(hours["x"]) == 24

    # the page in a real browser: it loads, its script parses every chart's JSON, nothing reaches the console
    dom, console = open_page(chromium, page, tmp_path, "--dump-dom")
    assert console == []
    assert f'data-charts="{len(charts)}"' in dom
    assert charts_of(dom) == charts
    shot = tmp_path / "report.png"
    _, console = open_page(chromium, page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert console == [] and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    # every mark is validate's result for that check
    code, rep = report(capsys, *small_loaded)
    assert code == 0
    checks = by_name(rep)
    marks = marks_of(charts)
    assert len(marks) >= 20
    assert {name: checks[name]["status"] for name in marks} == marks
    assert set(marks.values()) == {"ok"}

    # pours moved to 3 am: the hour-of-day mark and validate's check both turn to FAIL
    execute(db_env, schema, "UPDATE {s}.app_database_tap_events SET timestamp = date_trunc('day', timestamp) "
                            "+ interval '3 hours' WHERE event_type = 'pour'")
    assert main(["report", *small_loaded, "--out", str(out), "--no-progress"]) == 1
    damaged = marks_of(charts_of((out / profile_html.HTML_FILE).read_text(encoding="utf-8")))
    assert damaged["tap_events.hour_profile"] == "FAIL"
    code, rep = report(capsys, *small_loaded)
    checks = by_name(rep)
    assert code == 1 and checks["tap_events.hour_profile"]["status"] == "FAIL"
    assert any(" 03:00: " in s for s in checks["tap_events.hour_profile"]["sample"])
    assert {name: checks[name]["status"] for name in damaged} == damaged
    dom, console = open_page(chromium, out / profile_html.HTML_FILE, tmp_path, "--dump-dom")
    assert console == [] and "tap_events.hour_profile" in dom and "class=\"mark fail\"" in dom


def test_report_draws_a_parquet_dataset_with_the_same_marks(db_env: str, small: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--config", str(small)]
    assert main(["generate", *args, "--sink", "parquet", "--out", str(data), "--no-progress"]) == 0
    assert main(["generate-events", *args, "--sink", "parquet", "--out", str(data), "--no-progress"]) == 0
    out = tmp_path / "report"
    assert main(["report", *args, "--parquet", str(data), "--out", str(out), "--no-progress"]) == 0
    charts = charts_of((out / profile_html.HTML_FILE).read_text(encoding="utf-8"))
    marks = marks_of(charts)
    assert marks["tap_events.hour_profile"] == "ok" and set(marks.values()) == {"ok"}
    assert sum(next(c for c in charts if c["id"] == "tap_daily")["series"]["events"]) > 0


def test_report_refuses_a_file_as_out_and_an_empty_schema(db_env: str, schema: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    assert main(["report", "--out", str(f), "--no-progress"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["report", "--schema", schema, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert schema in err and "holds no datagen table" in err
    assert not (tmp_path / "r" / profile_html.HTML_FILE).exists()


def test_report_refuses_another_scale_than_the_schemas(db_env: str, small_loaded: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", *small_loaded, "--scale", "2", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "report with --scale 1" in err
    assert not (tmp_path / "r").exists()


def test_core_tables_unlike_the_config_leave_out_the_tap_charts_with_a_message(
        db_env: str, schema: str, small_loaded: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An industry the config does not know: no expectation for the tap events. The report says so, draws the
    rest and exits 1; no traceback."""
    execute(db_env, schema, "UPDATE {s}.app_database_accounts SET industry = 'casino' WHERE id = 1")
    out = tmp_path / "report"
    assert main(["report", *small_loaded, "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "not drawn: the tap-event charts: the core tables are not what this config generates" in err
    charts = charts_of((out / profile_html.HTML_FILE).read_text(encoding="utf-8"))
    ids = {c["id"] for c in charts}
    assert "tap_hour_of_day" not in ids and {"device_mix", "null_shares"} <= ids


def test_feature_categories_are_the_staging_models() -> None:
    """The report's categories, word for word, are the staging model's CASE (tests/dbt), in its order."""
    from datagen.builders import feature_usage
    from datagen.profile import FEATURE_CATEGORIES, _category

    sql_text = (Path(__file__).parent / "dbt/models/staging/stg_app_database__feature_usage.sql").read_text(
        encoding="utf-8")
    case = sql_text[sql_text.index("case"):sql_text.index("as feature_category")]
    staged = [(label, tuple(re.findall(r"like '%(\w+)%'", cond)))
              for cond, label in re.findall(r"when (.*?) then '(\w+)'", case)]
    assert list(FEATURE_CATEGORIES) == staged
    names = pl.Series("feature_name", [*feature_usage.NAMES, "Alert_X", None])
    got = pl.select(_category(pl.lit(names))).to_series().to_list()
    assert "Other" not in got[:-2] and got[-2:] == ["Alerts", "(NULL)"]
