"""Withdrawals (PubMed DeleteCitation, JSON Lines "deleted": true): counted, kept, and of one version."""

from __future__ import annotations

import json
import re

from evidex.db import open_db
from evidex.files import read_file
from evidex.models import Deletion
from test_ingest import before_m018, plugin_dir, run, versioned_files  # noqa: F401  (plugin_dir is a fixture)


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
    import pytest

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
