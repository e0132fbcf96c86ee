"""`evidex report`: one self-contained HTML file whose charts and tables match the database."""

from __future__ import annotations

import re
import subprocess
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from querying_support import EVIDEX, ROOT, evidence_db, has_seed_tables, sql_rows

from evidex.db import open_db
from evidex.report import report


class Elements(HTMLParser):
    "Every start tag with its attributes, in document order."

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def db() -> Path:
    return evidence_db()


@pytest.fixture(scope="module")
def html(db, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = subprocess.run([*EVIDEX, "report", "--db", str(db), "--output", str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8")


def bars(tags, chart: str) -> dict[str, int]:
    "label -> value of the bars inside one data-chart svg."
    inside, found = False, {}
    for tag, attrs in tags:
        if tag == "svg":
            inside = attrs.get("data-chart") == chart
        elif inside and tag == "rect" and "data-label" in attrs:
            found[attrs["data-label"]] = int(attrs["data-value"])
    return found


def test_report_needs_no_network(html):
    tags = parse(html)
    assert not [t for t, a in tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [a for t, a in tags if "src" in a]
    assert "@import" not in html and "url(" not in html


def test_categories_and_entities_charts_match_the_database(db, html):
    tags = parse(html)
    categories = {r["category"]: r["n"] for r in sql_rows(db, "select category, count(*) as n from current_claims group by category")}
    assert bars(tags, "categories") == categories
    top = sql_rows(db, "select entity, claims from entity_counts order by claims desc, entity limit 20")
    assert bars(tags, "entities") == {r["entity"]: r["claims"] for r in top}


def test_seed_claim_charts_count_supporting_and_contradicting_claims(db, html):
    if not has_seed_tables(db):
        pytest.skip("the seed migration is not in this schema yet")
    tags = parse(html)
    charts = [a["data-chart"] for t, a in tags if t == "svg" and a.get("data-chart", "").startswith("seed-")]
    expected = sql_rows(db, """
        select s.seed_id, sum(l.relation = 'supports') as supports, sum(l.relation = 'contradicts') as contradicts
        from seed_status s join claim_links l on l.seed_id = s.seed_id and l.baseline_id = s.baseline_id
        join current_claims cc on cc.id = l.claim_id
        where l.relation in ('supports', 'contradicts') group by s.seed_id order by s.position""")
    assert charts == [f"seed-{r['seed_id']}" for r in expected] and charts
    # Sum the bars of each chart: supporting (up) and contradicting (down) per year.
    totals: dict[str, list[int]] = {}
    current = None
    for tag, attrs in tags:
        if tag == "svg":
            current = attrs.get("data-chart")
        elif tag == "rect" and current and current.startswith("seed-"):
            kind = 0 if attrs["class"] == "supports" else 1
            totals.setdefault(current[5:], [0, 0])[kind] += int(attrs["data-value"])
    assert totals == {r["seed_id"]: [r["supports"], r["contradicts"]] for r in expected}


def test_newest_papers_and_runs_tables(db, html):
    newest = sql_rows(db, "select title from documents where pub_date is not null order by pub_date desc limit 1")[0]
    papers = html.split('<table class="papers">', 1)[1].split("</table>", 1)[0]
    assert escape(newest["title"][:30]) in papers
    runs = html.split('<table class="runs">', 1)[1].split("</table>", 1)[0]
    run_ids = [r["id"] for r in sql_rows(db, "select id from runs order by id desc limit 10")]
    assert re.findall(r'<tr><td class="num">(\d+)</td>', runs) == [str(i) for i in run_ids]


def test_report_on_an_empty_database_says_so(tmp_path):
    path = tmp_path / "empty.db"
    open_db(path).conn.close()
    result = CliRunner().invoke(report, ["--db", str(path), "--output", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "Nothing to chart yet" in html and "evidex seed load" in html


def test_open_opens_the_file_in_a_browser(tmp_path, monkeypatch):
    path = tmp_path / "empty.db"
    open_db(path).conn.close()
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    result = CliRunner().invoke(report, ["--db", str(path), "--output", str(tmp_path / "r.html"), "--open"])
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "r.html").resolve().as_uri()]


def test_missing_database_is_a_usage_error(tmp_path):
    result = subprocess.run([*EVIDEX, "report", "--db", str(tmp_path / "nope.db")], capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_an_unwritable_output_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "empty.db"
    open_db(path).conn.close()
    target = tmp_path / "no-such-dir" / "r.html"
    result = subprocess.run([*EVIDEX, "report", "--db", str(path), "--output", str(target)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: cannot write {target}: No such file or directory"]


def test_open_with_no_browser_says_so(tmp_path, monkeypatch):
    path = tmp_path / "empty.db"
    open_db(path).conn.close()
    monkeypatch.setattr("webbrowser.open", lambda uri: False)
    result = CliRunner().invoke(report, ["--db", str(path), "--output", str(tmp_path / "r.html"), "--open"])
    assert result.exit_code == 0 and "no browser to open it with" in result.output


@pytest.mark.parametrize("paper,href", [
    ({"title": "A", "pmid": "12345", "doi": "10.1/x"}, "https://pubmed.ncbi.nlm.nih.gov/12345/"),
    ({"title": "A", "pmid": "para-01", "doi": "10.1/x"}, "https://doi.org/10.1/x"),
    ({"title": "A", "pmid": "para-01", "doi": None}, None),
])
def test_a_paper_links_to_pubmed_only_under_a_real_pmid(paper, href):
    from evidex.report import paper_link

    html = paper_link(paper).html
    assert (f'href="{href}"' in html) if href else "href" not in html


def test_the_review_line_stands_after_the_reviews_own_year():
    "A bar of the review's year mixes evidence from before and after it: the line goes right of it."
    from evidex.report import year_chart

    svg = year_chart({"seed_id": "SR-01", "years": {2024: (1, 0), 2026: (2, 1), 2027: (1, 0)}}, 2026)
    [line_x] = re.findall(r'<line class="review" x1="([\d.]+)"', svg)
    bars = {int(y): float(x) for x, y in re.findall(r'<rect class="supports" x="([\d.]+)"[^>]*data-year="(\d+)"', svg)}
    assert bars[2026] < float(line_x) < bars[2027]
