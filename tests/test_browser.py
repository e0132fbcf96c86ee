"""Headless Chromium renders a Datasette canned query and the HTML report; screenshots go to artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from querying_support import EVIDEX, ROOT, evidence_db, running_server, sql_rows

from evidex.serve import QUERIES

CHROMIUM = Path(os.environ.get("EVIDEX_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "artifacts"
WINDOW = (1280, 1600)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"{CHROMIUM} is missing: install Debian's chromium (.ci/browser-deps.sh)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def browse(chromium: Path, url: str, tmp_path: Path, shot: str) -> str:
    "Screenshot url (checked, then kept as artifacts/shot) and return its rendered DOM."
    flags = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}"]
    out = tmp_path / shot  # checked here: another test run may be writing artifacts/ too
    shot_run = subprocess.run([*flags, f"--screenshot={out}", url], capture_output=True, text=True, timeout=120)
    assert out.is_file(), shot_run.stderr[-2000:]
    assert_screenshot(out)
    ARTIFACTS.mkdir(exist_ok=True)
    partial = ARTIFACTS / f".{shot}.{os.getpid()}"
    shutil.copyfile(out, partial)
    os.replace(partial, ARTIFACTS / shot)
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    return dom.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def assert_screenshot(path: Path) -> None:
    assert png_size(path) == WINDOW
    # A blank page compresses to a few kilobytes; a rendered table or chart does not.
    assert path.stat().st_size > 20_000, f"{path} looks blank"


def test_canned_query_page_renders_its_table(chromium, tmp_path):
    db = evidence_db()
    expected = sql_rows(db, QUERIES["claims_for_entity"]["sql"], {"entity": "STING1"})
    assert expected
    with running_server(db) as base:
        dom = browse(chromium, f"{base}/evidex/claims_for_entity?entity=STING1", tmp_path, "datasette-query.png")
        facets = browse(chromium, f"{base}/evidex/current_claims?_search=interferon", tmp_path, "datasette-table.png")
    assert "Claims by entity" in dom
    table = dom.split('<table class="rows-and-columns">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    assert body.count("<tr>") == len(expected)
    headings = re.findall(r'<th class="col-([^" ]+)', table)
    assert headings[:3] == list(expected[0])[:3]
    assert expected[0]["claim_id"] in body and 'href="/evidex/claims/' in body
    assert 'class="facet-info' in facets and "rows-and-columns" in facets


def test_html_report_renders_its_charts(chromium, tmp_path):
    db = evidence_db()
    out = tmp_path / "report.html"
    result = subprocess.run([*EVIDEX, "report", "--db", str(db), "--output", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    dom = browse(chromium, out.resolve().as_uri(), tmp_path, "report.png")
    charts = re.findall(r'<svg class="chart" data-chart="([^"]+)"', dom)
    assert "categories" in charts and "entities" in charts
    categories = sql_rows(db, "select count(distinct category) as n from current_claims")[0]["n"]
    chart = dom.split('data-chart="categories"', 1)[1].split("</svg>", 1)[0]
    assert chart.count('<rect class="bar"') == categories
    assert '<table class="papers">' in dom and '<table class="runs">' in dom
    if sql_rows(db, "select count(*) as n from sqlite_master where name = 'claim_links'")[0]["n"]:
        assert any(c.startswith("seed-") for c in charts)
