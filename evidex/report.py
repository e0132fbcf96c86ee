"""`evidex report`: one self-contained HTML file of charts and tables, viewable without a network."""

from __future__ import annotations

import datetime
import sqlite3
import webbrowser
from html import escape
from pathlib import Path
from typing import Any

import click

from .db import claims_restored, withdrawn_on_arrival
from .errors import UsageError

SEED_TABLES = ("baselines", "seed_claims", "claim_links", "seed_evidence_by_year")
UNDATED = "n.d."
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #d0d7de}
.meta{color:#57606a}.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;padding:8px;border:1px solid #d0d7de;border-radius:6px;background:#fff}
figcaption{font-size:12px;max-width:320px;color:#24292f}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #d0d7de;
padding:4px 6px;text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right}
td:first-child{white-space:nowrap}
svg text{font:11px system-ui,sans-serif;fill:#24292f}.bar{fill:#0969da}.supports{fill:#1a7f37}
.contradicts{fill:#cf222e}.review{stroke:#8250df;stroke-dasharray:3 2}.axis{stroke:#8c959f}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


def rows(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[dict]:
    return [dict(r) for r in conn.execute(sql, params)]


def gather(conn: sqlite3.Connection, runs: int = 10, papers: int = 15, entities: int = 20) -> dict[str, Any]:
    "Everything the report shows, read from the database in plain SQL."
    names = {r[0] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
    data: dict[str, Any] = {
        "documents": conn.execute("select count(*) from documents where coalesce(deleted, 0) = 0").fetchone()[0],
        "claims": conn.execute("select count(*) from current_claims").fetchone()[0],
        "categories": rows(conn, "select category as label, count(*) as value from current_claims "
                                 "group by category order by value desc, label"),
        "entities": rows(conn, "select entity as label, claims as value from entity_counts "
                               "order by claims desc, entity limit ?", [entities]),
        "papers": rows(conn, "select d.id, d.pmid, d.doi, d.title, d.journal, "
                             "coalesce(d.pub_date, d.entry_date, cast(d.year as text)) as date, "
                             "(select count(*) from current_claims c where c.doc_id = d.id) as claims "
                             "from documents d where coalesce(d.deleted, 0) = 0 "
                             "order by date is null, date desc, d.id limit ?", [papers]),
        "runs": rows(conn, "select * from runs order by id desc limit ?", [runs]),
        "baseline": None, "seeds": [],
    }
    for run in data["runs"]:
        run["ledger"] = rows(conn, "select * from ledger where run_id = ? order by id", [run["id"]])
        # Superseded claims a run made current again: not new, but back in the evidence (claim_gaps).
        run["claims_restored"] = claims_restored(conn, run["id"]) if "claim_gaps" in names else 0
        run["withdrawn_on_arrival"] = withdrawn_on_arrival(conn, run["id"]) if "withdrawals" in names else 0
    if all(t in names for t in SEED_TABLES):
        data["baseline"] = next(iter(rows(conn, "select * from baselines order by loaded_at desc, rowid desc limit 1")), None)
    if data["baseline"]:
        data["seeds"] = seed_series(conn, data["baseline"]["id"])
    return data


def seed_series(conn: sqlite3.Connection, baseline_id: str) -> list[dict]:
    "Per seed claim with evidence: supporting and contradicting claims by publication year."
    counts = rows(conn, "select seed_id, year, supporting as supports, contradicting as contradicts "
                        "from seed_evidence_by_year where baseline_id = ? and supporting + contradicting > 0",
                  [baseline_id])
    seeds = rows(conn, "select seed_id, text, direction from seed_claims where baseline_id = ? "
                       "order by position", [baseline_id])
    for seed in seeds:
        seed["years"] = {(r["year"] or UNDATED): (r["supports"], r["contradicts"])
                         for r in counts if r["seed_id"] == seed["seed_id"]}
    return [s for s in seeds if s["years"]]


def bar_chart(name: str, items: list[dict], width: int = 520) -> str:
    "Horizontal bars, one per item (label, value), as inline SVG."
    if not items:
        return f'<p class="empty" data-chart="{name}">Nothing to chart yet.</p>'
    top, row, label_w = max(i["value"] for i in items) or 1, 20, 170
    height = row * len(items) + 6
    parts = [f'<svg class="chart" data-chart="{name}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for n, item in enumerate(items):
        y, w = n * row + 3, max(1, round((width - label_w - 50) * item["value"] / top))
        label = escape(str(item["label"] if item["label"] is not None else "(none)"))
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{label[:28]}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{row - 5}" '
                     f'data-label="{label}" data-value="{item["value"]}"><title>{label}: {item["value"]}</title></rect>'
                     f'<text x="{label_w + w + 4}" y="{y + 13}">{item["value"]}</text>')
    return "".join(parts) + "</svg>"


def year_chart(seed: dict, review_year: int | None, width: int = 320, height: int = 140) -> str:
    "Supporting (up) and contradicting (down) claims per publication year for one seed claim."
    years = sorted(y for y in seed["years"] if y != UNDATED) + ([UNDATED] if UNDATED in seed["years"] else [])
    top = max(max(s, c) for s, c in seed["years"].values()) or 1
    mid, slot = height / 2, (width - 30) / max(len(years), 1)
    bar = max(2.0, min(16.0, slot / 2 - 2))
    parts = [f'<svg class="chart" data-chart="seed-{escape(seed["seed_id"])}" width="{width}" height="{height + 16}" '
             f'viewBox="0 0 {width} {height + 16}" role="img" xmlns="http://www.w3.org/2000/svg">',
             f'<line class="axis" x1="24" y1="{mid}" x2="{width}" y2="{mid}"/>',
             f'<text x="0" y="12">{top}</text><text x="0" y="{height - 2}">{top}</text>']
    for n, year in enumerate(years):
        supports, contradicts = seed["years"][year]
        x = 28 + n * slot + slot / 2
        hs, hc = (mid - 4) * supports / top, (mid - 4) * contradicts / top
        parts.append(f'<rect class="supports" x="{x - bar / 2:.1f}" y="{mid - hs:.1f}" width="{bar:.1f}" '
                     f'height="{hs:.1f}" data-year="{year}" data-value="{supports}">'
                     f'<title>{year}: {supports} supporting</title></rect>'
                     f'<rect class="contradicts" x="{x - bar / 2:.1f}" y="{mid:.1f}" width="{bar:.1f}" '
                     f'height="{hc:.1f}" data-year="{year}" data-value="{contradicts}">'
                     f'<title>{year}: {contradicts} contradicting</title></rect>')
        if len(years) <= 12 or n % max(1, len(years) // 8) == 0:
            parts.append(f'<text x="{x:.1f}" y="{height + 12}" text-anchor="middle">{year}</text>')
    dated = [y for y in years if y != UNDATED]
    if review_year and dated:
        # After the review's own year: a bar of that year mixes evidence from before and after it.
        at = 28 + slot * next((n for n, y in enumerate(dated) if y > review_year), len(dated))
        parts.append(f'<line class="review" x1="{at:.1f}" y1="0" x2="{at:.1f}" y2="{height}">'
                     f'<title>the review ({review_year}): evidence right of the line is from later years</title></line>')
    return "".join(parts) + "</svg>"


def table(items: list[dict], columns: list[tuple[str, str]], cls: str) -> str:
    "A plain HTML table; columns are (key, heading); values are escaped unless pre-rendered."
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{v}</td>' if isinstance(v := item.get(k), (int, float)) and not isinstance(v, bool)
        else f"<td>{v.html if isinstance(v, Raw) else escape('' if v is None else str(v))}</td>"
        for k, _ in columns) + "</tr>" for item in items)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Raw:
    "Already-escaped HTML for a table cell."

    def __init__(self, html: str):
        self.html = html


def paper_link(paper: dict) -> Raw:
    title = escape(paper["title"] or "(no title)")
    if paper["pmid"] and str(paper["pmid"]).isdigit():  # a local file may key records "para-01"
        return Raw(f'<a href="https://pubmed.ncbi.nlm.nih.gov/{escape(paper["pmid"])}/">{title}</a>')
    if paper["doi"]:
        return Raw(f'<a href="https://doi.org/{escape(paper["doi"])}">{title}</a>')
    return Raw(title)


def render(data: dict[str, Any], db_name: str) -> str:
    "The whole report as one HTML string: inline CSS and SVG, no scripts, fonts or images to fetch."
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    base = data["baseline"]
    review_year = int(str(base["review_date"])[:4]) if base and base.get("review_date") else None
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>evidex report: {escape(db_name)}</title>"
           f"<style>{CSS}</style></head><body><h1>evidex report</h1>",
           f'<p class="meta">{escape(db_name)}: {data["documents"]} documents, {data["claims"]} current claims, '
           f"{len(data['runs'])} recent runs shown. Generated {now}.</p>",
           '<h2 id="seeds">Evidence over time per seed claim</h2>']
    if not base:
        out.append('<p class="empty" data-chart="seed">No seed baseline loaded: run <code>evidex seed load</code>.</p>')
    else:
        out.append(f'<p class="meta">Baseline {escape(base["id"])}: {escape(base.get("title") or "")} '
                   f'(doi:{escape(base.get("doi") or "")}, {escape(str(base.get("review_date") or "date unknown"))}). '
                   'Bars up: supporting claims; down: contradicting; by publication year, '
                   f'<code>{UNDATED}</code> = no year known; dashed line: the review.</p>'
                   '<p class="legend"><span class="supports" style="background:#1a7f37"></span>supports'
                   '<span style="background:#cf222e"></span>contradicts</p>')
        if not data["seeds"]:
            out.append('<p class="empty" data-chart="seed">No claim supports or contradicts a seed claim yet.</p>')
        out.append('<div class="grid">' + "".join(
            f'<figure>{year_chart(s, review_year)}<figcaption><b>{escape(s["seed_id"])}</b> '
            f'{escape(s["text"][:140])}</figcaption></figure>' for s in data["seeds"]) + "</div>")
    out += ['<h2 id="categories">Claims per category</h2>', bar_chart("categories", data["categories"]),
            '<h2 id="entities">Top entities</h2>', bar_chart("entities", data["entities"]),
            '<h2 id="papers">Newest papers</h2>',
            table([{**p, "title": paper_link(p)} for p in data["papers"]],
                  [("date", "Date"), ("title", "Title"), ("journal", "Journal"), ("claims", "Claims")], "papers"),
            '<h2 id="runs">Last runs</h2>']
    run_rows = []
    for run in data["runs"]:
        ledger = "; ".join(f"{e['window_start'] or ''}..{e['window_end'] or ''}: expected "
                           f"{'?' if e['expected'] is None else e['expected']}, "
                           f"stored {e['stored']}, skipped {e['skipped']}, failed {e['failed']} [{e['status']}]"
                           for e in run["ledger"])
        if not ledger:
            ledger = {"run": "(the ledgers are its fetches' own runs)", "ingest": "(no ledger: file ingest)"}.get(
                run["command"], "(no ledger: nothing fetched)")
        # Withdrawals that changed nothing; None for a run from before they were kept (migration m018).
        kinds = [run.get(k) for k in ("withdrawals_not_stored", "withdrawals_other_version",
                                      "withdrawals_already_withdrawn")]
        skipped = None if all(k is None for k in kinds) else sum(k or 0 for k in kinds)
        withdrawn = run.get("documents_withdrawn")
        if withdrawn and run["withdrawn_on_arrival"]:
            withdrawn = f"{withdrawn} ({run['withdrawn_on_arrival']} on arrival)"
        run_rows.append({**run, "ledger": ledger, "withdrawals_skipped": skipped, "documents_withdrawn": withdrawn})
    out.append(table(run_rows, [("id", "Run"), ("command", "Command"), ("started_at", "Started"),
                                ("status", "Status"), ("query", "Query"), ("documents_seen", "Documents"),
                                ("documents_new", "New"), ("claims_new", "New claims"),
                                ("claims_restored", "Restored claims"), ("documents_withdrawn", "Withdrawn"),
                                ("withdrawals_skipped", "Withdrawals skipped"), ("errors", "Errors"), ("ledger", "Ledger")], "runs"))
    out.append("</body></html>\n")
    return "\n".join(out)


@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default="evidex.db", envvar="EVIDEX_DB",
              show_default=True, help="SQLite database file (env EVIDEX_DB)")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="report.html", show_default=True,
              help="HTML file to write")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a web browser")
def report(db_path: str, output: str, open_browser: bool) -> None:
    """Write a self-contained HTML report: evidence over time per seed claim, categories, entities, papers, runs.

    Example: evidex report --db evidex.db --output report.html --open
    """
    from .db import open_db, read_only_uri
    from .files import refuse_overwriting

    path = Path(db_path)
    if not path.is_file():
        raise UsageError(f"database {path} does not exist")
    refuse_overwriting(output, path, f"the database {db_path}")
    # Applies migrations (the views the report reads) where it may write; else checks none is due.
    open_db(path, create=False, read_only=True).conn.close()
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    conn.row_factory = sqlite3.Row
    try:
        html = render(gather(conn), path.name)
    finally:
        conn.close()
    try:
        Path(output).write_text(html, encoding="utf-8")
    except OSError as ex:
        raise UsageError(f"cannot write {output}: {ex.strerror or ex}") from None
    click.echo(f"wrote {output}", err=True)
    if open_browser and not webbrowser.open(Path(output).resolve().as_uri()):
        click.echo("no browser to open it with: open the file yourself", err=True)
