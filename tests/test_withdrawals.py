"""Withdrawals (PubMed DeleteCitation, JSON Lines "deleted": true): counted, kept, and of one version."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from test_ingest import before_m018, before_m019, before_m020, before_m021, plugin_dir, run, versioned_files  # noqa: F401  (plugin_dir is a fixture)

from evidex.db import open_db
from evidex.files import read_file
from evidex.models import Deletion


def update_file(tmp_path, name, *pmids):
    "A PubMed update file holding only a DeleteCitation of (PMID, Version attribute or None) pairs."
    inner = "".join(f'<PMID Version="{v}">{p}</PMID>' if v is not None else f"<PMID>{p}</PMID>" for p, v in pmids)
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0"?>\n<PubmedArticleSet><DeleteCitation>{inner}</DeleteCitation>'
                    "</PubmedArticleSet>\n")
    return path


def jsonl(tmp_path, name, *records):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def documents(db_path):
    return [tuple(r) for r in open_db(db_path).execute(
        "select id, title, abstract, deleted, deleted_run from documents order by id")]


# ---- extract --input ------------------------------------------------------------------------


def test_extract_input_counts_the_withdrawals_it_skips(fresh, tmp_path, plugin_dir):
    "A withdrawn record is not extracted offline, and the summary says how many were skipped."
    (plugin_dir / "boom.py").unlink()
    docs = jsonl(tmp_path, "docs.jsonl",
                 {"pmid": "1", "abstract": "Cancer cells grew in study 1."},
                 {"pmid": "2", "abstract": "Cancer cells grew in study 2.", "deleted": True},
                 {"pmid": "3", "deleted": True})
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert "1 documents, 1 claims, 2 withdrawn records skipped" in result.stderr
    assert [json.loads(line)["pmid"] for line in out.read_text().splitlines()] == ["1"]
    update = update_file(tmp_path, "update.xml", ("7", "1"), ("8", None))
    result = run("extract", "--input", update, "--output", out, "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert "0 documents, 0 claims, 2 withdrawn records skipped" in result.stderr


OFFLINE_WITHDRAWALS = [
    # Read before their papers: not extracted. By PMID, by DOI alone (any form), of the version the paper has.
    {"pmid": "2", "deleted": True},
    {"id": "notice-3", "doi": "https://doi.org/10.1/THREE", "deleted": True},
    {"pmid": "4", "pmid_version": 1, "deleted": True},
    # Names a paper by a DOI it shares with another PMID, or another version: not those papers.
    {"pmid": "50", "doi": "10.1/five", "deleted": True},
    {"pmid": "6", "pmid_version": 2, "deleted": True},
    {"pmid": "1", "abstract": "Cancer cells grew in study 1."},
    {"pmid": "2", "abstract": "Cancer cells grew in study 2."},
    {"pmid": "3", "doi": "10.1/three", "abstract": "Cancer cells grew in study 3."},
    {"pmid": "4", "abstract": "Cancer cells grew in study 4."},
    {"pmid": "5", "doi": "10.1/five", "abstract": "Cancer cells grew in study 5."},
    {"pmid": "6", "abstract": "Cancer cells grew in study 6."},
    {"id": "local-7", "abstract": "Cancer cells grew in study 7."},
    # Read after its paper's claims were written: they stay, and the paper is named (once).
    {"id": "local-7", "deleted": True},
    {"id": "local-7", "deleted": True},
]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_extract_input_applies_the_withdrawals_read_before_a_paper_and_names_those_read_after(
        fresh, tmp_path, plugin_dir, workers):
    "Offline as ingest does: a paper withdrawn earlier in the input is not extracted; one withdrawn later is reported."
    (plugin_dir / "boom.py").unlink()
    docs = jsonl(tmp_path, "docs.jsonl", *OFFLINE_WITHDRAWALS)
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir,
                 "--workers", workers)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["pmid"] for line in out.read_text().splitlines()] == ["1", "5", "6", "local-7"]
    assert result.stderr.splitlines() == [
        f"warning: {docs}: id local-7 is withdrawn after its claims were written; they stay in the output",
        "4 documents, 4 claims, 7 withdrawn records skipped; 3 withdrawn papers not extracted; "
        "1 withdrawn after their claims were written"]


SHARED_DOI = {
    # A withdrawal naming a paper by a DOI two papers share (a supplement's abstracts), and a copy of the first.
    "withdrawal": {"id": "notice", "doi": "https://doi.org/10.1/SUPPL", "deleted": True},
    "5": {"pmid": "5", "doi": "10.1/suppl", "abstract": "Cancer cells grew in study 5."},
    "6": {"pmid": "6", "doi": "10.1/suppl", "abstract": "Cancer cells grew in study 6."},
    "5 again": {"pmid": "5", "doi": "10.1/suppl", "abstract": "Cancer cells grew in study 5."},
    "5 by PMID": {"pmid": "5", "deleted": True},
}


@pytest.mark.parametrize("order,written,late", [
    (("withdrawal", "5", "6", "5 again"), ["6"], []),
    (("5", "withdrawal", "6", "5 again"), ["5", "6"], ["5"]),
    (("5", "6", "withdrawal", "5 again"), ["5", "6"], ["5"]),
    (("5", "6", "5 again", "withdrawal"), ["5", "6", "5"], ["5"]),
    # Its paper withdrawn already (never extracted): it names that paper, not the other one sharing its DOI.
    (("5 by PMID", "5", "6", "withdrawal"), ["6"], []),
])
def test_a_withdrawal_withdraws_one_paper_offline_as_ingest_does(fresh, tmp_path, plugin_dir, order, written, late):
    "Whichever comes first, the withdrawal is the first paper's it names (and its copies'), never another sharing its DOI."
    (plugin_dir / "boom.py").unlink()
    docs = jsonl(tmp_path, "docs.jsonl", *(SHARED_DOI[name] for name in order))
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    assert [(r[0], r[3]) for r in documents(db_path)] == [("5", 1), ("6", 0)]
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["pmid"] for line in out.read_text().splitlines()] == written
    assert re.findall(r"PMID (\d+) is withdrawn after its claims were written", result.stderr) == late, result.stderr


@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_a_withdrawal_by_a_doi_an_earlier_paper_holds_never_names_a_later_one_offline_or_stored(
        fresh, tmp_path, plugin_dir, first):
    "Of another version than the paper first read under its DOI, it withdraws nothing: not the second paper sharing that DOI."
    (plugin_dir / "boom.py").unlink()
    withdrawal = {"id": "notice", "doi": "10.1/SUPPL", "pmid_version": 2, "deleted": True}
    six = {"pmid": "6", "doi": "10.1/suppl", "pmid_version": 2, "abstract": "Cancer cells grew in study 6."}
    docs = jsonl(tmp_path, "docs.jsonl", {"pmid": "5", "doi": "10.1/suppl", "abstract": "Cancer cells grew in study 5."},
                 *([withdrawal, six] if first == "withdrawal" else [six, withdrawal]))
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["pmid"] for line in out.read_text().splitlines()] == ["5", "6"]
    assert "withdrawn papers" not in result.stderr and "warning" not in result.stderr, result.stderr
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    assert [(r[0], r[3]) for r in documents(db_path)] == [("5", 0), ("6", 0)]


@pytest.mark.parametrize("named_by", [{"pmcid": "PMC123"}, {"source_ids": {"europepmc": "PPR123"}},
                                      {"title": "A title long enough to name one paper by", "year": 2020}])
@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_extract_input_finds_a_paper_named_by_pmc_id_source_id_or_title_in_either_order(
        fresh, tmp_path, plugin_dir, named_by, first):
    "Named by an identifier other than its PMID, id or DOI: not extracted when read before, reported when read after, as ingest does."
    (plugin_dir / "boom.py").unlink()
    records = [{"id": "notice", **named_by, "deleted": True},
               {"pmid": "9", "pmcid": "pmc123", "source_ids": {"europepmc": "PPR123"},
                "title": "A title long enough to name one paper by", "year": 2020, "abstract": "Cancer cells grew in study 9."}]
    docs = jsonl(tmp_path, "docs.jsonl", *(records if first == "withdrawal" else records[::-1]))
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    if first == "withdrawal":
        assert out.read_text() == "" and "1 withdrawn papers not extracted" in result.stderr, result.stderr
    else:
        assert f"warning: {docs}: PMID 9 is withdrawn after its claims were written" in result.stderr, result.stderr
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    assert [r[3] for r in documents(db_path)] == [1]  # ingest withdraws it too (one carrying a title is the paper)


@pytest.mark.parametrize("version", [2, 1])
def test_extract_input_applies_a_delete_citation_read_before_its_article(fresh, pubmed_dir, tmp_path, version):
    "A real article after a DeleteCitation of its version is not extracted offline; of another version it is."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", with_deletion(files["v2"], "35649368", version, first=True),
                 "--output", out, "--no-mentions", env=PLUGINS)
    assert result.exit_code == 0, result.output
    claims = out.read_text().splitlines()
    if version == 2:
        assert (claims, result.stderr) == ([], "0 documents, 0 claims, 1 withdrawn records skipped; "
                                                "1 withdrawn papers not extracted\n")
    else:
        assert claims and result.stderr.startswith("1 documents, "), result.stderr


# ---- a withdrawal of a paper never stored -----------------------------------------------------


def test_a_withdrawn_record_carrying_its_paper_is_stored_withdrawn(fresh, tmp_path, plugin_dir):
    """Re-importing an export with a withdrawn paper keeps it, withdrawn: text and metadata, no current claims.

    A withdrawal naming only identifiers (a DeleteCitation, a bare JSON Lines line) of a paper never
    stored has nothing to keep: it is counted as skipped, not stored as an empty row.
    """
    (plugin_dir / "boom.py").unlink()
    export = jsonl(tmp_path, "export.jsonl",
                   {"pmid": "1", "title": "Live", "abstract": "Cancer cells grew in study 1."},
                   {"pmid": "2", "title": "Withdrawn", "abstract": "Cancer cells grew in study 2.",
                    "journal": "J Tests", "year": 2020, "deleted": True},
                   {"id": "local-3", "title": "Local withdrawn", "abstract": "Cancer cells grew in study 3.",
                    "deleted": True},
                   {"pmid": "4", "deleted": True})
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, export)
    assert result.exit_code == 0, result.output
    assert ("3 documents (3 new, 0 changed), 1 new claims, 0 superseded, 0 errors; 2 withdrawn; "
            "withdrawals skipped: 1 of no stored paper") in result.output
    assert documents(db_path) == [("1", "Live", "Cancer cells grew in study 1.", 0, None),
                                  ("2", "Withdrawn", "Cancer cells grew in study 2.", 1, 1),
                                  ("local-3", "Local withdrawn", "Cancer cells grew in study 3.", 1, 1)]
    db = open_db(db_path)
    assert db.execute("select journal, year from documents where id = '2'").fetchone() == ("J Tests", 2020)
    assert [r[0] for r in db.execute("select distinct doc_id from claims")] == ["1"]
    assert [r[0] for r in db.execute("select doc_id from current_claims")] == ["1"]
    # Neither extract nor extract --all reads a withdrawn paper.
    result = run("extract", "--db", db_path, "--all", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0 and "1 documents" in result.output, result.output
    # The same export again changes nothing: still withdrawn since run 1.
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, export)
    assert result.exit_code == 0, result.output
    assert documents(db_path)[1:] == [("2", "Withdrawn", "Cancer cells grew in study 2.", 1, 1),
                                      ("local-3", "Local withdrawn", "Cancer cells grew in study 3.", 1, 1)]
    # A DeleteCitation of a PMID never stored is skipped and counted the same way.
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "u.xml", ("5", "1"), ("1", "1")))
    assert result.exit_code == 0, result.output
    assert "0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn; withdrawals skipped: 1 of no stored paper" in result.output
    assert [r[0] for r in open_db(db_path).execute("select id from documents")] == ["1", "2", "local-3"]


def test_a_paper_stored_withdrawn_stays_out_of_the_report_and_its_later_copy_stays_withdrawn(fresh, tmp_path):
    "Withdrawn on arrival is withdrawn as a DeleteCitation leaves it: a later live line does not revive it."
    export = jsonl(tmp_path, "export.jsonl",
                   {"pmid": "1", "title": "A live paper on tumours", "abstract": "Tumours grew.", "year": 2021},
                   {"pmid": "2", "title": "A withdrawn paper on tumours", "abstract": "Tumours shrank.",
                    "year": 2022, "deleted": True})
    later = jsonl(tmp_path, "later.jsonl", {"pmid": "2", "title": "A withdrawn paper on tumours",
                                            "abstract": "Tumours shrank.", "year": 2022})
    db_path = tmp_path / "e.db"
    for path in (export, later):
        assert run("ingest", "--db", db_path, "--no-extract", path).exit_code == 0
    assert [r[3:] for r in documents(db_path)] == [(0, None), (1, 1)]
    report = tmp_path / "report.html"
    result = run("report", "--db", db_path, "--output", report)
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert "A live paper on tumours" in html and "A withdrawn paper on tumours" not in html


# ---- versions -------------------------------------------------------------------------------


def test_a_delete_citation_names_the_version_it_withdraws(tmp_path):
    "PubMed's DTD: every PMID has a Version; read without one, it is version 1."
    records = list(read_file(update_file(tmp_path, "u.xml", ("7", "1"), ("8", None), ("9", "3"))))
    assert records == [Deletion("7", version=1), Deletion("8", version=1), Deletion("9", version=3)]


def test_a_delete_citation_withdraws_only_the_stored_version(fresh, pubmed_dir, tmp_path):
    "Version 2 is stored: a deletion of version 1 (with or without the attribute) leaves it; one of version 2 withdraws it."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", files["v2"]).exit_code == 0
    for n, version in enumerate(("1", None)):
        result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, f"u{n}.xml", ("35649368", version)))
        assert result.exit_code == 0, result.output
        assert "0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; withdrawals skipped: 1 of another version" in result.output
        assert open_db(db_path).execute("select deleted from documents").fetchall() == [(0,)]
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "u2.xml", ("35649368", "2")))
    assert result.exit_code == 0, result.output
    assert "(0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn" in result.output
    assert open_db(db_path).execute("select deleted, deleted_run from documents").fetchall() == [(1, 4)]


def test_a_delete_citation_of_version_1_withdraws_a_record_stored_without_a_version(fresh, tmp_path):
    "A record stored with no version (JSON Lines, Europe PMC) is version 1, as the DTD reads a PMID without one."
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract",
               jsonl(tmp_path, "a.jsonl", {"pmid": "7", "abstract": "Text."}, {"pmid": "8", "abstract": "Text."})).exit_code == 0
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "u.xml", ("7", "1"), ("8", "2")))
    assert result.exit_code == 0, result.output
    assert "(0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn; withdrawals skipped: 1 of another version" in result.output
    assert open_db(db_path).execute("select id, deleted from documents order by id").fetchall() == [("7", 1), ("8", 0)]


def test_a_json_lines_withdrawal_with_a_version_withdraws_only_that_version(fresh, pubmed_dir, tmp_path):
    "pmid_version on a deleted line names the version; without it the line withdraws whatever is stored."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", files["v2"]).exit_code == 0
    result = run("ingest", "--db", db_path, "--no-extract",
                 jsonl(tmp_path, "a.jsonl", {"pmid": "35649368", "pmid_version": 1, "deleted": True}))
    assert result.exit_code == 0 and "withdrawals skipped: 1 of another version" in result.output, result.output
    assert open_db(db_path).execute("select deleted from documents").fetchall() == [(0,)]
    result = run("ingest", "--db", db_path, "--no-extract",
                 jsonl(tmp_path, "b.jsonl", {"pmid": "35649368", "deleted": True}))
    assert result.exit_code == 0 and "errors; 1 withdrawn" in result.output, result.output
    assert open_db(db_path).execute("select deleted from documents").fetchall() == [(1,)]


def test_the_recorded_update_file_shape_is_read_as_version_1(pubmed_dir, tmp_path):
    "The recorded efetch file with a DeleteCitation appended, as PubMed's update files carry them."
    raw = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    path = tmp_path / "update.xml"
    path.write_bytes(re.sub(rb"</PubmedArticleSet>\s*$", b'<DeleteCitation><PMID Version="1">11748933</PMID>'
                            b"</DeleteCitation></PubmedArticleSet>\n", raw))
    assert [r for r in read_file(path) if isinstance(r, Deletion)] == [Deletion("11748933", version=1)]


# ---- the run's books ------------------------------------------------------------------------


def test_runs_receipts_and_the_report_keep_what_withdrawals_did(fresh, tmp_path):
    "The summary's withdrawal counts are the run's record too: runs, runs --json, the receipt, the report."
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract",
               jsonl(tmp_path, "a.jsonl", {"pmid": "7", "abstract": "Text."}, {"pmid": "8", "abstract": "Text."})).exit_code == 0
    result = run("ingest", "--db", db_path, "--no-extract",
                 update_file(tmp_path, "u.xml", ("7", "1"), ("8", "2"), ("5", "1")))
    assert result.exit_code == 0, result.output
    assert ("0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn; "
            "withdrawals skipped: 1 of no stored paper, 1 of another version") in result.output
    # The same withdrawal again changes nothing: the paper stays withdrawn by run 2.
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "again.xml", ("7", "1")))
    assert result.exit_code == 0, result.output
    assert "0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; withdrawals skipped: 1 of a paper already withdrawn" in result.output
    assert open_db(db_path).execute("select id, deleted, deleted_run from documents order by id").fetchall() == [
        ("7", 1, 2), ("8", 0, None)]

    keys = ("documents_seen", "documents_withdrawn", "withdrawals_not_stored", "withdrawals_other_version",
            "withdrawals_already_withdrawn")
    listed = json.loads(run("runs", "--db", db_path, "--json").output)
    assert {r["id"]: tuple(r[k] for k in keys) for r in listed} == {
        1: (2, 0, 0, 0, 0), 2: (0, 1, 1, 1, 0), 3: (0, 0, 0, 0, 1)}
    text = run("runs", "--db", db_path).output
    assert re.search(r"^ +2 .* withdrawn 1 withdrawals skipped 1 of no stored paper, 1 of another version errors 0",
                     text, re.MULTILINE), text
    assert re.search(r"^ +3 .* withdrawals skipped 1 of a paper already withdrawn errors 0", text, re.MULTILINE), text
    assert not re.search(r"^ +1 .*withdraw", text, re.MULTILINE), text
    receipt = json.loads(run("runs", "--db", db_path, "--receipt", "2").output)
    assert {k: receipt["counts"][k] for k in keys} == dict(zip(keys, (0, 1, 1, 1, 0)))
    report = tmp_path / "report.html"
    assert run("report", "--db", db_path, "--output", report).exit_code == 0
    html = report.read_text()
    runs_table = html[html.index('<table class="runs">'):]
    headings = re.findall(r"<th>([^<]*)</th>", runs_table)
    assert headings[headings.index("Withdrawn"):headings.index("Withdrawn") + 2] == ["Withdrawn", "Withdrawals skipped"]
    cells = {int(row[0]): row for row in (re.findall(r"<td[^>]*>([^<]*)</td>", tr)
                                          for tr in re.findall(r"<tr>(.*?)</tr>", runs_table)[1:])}
    at = headings.index("Withdrawn")
    assert {n: (cells[n][at], cells[n][at + 1]) for n in cells} == {1: ("0", "0"), 2: ("1", "2"), 3: ("0", "1")}


def test_the_crash_recount_agrees_with_the_live_counts_about_withdrawals(fresh, tmp_path):
    """A run closed by the next one after its process died counts as the live summary would have.

    A withdrawal of a stored paper is no record read: neither counts it as seen, both as withdrawn.
    """
    from evidex import db as store
    from evidex.ingest import Counts, store_records
    from evidex.models import Document

    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract",
               jsonl(tmp_path, "a.jsonl", {"pmid": "7", "abstract": "Text."})).exit_code == 0
    db = open_db(db_path)
    run_id = store.start_run(db, "ingest")
    counts = Counts()
    with db.atomic():
        store_records(db, run_id, [Document(id="9", pmid="9", abstract="New text."), Deletion("7", version=1),
                                   Deletion("5", version=1)], None, counts)
    live = counts.as_run_fields()
    assert (live["documents_seen"], live["documents_new"], live["documents_withdrawn"]) == (1, 1, 1)
    # The process dies before finish_run: the row still holds start_run's zeros.
    store._started.discard((store._db_file(db), run_id))
    assert store.close_interrupted_runs(db) == 1
    row = db.execute("select status, documents_seen, documents_new, documents_withdrawn from runs where id = ?",
                     [run_id]).fetchone()
    assert row == ("interrupted", live["documents_seen"], live["documents_new"], live["documents_withdrawn"])


def test_the_upgrade_counts_earlier_runs_withdrawals_from_deleted_run(fresh, tmp_path):
    "m018 on a database from before it: papers withdrawn known per run (a scheduled run's with its fetches), skips unknown."

    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract",
               jsonl(tmp_path, "a.jsonl", {"pmid": "7", "abstract": "Text."}, {"pmid": "8", "abstract": "Text."})).exit_code == 0
    assert run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "u.xml", ("7", "1"), ("5", "1"))).exit_code == 0
    # Back to the schema before m018, with run 2 made a fetch of a scheduled run 3.
    before_m018(db_path, "insert into runs (id, command, started_at, status) values (3, 'run', '2026-01-01', 'ok')",
                "update runs set parent_run = 3 where id = 2")
    db = open_db(db_path)
    assert db.execute("select id, documents_withdrawn, withdrawals_not_stored, withdrawals_other_version, "
                      "withdrawals_already_withdrawn from runs order by id").fetchall() == [
        (1, 0, None, None, None), (2, 1, None, None, None), (3, 1, None, None, None)]
    text = run("runs", "--db", db_path).output
    assert "withdrawals skipped" not in text and re.search(r"^ +2 .* withdrawn 1 errors 0", text, re.MULTILINE), text


def test_every_withdrawal_outcome_is_counted_under_its_own_name() -> None:
    "Each of mark_deleted's outcomes lands in its own count; an unknown one is an error, not 'another version'."
    from evidex import db as store
    from evidex.ingest import Counts

    counts = Counts()
    for outcome in (store.WITHDRAWN, store.STORED_WITHDRAWN, store.NOT_STORED, store.OTHER_VERSION,
                    store.ALREADY_WITHDRAWN):
        counts.add_withdrawal(outcome)
    assert (counts.documents_withdrawn, counts.withdrawals_not_stored, counts.withdrawals_other_version,
            counts.withdrawals_already_withdrawn, counts.documents_new) == (2, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown withdrawal outcome"):
        counts.add_withdrawal("misspelt")


# ---- order: a withdrawal read before its paper ------------------------------------------------


def with_deletion(path, pmid, version, first):
    "A copy of a PubMed XML file with a DeleteCitation of (pmid, version) before or after its articles."
    text = path.read_text(encoding="utf-8")
    deletion = f'<DeleteCitation><PMID Version="{version}">{pmid}</PMID></DeleteCitation>'
    opening = re.search(r"<PubmedArticleSet[^>]*>", text)
    if first:
        text = text[:opening.end()] + deletion + text[opening.end():]
    else:
        text = text.replace("</PubmedArticleSet>", deletion + "</PubmedArticleSet>")
    out = path.with_name(f"{'del-first' if first else 'del-last'}-{path.name}")
    out.write_text(text, encoding="utf-8")
    return out


PLUGINS = {"EVIDEX_LOAD_PLUGINS": "pathway,therapy"}
ORDERS = ["paper, then its withdrawal (one file)", "withdrawal, then its paper (one file)",
          "paper, then its withdrawal (two runs)", "withdrawal, then its paper (two runs)"]


@pytest.mark.parametrize("order", ORDERS)
def test_a_withdrawal_withdraws_its_paper_whichever_comes_first(fresh, pubmed_dir, tmp_path, order):
    """A DeleteCitation read before its paper (earlier in the file, or in an earlier run) withdraws it on arrival.

    The end is the same in every order: the paper stored withdrawn, no current claim; read after its
    withdrawal, it is never extracted at all, and the run that stores it counts it as withdrawn on arrival.
    """
    files, _ = versioned_files(pubmed_dir, tmp_path)
    paper, deletion = files["v2"], update_file(tmp_path, "del.xml", ("35649368", "2"))
    inputs = {ORDERS[0]: [with_deletion(paper, "35649368", 2, first=False)],
              ORDERS[1]: [with_deletion(paper, "35649368", 2, first=True)],
              ORDERS[2]: [paper, deletion], ORDERS[3]: [deletion, paper]}[order]
    db_path = tmp_path / "e.db"
    outputs = []
    for path in inputs:
        result = run("ingest", "--db", db_path, path, env=PLUGINS)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    db = open_db(db_path)
    assert db.execute("select id, pmid_version, deleted, deleted_run from documents").fetchall() == [
        ("35649368", 2, 1, len(inputs))]
    assert db.execute("select count(*) from current_claims").fetchone() == (0,)
    claims = db.execute("select count(*) from claims").fetchone()[0]
    if order.startswith("paper"):
        assert claims > 0  # extracted while live (so the test's plugins do find claims in it)
        return
    assert claims == 0  # withdrawn on arrival: never extracted
    last = outputs[-1]
    assert "1 documents (1 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn (1 on arrival)" in last
    if order.endswith("(one file)"):  # the withdrawal read first still counts as one of no stored paper then
        assert last.rstrip().endswith("1 withdrawn (1 on arrival); withdrawals skipped: 1 of no stored paper"), last
    else:
        assert outputs[0].rstrip().endswith("; withdrawals skipped: 1 of no stored paper"), outputs[0]
    # The run's books: runs, runs --json, the receipt, the report, and the withdrawal's own row.
    n = len(inputs)
    assert re.search(rf"^ +{n} .* withdrawn 1 \(1 on arrival\) ", run("runs", "--db", db_path).output, re.MULTILINE)
    listed = {r["id"]: r for r in json.loads(run("runs", "--db", db_path, "--json").output)}
    assert (listed[n]["documents_withdrawn"], listed[n]["withdrawn_on_arrival"]) == (1, 1)
    receipt = json.loads(run("runs", "--db", db_path, "--receipt", str(n)).output)
    assert (receipt["counts"]["documents_withdrawn"], receipt["counts"]["withdrawn_on_arrival"]) == (1, 1)
    assert db.execute("select run_id, scheme, value, version, outcome, doc_id, withdrawn_run, revived_run "
                      "from withdrawals").fetchall() == [(1, "pmid", "35649368", 2, "not stored", "35649368", n, None)]
    report = tmp_path / "report.html"
    assert run("report", "--db", db_path, "--output", report).exit_code == 0
    assert "<td>1 (1 on arrival)</td>" in report.read_text()


def test_a_json_lines_withdrawal_before_its_paper_withdraws_it_on_arrival(fresh, tmp_path, plugin_dir):
    "A bare 'deleted' line (no version: every version) read before the paper's line; by pmid, or by id without one."
    (plugin_dir / "boom.py").unlink()
    export = jsonl(tmp_path, "a.jsonl", {"pmid": "2", "deleted": True}, {"id": "local-3", "deleted": True},
                   {"pmid": "1", "abstract": "Cancer cells grew in study 1."},
                   {"pmid": "2", "abstract": "Cancer cells grew in study 2."},
                   {"id": "local-3", "abstract": "Cancer cells grew in study 3."})
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, export)
    assert result.exit_code == 0, result.output
    assert ("3 documents (3 new, 0 changed), 1 new claims, 0 superseded, 0 errors; 2 withdrawn (2 on arrival); "
            "withdrawals skipped: 2 of no stored paper") in result.output
    assert [r[3:] for r in documents(db_path)] == [(0, None), (1, 1), (1, 1)]
    assert [r[0] for r in open_db(db_path).execute("select distinct doc_id from claims")] == ["1"]


def test_a_withdrawal_of_another_doi_is_not_applied_on_arrival(fresh, tmp_path):
    "A remembered withdrawal names its paper as mark_deleted would: a record with the same id but another DOI is another paper."
    export = jsonl(tmp_path, "a.jsonl", {"id": "local-3", "doi": "10.1/a", "deleted": True},
                   {"id": "local-3", "doi": "10.1/b", "abstract": "Text."})
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", export).exit_code == 0
    assert [r[3:] for r in documents(db_path)] == [(0, None)]


BY_DOI = {
    # Named by a DOI only (its id names no stored paper), written with a resolver prefix, in capitals.
    "doi only": ({"id": "retraction-notice-4", "doi": "https://doi.org/10.1/ABC", "deleted": True}, 1),
    # The same DOI on a withdrawal of another PMID: two papers sharing a DOI (a supplement's abstracts).
    "another pmid": ({"pmid": "8", "doi": "10.1/abc", "deleted": True}, 0),
}


@pytest.mark.parametrize("case", BY_DOI)
@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_a_withdrawal_by_doi_withdraws_its_paper_whichever_comes_first(fresh, tmp_path, case, first):
    "A remembered withdrawal naming its paper by DOI alone withdraws it on arrival, as it does read after it; never another PMID's."
    withdrawal, withdrawn = BY_DOI[case]
    files = [jsonl(tmp_path, "withdrawal.jsonl", withdrawal),
             jsonl(tmp_path, "paper.jsonl", {"pmid": "9", "doi": "10.1/abc", "abstract": "Paper nine."})]
    db_path = tmp_path / "e.db"
    for path in files if first == "withdrawal" else files[::-1]:
        result = run("ingest", "--db", db_path, "--no-extract", path)
        assert result.exit_code == 0, result.output
    assert [(r[0], r[3]) for r in documents(db_path)] == [("9", withdrawn)]
    if withdrawn and first == "withdrawal":
        assert "1 withdrawn (1 on arrival)" in result.output, result.output


NAMED_BY_OTHER_IDS = {
    # Named only by a PMC id (any case), or only by an id at a source: withdrawn, in either order.
    "pmc id": ({"id": "notice-1", "pmcid": "PMC777", "deleted": True}, 1),
    "source id": ({"id": "notice-2", "source_ids": {"europepmc": "PPR123"}, "deleted": True}, 1),
    # A line's own id beside its PMID: read after, it finds a local record of that id (no PMID).
    "id beside a pmid": ({"pmid": "12", "id": "local-9", "deleted": True}, 1),
    # The PMC id of a paper with another PMID, or another DOI: two papers, never withdrawn.
    "pmc id, another pmid": ({"pmid": "8", "pmcid": "PMC777", "deleted": True}, 0),
    "pmc id, another doi": ({"id": "notice-3", "pmcid": "PMC777", "doi": "10.1/other", "deleted": True}, 0),
}


@pytest.mark.parametrize("case", NAMED_BY_OTHER_IDS)
def test_a_withdrawal_by_pmc_id_or_source_id_leaves_the_same_state_in_either_order(fresh, tmp_path, case):
    "A remembered withdrawal is matched on arrival by every identifier mark_deleted finds a paper by, with its guards."
    withdrawal, withdrawn = NAMED_BY_OTHER_IDS[case]
    paper = {"id": "local-9", "doi": "10.1/abc", "pmcid": "pmc777", "source_ids": {"europepmc": "PPR123"},
             "abstract": "Paper nine."}
    if case != "id beside a pmid":
        paper["pmid"] = "9"
    files = [jsonl(tmp_path, "withdrawal.jsonl", withdrawal), jsonl(tmp_path, "paper.jsonl", paper)]
    states = {}
    for first in ("withdrawal", "paper"):
        db_path = tmp_path / f"{first}.db"
        for path in files if first == "withdrawal" else files[::-1]:
            result = run("ingest", "--db", db_path, "--no-extract", path)
            assert result.exit_code == 0, result.output
        db = open_db(db_path)
        states[first] = (documents(db_path), db.execute("select doc_id, withdrawn_run from withdrawals").fetchall())
    assert states["withdrawal"] == states["paper"]
    assert [(r[0], r[3], r[4]) for r in states["paper"][0]] == [("local-9", withdrawn, 2 if withdrawn else None)]
    assert states["paper"][1] == ([("local-9", 2)] if withdrawn else [(None, None)])



@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_a_remembered_withdrawal_by_a_shared_doi_names_the_paper_stored_under_it_in_either_order(fresh, tmp_path, first):
    "Two papers share a DOI: a withdrawal by that DOI names the first stored under it (of another version here), never the second."
    db_path = tmp_path / "e.db"
    earlier = jsonl(tmp_path, "five.jsonl", {"pmid": "5", "doi": "10.1/suppl", "pmid_version": 1, "abstract": "Five."})
    assert run("ingest", "--db", db_path, "--no-extract", earlier).exit_code == 0
    files = [jsonl(tmp_path, "withdrawal.jsonl", {"id": "notice", "doi": "10.1/SUPPL", "pmid_version": 2, "deleted": True}),
             jsonl(tmp_path, "six.jsonl", {"pmid": "6", "doi": "10.1/suppl", "pmid_version": 2, "abstract": "Six."})]
    for path in files if first == "withdrawal" else files[::-1]:
        result = run("ingest", "--db", db_path, "--no-extract", path)
        assert result.exit_code == 0, result.output
    assert [(r[0], r[3]) for r in documents(db_path)] == [("5", 0), ("6", 0)]
    assert open_db(db_path).execute("select outcome, doc_id from withdrawals").fetchall() == [("other version", None)]

def test_the_doi_index_upgrade_keeps_the_waiting_withdrawals(fresh, tmp_path):
    "m020 on a database from before it: the index is added, the withdrawals kept, and one waiting by DOI still applies."
    db_path = tmp_path / "e.db"
    withdrawal = jsonl(tmp_path, "withdrawal.jsonl", {"id": "notice-4", "doi": "10.1/ABC", "deleted": True},
                       {"pmid": "5", "deleted": True})
    assert run("ingest", "--db", db_path, "--no-extract", withdrawal).exit_code == 0
    rows = "select run_id, scheme, value, doi, version, outcome, doc_id, withdrawn_run from withdrawals order by id"
    before = open_db(db_path).execute(rows).fetchall()
    assert [r[3] for r in before] == ["10.1/abc", None]
    before_m020(db_path)
    index = "select name from sqlite_master where type = 'index' and name = 'idx_withdrawals_doi'"
    conn = sqlite3.connect(db_path)
    assert conn.execute(index).fetchall() == []
    conn.close()
    db = open_db(db_path)
    assert db.execute(index).fetchall() == [("idx_withdrawals_doi",)]
    assert db.execute(rows).fetchall() == before
    paper = jsonl(tmp_path, "paper.jsonl", {"pmid": "9", "doi": "doi:10.1/abc", "abstract": "Paper nine."})
    result = run("ingest", "--db", db_path, "--no-extract", paper)
    assert result.exit_code == 0 and "1 withdrawn (1 on arrival)" in result.output, result.output


def test_the_withdrawal_ids_upgrade_keeps_the_withdrawals_and_fills_in_those_waiting(fresh, tmp_path):
    """m021 on a database from before it: every withdrawal kept, and those still waiting found by the PMID or id and DOI
    they kept (a PMC id or source id one named was never kept: it cannot be filled in)."""
    db_path = tmp_path / "e.db"
    withdrawals = jsonl(tmp_path, "withdrawals.jsonl", {"id": "notice-4", "doi": "10.1/ABC", "deleted": True},
                        {"pmid": "5", "deleted": True}, {"pmid": "7", "abstract": "Paper seven."},
                        {"pmid": "7", "deleted": True}, {"pmid": "8", "pmid_version": 2, "deleted": True})
    assert run("ingest", "--db", db_path, "--no-extract", withdrawals).exit_code == 0
    rows = "select id, run_id, at, scheme, value, doi, version, outcome, doc_id, withdrawn_run, revived_run from withdrawals"
    before = open_db(db_path).execute(rows).fetchall()
    assert [r[7] for r in before] == ["not stored", "not stored", "withdrawn", "not stored"]
    before_m021(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("select name from sqlite_master where name = 'withdrawal_ids'").fetchall() == []
    conn.close()
    db = open_db(db_path)
    assert db.execute(rows).fetchall() == before
    assert db.execute("select withdrawal_id, scheme, value from withdrawal_ids order by withdrawal_id, scheme").fetchall() == [
        (1, "doi", "10.1/abc"), (1, "id", "notice-4"), (2, "pmid", "5"), (4, "pmid", "8")]
    papers = jsonl(tmp_path, "papers.jsonl", {"pmid": "9", "doi": "https://doi.org/10.1/abc", "abstract": "Paper nine."},
                   {"pmid": "5", "abstract": "Paper five."}, {"pmid": "8", "pmid_version": 2, "abstract": "Paper eight."})
    result = run("ingest", "--db", db_path, "--no-extract", papers)
    assert result.exit_code == 0 and "3 withdrawn (3 on arrival)" in result.output, result.output

def waiting_withdrawal(kind: str, i: int) -> Deletion:
    "A withdrawal of a paper never stored: a DeleteCitation, or a JSON Lines line naming it by PMC id and source id."
    from evidex.models import Document

    if kind == "pmid":
        return Deletion(str(10**6 + i), version=1)
    return Deletion(f"notice-{i}", Document(id=f"notice-{i}", pmcid=f"PMC{10**6 + i}", source_ids={"europepmc": f"PPR{i}"}))


@pytest.mark.parametrize("kind", ["pmid", "pmc id and source id"])
def test_looking_for_a_waiting_withdrawal_does_not_read_every_one_waiting(fresh, tmp_path, kind):
    "An update file's DeleteCitations of papers never stored wait forever: a paper arriving looks up its own ids, not each of them."
    from evidex import db as store
    from evidex.ingest import Counts, store_records
    from evidex.models import Document

    def steps(waiting: int) -> int:
        "SQLite virtual machine steps (in thousands) to store one paper once this many withdrawals wait."
        db = open_db(tmp_path / f"{waiting}.db")
        with db.atomic():
            store_records(db, store.start_run(db, "ingest"), [waiting_withdrawal(kind, i) for i in range(waiting)],
                          None, Counts())
        run_id = store.start_run(db, "ingest")
        taken = []
        db.conn.set_progress_handler(lambda: taken.append(1), 1000)
        with db.atomic():
            store_records(db, run_id, [Document(id="9", pmid="9", doi="10.1/abc", pmcid="PMC9",
                                                source_ids={"europepmc": "PPR-9", "med": "9"},
                                                abstract="Text.")], None, Counts())
        db.conn.set_progress_handler(None, 0)
        assert db.execute("select deleted from documents").fetchall() == [(0,)]
        return len(taken)

    few, many = steps(10), steps(5000)
    assert many <= few + 5, (few, many)


PAPERS_UNDER_OTHER_IDS = {
    # A local line whose id "1" is PMID 1's: stored under a prefixed id (jsonl:1).
    "prefixed": ([{"pmid": "1", "doi": "10.9/other", "title": "PubMed one", "abstract": "Paper one."}],
                 {"id": "1", "doi": "10.1/x", "deleted": True},
                 {"id": "1", "doi": "10.1/x", "title": "Local", "abstract": "Local paper."}, "jsonl:1"),
    # A preprint's copy of a stored paper: merged into it, its id recorded for the paper.
    "merged": ([{"pmid": "5", "doi": "10.1/y", "title": "Published", "abstract": "Paper five."}],
               {"id": "PPR:7", "deleted": True},
               {"id": "PPR:7", "doi": "10.1/y", "title": "Preprint", "abstract": "Preprint text."}, "5"),
}


@pytest.mark.parametrize("case", PAPERS_UNDER_OTHER_IDS)
@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_a_withdrawal_by_id_finds_a_paper_stored_under_another_id_in_either_order(fresh, tmp_path, case, first):
    "A remembered withdrawal by id withdraws the paper that id names as mark_deleted finds it: prefixed, or merged into another."
    earlier, withdrawal, paper, stored_as = PAPERS_UNDER_OTHER_IDS[case]
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", jsonl(tmp_path, "earlier.jsonl", *earlier)).exit_code == 0
    files = [jsonl(tmp_path, "withdrawal.jsonl", withdrawal), jsonl(tmp_path, "paper.jsonl", paper)]
    for path in files if first == "withdrawal" else files[::-1]:
        result = run("ingest", "--db", db_path, "--no-extract", path)
        assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("1 withdrawn" + (" (1 on arrival)" if first == "withdrawal" else "")), \
        result.output
    assert [r[0] for r in documents(db_path) if r[3]] == [stored_as]


def test_a_paper_whose_withdrawal_arrived_first_is_withdrawn_at_once_even_in_one_transaction(fresh, tmp_path):
    "store_records with the deletion first: the crash recount agrees with the live counts (on arrival and skipped too)."
    from evidex import db as store
    from evidex.ingest import Counts, store_records
    from evidex.models import Document

    db = open_db(tmp_path / "e.db")
    run_id = store.start_run(db, "ingest")
    counts = Counts()
    with db.atomic():
        store_records(db, run_id, [Deletion("9", version=1), Document(id="9", pmid="9", abstract="New text."),
                                   Deletion("5", version=1)], None, counts)
    live = counts.as_run_fields()
    assert (live["documents_seen"], live["documents_new"], live["documents_withdrawn"],
            live["withdrawals_not_stored"], counts.withdrawn_on_arrival) == (1, 1, 1, 2, 1)
    store._started.discard((store._db_file(db), run_id))
    assert store.close_interrupted_runs(db) == 1
    row = db.execute("select documents_seen, documents_new, documents_withdrawn, withdrawals_not_stored "
                     "from runs where id = ?", [run_id]).fetchone()
    assert row == (1, 1, 1, 2)
    assert store.withdrawn_on_arrival(db, run_id) == 1


# ---- versions: a later version after a withdrawn one -------------------------------------------


@pytest.mark.parametrize("text", ["new text", "same text"])
def test_a_later_version_of_a_withdrawn_citation_is_a_new_record(fresh, pubmed_dir, tmp_path, text):
    """Version 1 withdrawn, version 2 arrives: stored live and extracted; what runs 1 and 2 held stays as it was.

    Nothing of version 1 stays current by itself: version 2's claims are its extraction's, those
    version 1 had too counted as restored (with the same text, all of them), none as superseded.
    """
    files, _ = versioned_files(pubmed_dir, tmp_path)
    if text == "same text":
        files["v2"] = tmp_path / "v2-same.xml"
        files["v2"].write_text(files["v1"].read_text(encoding="utf-8").replace(
            '<PMID Version="1">35649368</PMID>', '<PMID Version="2">35649368</PMID>', 1), encoding="utf-8")
    db_path = tmp_path / "e.db"
    for path in (files["v1"], update_file(tmp_path, "del1.xml", ("35649368", "1"))):
        assert run("ingest", "--db", db_path, path, env=PLUGINS).exit_code == 0
    db = open_db(db_path)
    v1_claims = {r[0] for r in db.execute("select id from claims")}
    assert v1_claims  # the test's plugins find claims in version 1

    def history():
        receipts = [json.loads(run("runs", "--receipt", str(n), "--db", db_path).output) for n in (1, 2)]
        diff = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
        rows = open_db(db_path).execute("select * from runs where id <= 2 order by id").fetchall()
        return [(r["claims_current"], r["counts"]) for r in receipts], diff["removed"], diff["added"], rows

    before = history()
    assert before[0][1][0]["count"] == 0 and len(before[1]) == len(v1_claims)
    result = run("ingest", "--db", db_path, files["v2"], env=PLUGINS)
    assert result.exit_code == 0, result.output
    assert f"1 documents (0 new, {int(text == 'new text')} changed)" in result.output, result.output
    assert "withdrawn" not in result.output
    assert history() == before
    db = open_db(db_path)
    assert db.execute("select pmid_version, deleted, deleted_run from documents").fetchall() == [(2, 0, None)]
    assert db.execute("select run_id, version, outcome, withdrawn_run, revived_run from withdrawals").fetchall() == [
        (2, 1, "withdrawn", 2, 3)]
    current = {r[0] for r in db.execute("select id from current_claims")}
    plugins = {r[0] for r in db.execute("select plugin from current_claims")}
    if text == "new text":
        assert current and "pathway" in plugins  # version 2's text, extracted
    else:
        assert current == v1_claims  # extracted again, though its text is version 1's
    # The summary's counts are what diff 2 3 shows: every current claim added (new, or restored), none removed.
    diff = json.loads(run("diff", "2", "3", "--db", db_path, "--format", "json").output)
    assert {c["id"] for c in diff["added"]} == current and diff["removed"] == [] and diff["changed"] == []
    restored = len(current & v1_claims)
    assert f"{len(current) - restored} new claims" + (f", {restored} restored" if restored else "") + ", 0 superseded" \
        in result.output, result.output
    assert json.loads(run("runs", "--receipt", "3", "--db", db_path).output)["claims_current"]["count"] == len(current)
    # Version 1's withdrawal again is one of another version now; version 2's withdraws the paper again.
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "again.xml", ("35649368", "1")))
    assert "withdrawals skipped: 1 of another version" in result.output, result.output
    result = run("ingest", "--db", db_path, "--no-extract", update_file(tmp_path, "del2.xml", ("35649368", "2")))
    assert result.output.rstrip().endswith("; 1 withdrawn"), result.output
    assert open_db(db_path).execute("select deleted, deleted_run from documents").fetchall() == [(1, 5)]
    receipts = [json.loads(run("runs", "--receipt", str(n), "--db", db_path).output)["claims_current"]["count"]
                for n in (1, 2, 3, 4, 5)]
    assert receipts == [len(v1_claims), 0, len(current), len(current), 0]


VERSION_ORDERS = {
    # (inputs in order) -> the paper live (False) or withdrawn (True) at the end, whatever the order.
    "v1, del v1, v2": (["v1", "del1", "v2"], False), "v1, v2, del v1": (["v1", "v2", "del1"], False),
    "del v1, v1, v2": (["del1", "v1", "v2"], False), "del v1, v2": (["del1", "v2"], False),
    "v1, del v2, v2": (["v1", "del2", "v2"], True), "v1, v2, del v2": (["v1", "v2", "del2"], True),
    "del v2, v1, v2": (["del2", "v1", "v2"], True), "v2, del v1": (["v2", "del1"], False),
    # A withdrawal without a version names every version, read before or after the paper's first.
    "v1, del v1, del all, v2": (["v1", "del1", "delall", "v2"], True),
    "v1, del v1, v2, del all": (["v1", "del1", "v2", "delall"], True),
    "v1, del all, del v1, v2": (["v1", "delall", "del1", "v2"], True),
    "del v1, del all, v1, v2": (["del1", "delall", "v1", "v2"], True),
    "del all, del v1, v1, v2": (["delall", "del1", "v1", "v2"], True),
}


@pytest.mark.parametrize("name", VERSION_ORDERS)
def test_a_versioned_withdrawal_ends_the_same_in_any_order(fresh, pubmed_dir, tmp_path, name):
    "A withdrawal of version N withdraws version N whenever it is stored, before or after the withdrawal is read."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    files["del1"] = update_file(tmp_path, "del1.xml", ("35649368", "1"))
    files["del2"] = update_file(tmp_path, "del2.xml", ("35649368", "2"))
    files["delall"] = jsonl(tmp_path, "delall.jsonl", {"pmid": "35649368", "deleted": True})
    inputs, withdrawn = VERSION_ORDERS[name]
    db_path = tmp_path / "e.db"
    for key in inputs:
        result = run("ingest", "--db", db_path, "--no-extract", files[key])
        assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert db.execute("select pmid_version, deleted from documents").fetchall() == [(2, int(withdrawn))]
    if "delall" in inputs[:inputs.index("v2")]:
        # Read before version 2: withdrawn once, with version 1 (never revived), whichever of its
        # withdrawals came first. (Read after it, version 2 was live in between: withdrawn twice.)
        withdrew = max(inputs.index("v1"), min(inputs.index("del1"), inputs.index("delall"))) + 1
        assert db.execute("select deleted_run from documents").fetchall() == [(withdrew,)]
        assert db.execute("select count(*), count(revived_run) from withdrawals where withdrawn_run is not null"
                          ).fetchone() == (1, 0)


@pytest.mark.parametrize("first", ["withdrawal", "paper"])
def test_a_withdrawal_without_a_version_withdraws_every_version(fresh, pubmed_dir, tmp_path, first):
    "A JSON Lines withdrawal with no pmid_version names the citation: a later version stays withdrawn, never extracted."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    bare = jsonl(tmp_path, "bare.jsonl", {"pmid": "35649368", "deleted": True})
    db_path = tmp_path / "e.db"
    for path in ([bare, files["v1"]] if first == "withdrawal" else [files["v1"], bare]) + [files["v2"]]:
        result = run("ingest", "--db", db_path, path, env=PLUGINS)
        assert result.exit_code == 0, result.output
    assert "1 documents (0 new, 1 changed), 0 new claims, 0 superseded" in result.output, result.output
    db = open_db(db_path)
    assert db.execute("select pmid_version, deleted, deleted_run from documents").fetchall() == [(2, 1, 2)]
    assert db.execute("select count(*) from claims where first_seen_run = 3").fetchone() == (0,)  # never extracted


def test_the_upgrade_keeps_earlier_withdrawals_as_history(fresh, pubmed_dir, tmp_path):
    """m019 on a database from before it: each withdrawn paper withdrawn (every version); past runs read as before.

    Which version the withdrawal named was not kept, and one without a version (a JSON Lines line)
    names them all: a later version stays withdrawn, as it did before the upgrade.
    """
    files, _ = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    for path in (files["v1"], update_file(tmp_path, "del1.xml", ("35649368", "1")),
                 jsonl(tmp_path, "other.jsonl", {"pmid": "7", "abstract": "Text."}, {"pmid": "8", "deleted": True})):
        assert run("ingest", "--db", db_path, path, env=PLUGINS).exit_code == 0

    def history():
        receipts = [json.loads(run("runs", "--receipt", str(n), "--db", db_path).output)["claims_current"]
                    for n in (1, 2, 3)]
        return receipts, json.loads(run("diff", "1", "3", "--db", db_path, "--format", "json").output)["removed"]

    before = history()
    before_m019(db_path)
    db = open_db(db_path)
    assert db.execute("select run_id, at, scheme, value, version, outcome, doc_id, withdrawn_run, revived_run "
                      "from withdrawals").fetchall() == [(2, None, "pmid", "35649368", None, "withdrawn", "35649368", 2, None)]
    assert history() == before
    assert run("ingest", "--db", db_path, "--no-extract", files["v2"]).exit_code == 0
    assert open_db(db_path).execute("select pmid_version, deleted, deleted_run from documents "
                                    "where id = '35649368'").fetchall() == [(2, 1, 2)]


def test_the_crash_recount_does_not_count_a_revived_papers_claims_as_superseded(fresh, pubmed_dir, tmp_path):
    "Version 1's claims, superseded as version 2 revives the paper, were not current before: no run counts them, live or recounted."
    from evidex import db as store
    from evidex.ingest import Counts, store_records

    files, _ = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    for path in (files["v1"], update_file(tmp_path, "del1.xml", ("35649368", "1"))):
        assert run("ingest", "--db", db_path, path, env=PLUGINS).exit_code == 0
    db = open_db(db_path)
    assert db.execute("select count(*) from claims where superseded_run is null").fetchone()[0] > 0
    run_id = store.start_run(db, "ingest")
    counts = Counts()
    with db.atomic():
        store_records(db, run_id, read_file(files["v2"]), None, counts)
    assert (counts.documents_changed, counts.claims_superseded) == (1, 0)
    assert db.execute("select count(*) from claims where superseded_run is null").fetchone() == (0,)
    store._started.discard((store._db_file(db), run_id))
    assert store.close_interrupted_runs(db) == 1
    assert db.execute("select documents_seen, claims_superseded from runs where id = ?", [run_id]).fetchone() == (1, 0)


def in_between(path, name, deletion):
    "A copy of a two-article PubMed file with a DeleteCitation between the articles."
    text = path.read_text(encoding="utf-8")
    assert text.count("</PubmedArticle>") == 2
    out = path.with_name(name)
    out.write_text(text.replace("</PubmedArticle>", "</PubmedArticle>" + deletion, 1), encoding="utf-8")
    return out


def test_a_withdrawal_and_a_later_version_in_one_run_count_the_same_with_any_workers(fresh, pubmed_dir, tmp_path):
    """Version 1, its withdrawal and version 2 in one file: one worker and two store and count the same.

    With two workers version 1's claims land after version 2 revived the paper; with one, before.
    The paper was live when the run began: the revival supersedes none of this run's claims, version
    2's extraction does (counted), and the crash recount agrees with the live counts.
    """
    from evidex import db as store

    files, _ = versioned_files(pubmed_dir, tmp_path)
    one = in_between(files["v1,v2"], "v1-del1-v2.xml", '<DeleteCitation><PMID Version="1">35649368</PMID></DeleteCitation>')
    seen = {}
    for workers in ("1", "2"):
        db_path = tmp_path / f"w{workers}.db"
        result = run("ingest", "--db", db_path, "--workers", workers, one, env=PLUGINS)
        assert result.exit_code == 0, result.output
        summary = next(line for line in result.output.splitlines() if "ingest:" in line)
        receipt = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
        db = open_db(db_path)
        claims = db.execute("select id, first_seen_run, superseded_run from claims order by id").fetchall()
        gaps = db.execute("select * from claim_gaps order by claim_id").fetchall()
        live = db.execute("select claims_new, claims_superseded, documents_withdrawn from runs where id = 1").fetchone()
        db.execute(store.RECOUNT, {"run": 1})
        assert db.execute("select claims_new, claims_superseded, documents_withdrawn from runs where id = 1"
                          ).fetchone() == live
        seen[workers] = (summary, receipt["counts"], receipt["claims_current"], claims, gaps)
    assert seen["1"] == seen["2"]
    assert claims and seen["1"][4] == [] and "restored" not in seen["1"][0], seen["1"][0]


def test_a_paper_withdrawn_and_revived_in_one_run_counts_what_its_diff_shows(fresh, pubmed_dir, tmp_path):
    "Live before and after the run, a paper withdrawn and stored in a later version: no claim restored, none dropped uncounted."
    files, _ = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, files["v1"], env=PLUGINS).exit_code == 0
    later = with_deletion(files["v2"], "35649368", 1, first=True)
    result = run("ingest", "--db", db_path, later, env=PLUGINS)
    assert result.exit_code == 0, result.output
    diff = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    # A changed claim is an added and a removed one paired.
    added, removed = (len(diff[k]) + len(diff["changed"]) for k in ("added", "removed"))
    assert removed and f"{added} new claims, {removed} superseded" in result.output, result.output
    assert open_db(db_path).execute("select count(*) from claim_gaps").fetchone() == (0,)
