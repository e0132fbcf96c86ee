"""Ingesting files end to end: idempotent, isolated plugin failures, bad files change nothing."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap

import pytest
from click.testing import CliRunner

from evidex import plugins as plugins_mod
from evidex.cli import cli
from evidex.db import open_db, table_counts
from xml_attacks import BILLION_LAUGHS, XXE




@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "words.py").write_text(textwrap.dedent("""
        from evidex import Claim, Extractor, Mention, hookimpl

        class Words(Extractor):
            name = "words"
            version = "1.0"

            def extract(self, document, field, doc):
                for sent in doc.sents:
                    if "cancer" in sent.text.lower():
                        yield Claim(category="demo", sentence=sent.text, field=field,
                                    start=sent.start_char, end=sent.end_char, entities=["cancer"])
                for token in doc:
                    if token.lower_ == "cancer":
                        yield Mention(category="demo", entity="cancer", field=field,
                                      start=token.idx, end=token.idx + len(token), text=token.text)

        @hookimpl
        def register_extractors(register):
            register(Words())
    """))
    (d / "boom.py").write_text(textwrap.dedent("""
        from evidex import Extractor, hookimpl

        class Boom(Extractor):
            name = "boom"

            def extract(self, document, field, doc):
                if "interferon" in doc.text.lower():
                    raise RuntimeError("cannot cope with " + document.id)
                return []

        @hookimpl
        def register_extractors(register):
            register(Boom())
    """))
    return d


def run(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"EVIDEX_LOAD_PLUGINS": "", **(env or {})})
    return result


def db_fingerprint(path):
    db = open_db(path)
    counts = table_counts(db)
    rows = {t: [tuple(r) for r in db.execute(f"select * from [{t}] order by rowid")]
            for t in ("documents", "claims", "runs", "run_errors")}
    return counts, hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def test_ingest_jsonl_is_idempotent(fresh, tmp_path, plugin_dir, eval_docs):
    db_path = tmp_path / "e.db"
    first = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs)
    assert first.exit_code == 1, first.output  # the boom plugin failed on some documents
    db = open_db(db_path)
    docs = db["documents"].count
    claims = db.execute("select count(*) from claims where plugin = 'words'").fetchone()[0]
    assert docs == 200 and claims > 0
    second = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs)
    db = open_db(db_path)
    assert db["documents"].count == docs
    assert db.execute("select count(*) from claims").fetchone()[0] == claims
    runs = list(db.query("select id, documents_seen, documents_new from runs order by id"))
    assert [(r["documents_seen"], r["documents_new"]) for r in runs] == [(200, 200), (200, 0)]
    # first_seen_run kept, last_seen_run moved on
    row = db.execute("select min(first_seen_run), max(last_seen_run) from documents").fetchone()
    assert tuple(row) == (1, 2)
    assert second.exit_code == 1


def test_quiet_file_ingest_prints_no_summary_but_every_failure(fresh, tmp_path, plugin_dir, eval_docs):
    "ingest FILES --quiet: no summary line (as with --source), but plugin failures and the exit code stay."
    loud = run("ingest", "--db", tmp_path / "loud.db", "--plugins-dir", plugin_dir, eval_docs)
    quiet = run("ingest", "--db", tmp_path / "quiet.db", "--quiet", "--plugins-dir", plugin_dir, eval_docs)
    assert "run 1 ingest: " in loud.output and "run 1 ingest: " not in quiet.output
    assert quiet.exit_code == loud.exit_code == 1
    failures = [line for line in loud.output.splitlines() if line.startswith("plugin boom failed on")]
    assert failures and [line for line in quiet.output.splitlines() if line.startswith("plugin boom failed on")] == failures
    assert table_counts(open_db(tmp_path / "quiet.db")) == table_counts(open_db(tmp_path / "loud.db"))
    ok = run("ingest", "--db", tmp_path / "ok.db", "--quiet", "--no-extract", eval_docs)
    assert (ok.exit_code, ok.output) == (0, "")


def test_failing_plugin_is_isolated_and_recorded(fresh, tmp_path, plugin_dir, eval_docs):
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs)
    assert result.exit_code == 1
    assert "plugin boom failed on" in result.output
    db = open_db(db_path)
    errors = list(db.query("select doc_id, plugin, error from run_errors where run_id = 1"))
    interferon_docs = {
        json.loads(line)["pmid"] for line in eval_docs.read_text().splitlines()
        if "interferon" in (json.loads(line)["title"] + json.loads(line)["abstract"]).lower()
    }
    assert {e["doc_id"] for e in errors} == interferon_docs
    assert all(e["plugin"] == "boom" and e["error"].startswith("RuntimeError") for e in errors)
    # The other plugin still stored its claims for the documents boom failed on.
    words_on_failed = db.execute(
        f"select count(*) from claims where plugin = 'words' and doc_id in ({','.join('?' * len(interferon_docs))})",
        list(interferon_docs)).fetchone()[0]
    assert words_on_failed > 0
    assert db["runs"].get(1)["status"] == "errors"
    # `evidex runs` shows what the errors were, as the exit-code table promises.
    listing = run("runs", "--db", db_path).output.splitlines()
    assert [line for line in listing if line.strip().startswith("error extract boom ")][0].split(": ", 1)[1] \
        .startswith("RuntimeError")
    assert any(line.strip().startswith(f"... {len(errors) - 3} more errors") for line in listing)


def test_bad_files_leave_database_as_it_was(fresh, tmp_path, plugin_dir, eval_docs):
    db_path = tmp_path / "e.db"
    run("ingest", "--db", db_path, "--no-extract", eval_docs)
    before = db_fingerprint(db_path)
    good = eval_docs.read_text().splitlines()
    bad_files = {
        "truncated.jsonl": "\n".join(good[:5]) + "\n" + good[5][:40],
        "empty.jsonl": "",
        "notjson.jsonl": "\n".join(good[:3]) + "\n{not json}\n",
        "truncated.xml": '<?xml version="1.0"?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation>'
                         '<PMID>1</PMID><Article><ArticleTitle>Cut',
        "latin1.jsonl": None,
        "bomb.xml": BILLION_LAUGHS.decode(),
        "xxe.xml": XXE.decode(),
    }
    for name, text in bad_files.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes('{"pmid": "9", "title": "caf\xe9 tumour"}\n'.encode("latin-1"))
        else:
            path.write_text(text)
        # a good file first, to show the whole command is one transaction
        result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs, path)
        assert result.exit_code == 2, (name, result.output)
        message = result.output.strip().splitlines()[-1]
        assert message.startswith("Error: ") and name in message, message
        assert db_fingerprint(db_path) == before, name


def test_missing_file_and_no_files_are_usage_errors(fresh, tmp_path):
    result = run("ingest", "--db", tmp_path / "e.db", tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "no such file" in result.output
    result = run("ingest", "--db", tmp_path / "e.db")
    assert result.exit_code == 2


def undo_migration(db_path, name: str, undo: list[str], statements: tuple[str, ...] = ()) -> None:
    "Take back one migration: these statements first, then its undo SQL, in one transaction."
    import sqlite3

    conn = sqlite3.connect(db_path)
    with conn:
        for sql in (*statements, *undo):
            conn.execute(sql)
        conn.execute("delete from _sqlite_migrations where name = ?", [name])
    conn.close()


def before_m021(db_path, *statements: str) -> None:
    "Take a database back to its schema before migration m021 (run these statements first, in the same transaction)."
    undo_migration(db_path, "m021_withdrawal_ids", ["drop table withdrawal_ids"], statements)


def before_m020(db_path, *statements: str) -> None:
    "Take a database back to its schema before migration m020 (run these statements first, in the same transaction)."
    before_m021(db_path)
    undo_migration(db_path, "m020_withdrawal_doi_index", ["drop index idx_withdrawals_doi"], statements)


def before_m019(db_path, *statements: str) -> None:
    "Take a database back to its schema before migration m019 (run these statements first, in the same transaction)."
    before_m020(db_path)
    undo_migration(db_path, "m019_withdrawal_history", ["drop table withdrawals"], statements)


def before_m018(db_path, *statements: str) -> None:
    "Take a database back to its schema before migration m018 (run these statements first, in the same transaction)."
    before_m019(db_path)
    undo_migration(db_path, "m018_run_withdrawals", [
        "drop index idx_documents_deleted_run",
        *(f"alter table runs drop column {column}" for column in (
            "documents_withdrawn", "withdrawals_not_stored", "withdrawals_other_version",
            "withdrawals_already_withdrawn")),
    ], statements)


def test_a_missing_input_leaves_a_database_needing_an_upgrade_as_it_was(fresh, tmp_path):
    "A mistyped FILE is refused before the lock and the database are opened: no migration is applied."
    import sqlite3

    db_path = tmp_path / "e.db"
    docs = tmp_path / "a.jsonl"
    docs.write_text(json.dumps({"pmid": "7", "abstract": "Text."}) + "\n")
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    before_m018(db_path)  # as a database of an older release has it
    result = run("ingest", "--db", db_path, "--no-extract", docs, tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "no such file" in result.output, result.output
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from _sqlite_migrations where name = 'm018_run_withdrawals'").fetchone() == (0,)
    assert "documents_withdrawn" not in {r[1] for r in conn.execute("pragma table_info(runs)")}
    conn.close()


def test_unwritable_database_directory(fresh, tmp_path, eval_docs):
    result = run("ingest", "--db", tmp_path / "missing-dir" / "e.db", eval_docs)
    assert result.exit_code == 2 and "does not exist" in result.output


def test_reextract_supersedes_claims_a_changed_plugin_no_longer_makes(fresh, tmp_path, plugin_dir, eval_docs):
    db_path = tmp_path / "e.db"
    (plugin_dir / "boom.py").unlink()
    assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs).exit_code == 0
    db = open_db(db_path)
    before = db.execute("select count(*) from claims where superseded_run is null").fetchone()[0]
    narrowed = db.execute(
        "select count(*) from claims where superseded_run is null and sentence like '%tumo%'").fetchone()[0]
    source = (plugin_dir / "words.py").read_text()
    source = source.replace('version = "1.0"', 'version = "1.1"').replace(
        'if "cancer" in sent.text.lower():', 'if "cancer" in sent.text.lower() and "tumo" in sent.text.lower():')
    (plugin_dir / "words.py").write_text(source)
    plugins_mod.reset()
    result = run("extract", "--db", db_path, "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert db.execute("select count(*) from claims").fetchone()[0] == before  # nothing deleted
    current = db.execute("select count(*) from claims where superseded_run is null").fetchone()[0]
    assert current == narrowed
    assert db.execute("select count(*) from claims where superseded_run = 2").fetchone()[0] == before - narrowed
    # Kept claims stay as first stored (by 1.0), seen again by run 2: a diff of past runs does not move.
    kept = db.execute("select distinct plugin_version, last_seen_run from claims where superseded_run is null").fetchall()
    assert kept == [("1.0", 2)]


def test_changed_pipeline_rules_reextract_stored_documents(fresh, tmp_path, plugin_dir, eval_docs, monkeypatch):
    "A tokenizer or sentence rule change reaches stored evidence as a plugin change does; an unchanged one costs nothing."
    from evidex import nlp

    db_path = tmp_path / "e.db"
    (plugin_dir / "boom.py").unlink()
    assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, eval_docs).exit_code == 0

    def documents_seen_by_last_run():
        return open_db(db_path).execute("select documents_seen from runs order by id desc limit 1").fetchone()[0]

    def keys():
        return {r[0] for r in open_db(db_path).execute("select extracted_with from documents")}

    before = keys()
    assert len(before) == 1 and None not in before
    plugins_mod.reset()
    assert run("extract", "--db", db_path, "--plugins-dir", plugin_dir).exit_code == 0
    assert documents_seen_by_last_run() == 0 and keys() == before
    monkeypatch.setattr(nlp, "PIPELINE_RULES", nlp.PIPELINE_RULES + "-next")
    plugins_mod.reset()
    result = run("extract", "--db", db_path, "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    total = open_db(db_path).execute("select count(*) from documents").fetchone()[0]
    assert documents_seen_by_last_run() == total > 0
    after = keys()
    assert len(after) == 1 and after != before


def test_store_is_wal_with_fts(fresh, tmp_path, eval_docs):
    db_path = tmp_path / "e.db"
    run("ingest", "--db", db_path, "--no-extract", eval_docs)
    db = open_db(db_path)
    assert db.journal_mode == "wal"
    hits = list(db.query(
        "select documents.id from documents join documents_fts on documents_fts.rowid = documents.rowid "
        "where documents_fts match 'interferon'"))
    assert hits
    tables = set(db.table_names())
    assert {"documents", "claims", "runs", "run_errors", "ledger", "claims_fts", "documents_fts"} <= tables


def pubmed_article_files(directory):
    "Recorded efetch files whose root is a PubmedArticleSet, with the PMIDs they hold."
    out = {}
    for path in sorted(directory.rglob("*.xml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(r"<PubmedArticleSet\b", text) and "<eSearchResult" not in text:
            pmids = re.findall(r"<PubmedArticle>\s*<MedlineCitation[^>]*>\s*<PMID[^>]*>(\d+)</PMID>", text)
            books = re.findall(r"<PubmedBookArticle>\s*<BookDocument>\s*<PMID[^>]*>(\d+)</PMID>", text)
            out[path] = pmids + books
    return out


def test_ingest_every_recorded_pubmed_file_once(fresh, tmp_path, pubmed_dir):
    files = pubmed_article_files(pubmed_dir)
    assert len(files) >= 15
    expected = set().union(*files.values())
    db_path = tmp_path / "p.db"
    # The recorded efetch answer for a PMID PubMed returns nothing for: an empty article set is
    # refused (exit 2, nothing stored), not read as 0 documents.
    empty = pubmed_dir / "metapub" / "37909814.xml"
    assert files.pop(empty) == []
    refused = run("ingest", "--db", db_path, "--no-extract", *files, empty)
    assert refused.exit_code == 2 and f"{empty}: holds no records" in refused.output, refused.output
    assert not db_path.exists()
    result = run("ingest", "--db", db_path, "--no-extract", *files)
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    stored = {r[0] for r in db.execute("select pmid from documents")}
    assert stored == expected
    counts = table_counts(db)
    again = run("ingest", "--db", db_path, "--no-extract", *files)
    assert again.exit_code == 0, again.output
    db = open_db(db_path)
    after = table_counts(db)
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in counts.items() if k != "runs"}
    assert after["runs"] == 2
    assert [r["status"] for r in db.query("select status from runs")] == ["ok", "ok"]


def test_ingest_waits_for_no_one_while_a_run_holds_the_lock(fresh, tmp_path, eval_docs):
    from evidex.lock import RunLock

    db_path = tmp_path / "e.db"
    with RunLock(db_path):
        result = run("ingest", "--db", db_path, "--no-extract", eval_docs)
    assert result.exit_code == 3 and "holds the lock" in result.output
    assert run("ingest", "--db", db_path, "--no-extract", eval_docs).exit_code == 0


def test_a_file_that_is_not_a_database_is_refused(fresh, tmp_path, eval_docs):
    db_path = tmp_path / "notes.db"
    db_path.write_text("my notes, not a database\n")
    result = run("ingest", "--db", db_path, "--no-extract", eval_docs)
    assert result.exit_code == 2 and "not a usable SQLite database" in result.output
    assert db_path.read_text() == "my notes, not a database\n"


def test_full_text_index_follows_text_changes_only(fresh, tmp_path):
    db_path = tmp_path / "e.db"
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Old words", "abstract": "alpha"}) + "\n")
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    docs.write_text(json.dumps({"pmid": "1", "title": "New words", "abstract": "beta"}) + "\n")
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    db = open_db(db_path)
    db.execute("update documents set last_seen_run = 7")  # a bookkeeping update does not re-index
    search = "select rowid from documents_fts where documents_fts match ?"
    assert db.execute(search, ["beta"]).fetchall() and not db.execute(search, ["alpha"]).fetchall()
    assert db.execute("select count(*) from documents_fts").fetchone()[0] == 1
    assert db.execute("insert into documents_fts(documents_fts) values('integrity-check')") is not None


def test_rows_another_tool_inserted_are_indexed_at_the_next_run(fresh, tmp_path):
    db_path = tmp_path / "e.db"
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Stored by evidex", "abstract": "alpha"}) + "\n")
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    db = open_db(db_path)
    # A hand-written row, as `sqlite-utils insert` or a notebook would add it: no index entry.
    db.execute("insert into documents (id, title, abstract) values ('hand:1', 'Entered by hand', 'gamma')")
    search = "select count(*) from documents_fts where documents_fts match ?"
    assert db.execute(search, ["gamma"]).fetchone()[0] == 0
    db.conn.close()
    docs.write_text(json.dumps({"pmid": "2", "title": "Another", "abstract": "delta"}) + "\n")
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    db = open_db(db_path)
    assert [db.execute(search, [w]).fetchone()[0] for w in ("gamma", "alpha", "delta")] == [1, 1, 1]
    db.execute("insert into documents_fts(documents_fts) values('integrity-check')")  # raises if out of step


def test_full_text_indexes_match_their_tables_after_new_same_and_changed_documents(fresh, tmp_path, plugin_dir,
                                                                                  eval_docs):
    db_path = tmp_path / "e.db"
    lines = eval_docs.read_text().splitlines()
    docs = tmp_path / "d.jsonl"
    docs.write_text("\n".join(lines[:40]) + "\n")
    (plugin_dir / "boom.py").unlink()
    ingest = ("ingest", "--db", db_path, "--plugins-dir", plugin_dir, docs)
    assert run(*ingest).exit_code == 0
    # Seen again unchanged, then ten of them with a changed title, then forty new ones.
    changed = [json.dumps({**json.loads(line), "title": f"Revised title {i}"}) for i, line in enumerate(lines[:10])]
    assert run(*ingest).exit_code == 0
    docs.write_text("\n".join(changed + lines[40:80]) + "\n")
    assert run(*ingest).exit_code == 0
    db = open_db(db_path)
    counts = {t: db.execute(f"select count(*) from {t}").fetchone()[0]
              for t in ("documents", "documents_fts", "claims", "claims_fts")}
    assert counts["documents"] == counts["documents_fts"] == 80
    assert counts["claims"] == counts["claims_fts"] > 0
    for table in ("documents_fts", "claims_fts"):
        db.execute(f"insert into {table}({table}) values('integrity-check')")  # raises if out of step
    found = db.execute("select count(*) from documents_fts where documents_fts match 'revised'").fetchone()[0]
    assert found == 10
    sentence = db.execute("select sentence from claims where superseded_run is null limit 1").fetchone()[0]
    word = max(sentence.split(), key=len).strip(".,;:()[]")
    hits = db.execute("select count(*) from claims_fts where claims_fts match ?", [f'"{word}"']).fetchone()[0]
    assert hits >= 1


def test_a_record_matched_by_doi_keeps_what_is_known_and_is_found_under_its_own_id(fresh, tmp_path):
    "A preprint with the same DOI as a stored PubMed record: one document, its PMID kept, both ids recorded."
    db_path = tmp_path / "e.db"
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"pmid": "111", "doi": "10.1/ABC", "title": "IFN and cancer", "year": 2020,
                                 "journal": "J Test", "abstract": "Interferon restrained tumours."}) + "\n")
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"id": "EPMC:PPR1", "doi": "10.1/abc", "title": "IFN and cancer",
                                  "abstract": "Interferon restrained tumours."}) + "\n")
    for path in (first, second, second):
        result = run("ingest", "--db", db_path, "--no-extract", path)
        assert result.exit_code == 0, result.output
    db = open_db(db_path)
    rows = [tuple(r) for r in db.execute("select id, pmid, lower(doi), journal, year from documents")]
    assert rows == [("111", "111", "10.1/abc", "J Test", 2020)]
    ids = {(r[0], r[1]) for r in db.execute("select scheme, value from document_ids where doc_id = '111'")}
    assert {("id", "111"), ("pmid", "111"), ("id", "EPMC:PPR1"), ("doi", "10.1/abc")} <= ids


def test_extract_with_some_extractors_finds_what_they_find_in_a_full_run(fresh, tmp_path, eval_docs):
    "`extract --extractor ifn` parses as a full run does: ifn's claims do not depend on which others run."
    db_path = tmp_path / "e.db"
    builtins = {"EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy,age"}
    assert run("ingest", "--db", db_path, eval_docs, env=builtins).exit_code == 0
    db = open_db(db_path)
    before = {r[0] for r in db.execute("select id from claims where plugin = 'ifn' and superseded_run is null")}
    keys = {r[0] for r in db.execute("select extracted_with from documents")}
    assert before and len(keys) == 1
    plugins_mod.reset()
    result = run("extract", "--db", db_path, "--all", "--extractor", "ifn", env=builtins)
    assert result.exit_code == 0, result.output
    assert "0 new claims, 0 superseded" in result.output
    db = open_db(db_path)
    assert {r[0] for r in db.execute("select id from claims where plugin = 'ifn' and superseded_run is null")} == before
    assert {r[0] for r in db.execute("select extracted_with from documents")} == keys  # a part marks nothing done
    plugins_mod.reset()
    result = run("extract", "--db", db_path, env=builtins)
    assert result.exit_code == 0 and "0 documents" in result.output, result.output
    plugins_mod.reset()
    result = run("extract", "--db", db_path, "--extractor", "nope", env=builtins)
    assert result.exit_code == 2 and "unknown extractor nope" in result.output


def test_an_update_file_reports_what_it_deleted(fresh, tmp_path, pubmed_dir):
    "A DeleteCitation is counted in the run's summary, not hidden in '0 documents'."
    raw = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", pubmed_dir / "biopython" / "pubmed2.xml").exit_code == 0
    update = tmp_path / "update.xml"
    update.write_bytes(re.sub(rb"<PubmedArticle>.*</PubmedArticle>", b"", raw, flags=re.S).replace(
        b"</PubmedArticleSet>", b'<DeleteCitation><PMID Version="1">11748933</PMID></DeleteCitation></PubmedArticleSet>'))
    result = run("ingest", "--db", db_path, "--no-extract", update)
    assert result.exit_code == 0, result.output
    assert "0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 1 withdrawn" in result.output
    db = open_db(db_path)
    assert [tuple(r) for r in db.execute("select id, deleted from documents order by id")] == [
        ("11700088", 0), ("11748933", 1)]


def test_a_deleted_document_leaves_the_evidence_from_its_run_on(fresh, tmp_path, plugin_dir):
    "diff and receipts see a withdrawal as removed claims, at the run that withdrew it, not before."
    (plugin_dir / "boom.py").unlink()
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"pmid": p, "title": "", "abstract": f"Cancer cells grew in study {p}."}) + "\n"
                            for p in ("101", "102")))
    update = tmp_path / "update.xml"
    update.write_text('<?xml version="1.0"?>\n<PubmedArticleSet><DeleteCitation><PMID Version="1">101</PMID>'
                      "</DeleteCitation></PubmedArticleSet>\n")
    db_path = tmp_path / "e.db"
    for path in (docs, update):
        result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, path)
        assert result.exit_code == 0, result.output
    diff = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    assert [c["doc_id"] for c in diff["removed"]] == ["101"] and diff["added"] == []
    receipts = [json.loads(run("runs", "--receipt", str(n), "--db", db_path).output) for n in (1, 2)]
    assert [r["claims_current"]["count"] for r in receipts] == [2, 1]
    assert open_db(db_path).execute("select deleted_run from documents where id = '101'").fetchone()[0] == 2


def test_a_json_lines_record_marked_deleted_withdraws_the_paper(fresh, tmp_path, plugin_dir):
    "'deleted': true is a withdrawal, as a DeleteCitation is: the text stays, the claims leave from that run on."
    (plugin_dir / "boom.py").unlink()
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r) + "\n" for r in (
        {"pmid": "101", "abstract": "Cancer cells grew in study 101."},
        {"id": "local-7", "abstract": "Cancer cells grew in study 7."})))
    update = tmp_path / "update.jsonl"
    update.write_text(json.dumps({"pmid": "101", "deleted": True}) + "\n" + json.dumps({"id": "local-7", "deleted": True})
                      + "\n" + json.dumps({"pmid": "999", "deleted": True}) + "\n")
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, docs).exit_code == 0
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, update)
    assert result.exit_code == 0, result.output
    assert "0 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors; 2 withdrawn" in result.output
    db = open_db(db_path)
    assert [tuple(r) for r in db.execute("select id, abstract, deleted, deleted_run from documents order by id")] == [
        ("101", "Cancer cells grew in study 101.", 1, 2), ("local-7", "Cancer cells grew in study 7.", 1, 2)]
    diff = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    assert sorted(c["doc_id"] for c in diff["removed"]) == ["101", "local-7"] and diff["added"] == []


def test_a_deleted_record_whose_id_names_another_paper_withdraws_its_own_copy(fresh, tmp_path):
    "A local id '1' beside PMID 1 was stored as 'jsonl:1': its withdrawal must not withdraw PMID 1."
    docs, update = tmp_path / "docs.jsonl", tmp_path / "update.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Paper one", "abstract": "Text one.", "doi": "10.1/one"}) + "\n"
                    + json.dumps({"id": "1", "title": "Local note", "abstract": "Local text.", "doi": "10.2/other"}) + "\n")
    update.write_text(json.dumps({"id": "1", "doi": "10.2/other", "deleted": True}) + "\n")
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--no-extract", docs).exit_code == 0
    result = run("ingest", "--db", db_path, "--no-extract", update)
    assert result.exit_code == 0, result.output
    assert "; 1 withdrawn" in result.output
    assert [tuple(r) for r in open_db(db_path).execute("select id, deleted from documents order by id")] == [
        ("1", 0), ("jsonl:1", 1)]


@pytest.mark.parametrize("later", [{"pmid": "101", "journal": "Journal of Tests"},
                                   {"pmid": "101", "abstract": "Cancer cells grew in study 101."}],
                         ids=["metadata-only", "same-record"])
def test_a_later_record_of_a_withdrawn_paper_leaves_past_runs_as_they_were(fresh, tmp_path, plugin_dir, later):
    "Run 2 withdrew the paper; run 3's line for it must not make run 2's receipt or diff 1 2 change afterwards."
    (plugin_dir / "boom.py").unlink()
    files = [tmp_path / f"{n}.jsonl" for n in "abc"]
    for path, record in zip(files, ({"pmid": "101", "abstract": "Cancer cells grew in study 101."},
                                    {"pmid": "101", "deleted": True}, later)):
        path.write_text(json.dumps(record) + "\n")
    db_path = tmp_path / "e.db"

    def history():
        receipt = json.loads(run("runs", "--receipt", "2", "--db", db_path).output)
        diff = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
        return receipt["claims_current"], [c["doc_id"] for c in diff["removed"]]

    for path in files[:2]:
        assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, path).exit_code == 0
    before = history()
    assert before[0]["count"] == 0 and before[1] == ["101"]
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, files[2])
    assert result.exit_code == 0, result.output
    assert history() == before
    assert open_db(db_path).execute("select deleted, deleted_run from documents").fetchall() == [(1, 2)]


def test_a_changed_text_stored_without_extraction_is_extracted_by_the_next_extract(fresh, tmp_path, plugin_dir):
    "ingest --no-extract of a new text for a stored paper: its old claims are stale, and extract redoes them."
    (plugin_dir / "boom.py").unlink()
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"pmid": "101", "abstract": "Cancer cells grew in study 101."}) + "\n")
    second.write_text(json.dumps({"pmid": "101", "abstract": "Cancer cells shrank in study 101."}) + "\n")
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, first).exit_code == 0
    result = run("ingest", "--db", db_path, "--no-extract", second)
    assert result.exit_code == 0 and "(0 new, 1 changed)" in result.output, result.output
    result = run("extract", "--db", db_path, "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert "1 documents (0 new, 0 changed), 1 new claims, 1 superseded" in result.output, result.output
    assert [r[0] for r in open_db(db_path).execute("select sentence from current_claims")] == [
        "Cancer cells shrank in study 101."]


def test_a_record_without_text_keeps_the_stored_text(fresh, tmp_path, plugin_dir):
    "A metadata-only line for a stored paper fills what it knows; it neither erases the text nor its claims."
    (plugin_dir / "boom.py").unlink()
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"pmid": "101", "title": "A study", "abstract": "Cancer cells grew in study 101."}) + "\n")
    second.write_text(json.dumps({"pmid": "101", "journal": "Journal of Tests", "year": 2021}) + "\n")
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, first).exit_code == 0
    result = run("ingest", "--db", db_path, "--plugins-dir", plugin_dir, second)
    assert result.exit_code == 0, result.output
    assert "1 documents (0 new, 0 changed" in result.output, result.output
    db = open_db(db_path)
    assert [tuple(r) for r in db.execute("select title, abstract, journal, year from documents")] == [
        ("A study", "Cancer cells grew in study 101.", "Journal of Tests", 2021)]
    assert db.execute("select count(*) from claims where superseded_run is null").fetchone()[0] == 1


def ingest_lines(tmp_path, *records):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    db_path = tmp_path / "dedup.db"
    result = run("ingest", "--db", db_path, "--no-extract", path)
    assert result.exit_code == 0, result.output
    return open_db(db_path)


LONG = "Type I interferon signalling in tumour immunity and its balance"


@pytest.mark.parametrize("first,second", [
    # A title+year match, a shared DOI (a supplement's abstracts), a local id equal to a PMID.
    ({"pmid": "111", "title": "Editorial", "year": 2020}, {"pmid": "222", "title": "Editorial", "year": 2020}),
    ({"pmid": "111", "title": LONG, "year": 2020}, {"pmid": "222", "title": LONG, "year": 2020}),
    ({"pmid": "501", "doi": "10.1158/AM2019-1", "title": "P-001"}, {"pmid": "502", "doi": "10.1158/AM2019-1", "title": "P-002"}),
    ({"id": "1", "pmid": "999", "title": "Row one"}, {"pmid": "1", "title": "Formate assay"}),
])
def test_two_papers_are_never_merged(fresh, tmp_path, first, second):
    db = ingest_lines(tmp_path, {**first, "abstract": "first"}, {**second, "abstract": "second"})
    rows = sorted(tuple(r) for r in db.execute("select pmid, abstract from documents"))
    assert rows == sorted([(first["pmid"], "first"), (second["pmid"], "second")])


def test_copies_of_one_paper_from_other_sources_merge_and_keep_its_text(fresh, tmp_path):
    "DOI spelled with a resolver, 'doi:' or spaces, and a PMC id in another case: one paper, its first text kept."
    db = ingest_lines(
        tmp_path,
        {"pmid": "333", "doi": "10.1/ABC", "pmcid": "PMC42", "title": LONG, "abstract": "published", "year": 2020},
        {"id": "PPR:1", "doi": "https://doi.org/10.1/ABC", "title": LONG, "abstract": "preprint"},
        {"id": "PPR:2", "doi": " 10.1/abc ", "title": "Another wording"},
        {"id": "PPR:3", "doi": "doi:10.1/abc"},
        {"id": "PMC:PMC42", "pmcid": "pmc42", "title": "PMC copy", "abstract": "full text"},
    )
    assert [tuple(r) for r in db.execute("select id, pmid, doi, title, abstract from documents")] == [
        ("333", "333", "10.1/ABC", LONG, "published")]
    ids = {r[0] for r in db.execute("select value from document_ids where scheme = 'id'")}
    assert ids == {"333", "PPR:1", "PPR:2", "PPR:3", "PMC:PMC42"}


def test_a_merged_copy_keeps_the_papers_id_at_a_source(fresh, tmp_path):
    db = ingest_lines(
        tmp_path,
        {"pmid": "333", "doi": "10.1/ABC", "title": LONG, "source_ids": {"europepmc": "MED:333"}},
        {"id": "PPR:PPR9", "doi": "10.1/abc", "title": LONG, "source_ids": {"europepmc": "PPR:PPR9", "biorxiv": "b1"}},
    )
    assert json.loads(db.execute("select source_ids from documents").fetchone()[0]) == {
        "europepmc": "MED:333", "biorxiv": "b1"}
    schemes = {tuple(r) for r in db.execute("select scheme, value from document_ids where scheme like 'src:%'")}
    assert {("src:europepmc", "MED:333"), ("src:europepmc", "PPR:PPR9")} <= schemes


@pytest.mark.parametrize("record,problem", [
    ('{"pmid": ["7", "8"], "title": "x"}', "'pmid' must be a string or a whole number, not list"),
    ('{"pmid": true, "title": "x"}', "'pmid' must be a string or a whole number, not bool"),
    ('{"pmid": "1", "year": true}', "'year' must be an integer"),
    ('{"pmid": "1", "year": 1e400}', "'year' must be an integer"),
    ('{"pmid": "1", "year": 20201}', "'year' 20201 is not a four-digit year"),
    ('{"pmid": "1", "doi": 10.5}', "'doi' must be a string, not float"),
    ('{"pmid": "1", "source_ids": ["x"]}', "'source_ids' must be an object, not list"),
    ('{"pmid": "1", "journal": {"a": 1}}', "'journal' must be a string, not dict"),
    ('{"pmid": "1", "pub_types": "Review"}', "'pub_types' must be a list, not str"),
    ('{"pmid": "1", "title": "bad \\ud800"}', "'title' holds a NUL or an unpaired surrogate character"),
    ('{"pmid": "1", "abstract": "a\\u0000b"}', "'abstract' holds a NUL or an unpaired surrogate character"),
])
def test_a_record_of_the_wrong_shape_is_one_line_and_stores_nothing(fresh, tmp_path, record, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"pmid": "5", "title": "fine"}\n' + record + "\n")
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, "--no-extract", path)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"Error: {path}:2: {problem}"
    assert not db_path.exists() or open_db(db_path).execute("select count(*) from documents").fetchone()[0] == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_claims_of_a_merged_copy_are_of_the_stored_text(fresh, eval_docs, tmp_path, workers):
    "Another source's copy of a stored, not yet extracted paper: extraction reads the paper's text, not the copy's."
    docs = [json.loads(line) for line in eval_docs.read_text().splitlines()]
    paper = next(d for d in docs if "interferon" in d["abstract"].lower())
    other = next(d for d in docs if "cisplatin" in d["abstract"].lower() and d["pmid"] != paper["pmid"])
    published = {"pmid": "424242", "doi": "10.9999/merge.test", "title": paper["title"], "abstract": paper["abstract"]}
    preprint = {"id": "PPR:1", "doi": "10.9999/merge.test", "title": "Preprint: " + other["title"],
                "abstract": other["abstract"]}
    both = tmp_path / "both.jsonl"
    both.write_text(json.dumps(published) + "\n" + json.dumps(preprint) + "\n")
    db_path = tmp_path / "m.db"
    builtin = {"EVIDEX_LOAD_PLUGINS": "ifn,therapy"}
    result = run("ingest", "--db", db_path, "--workers", workers, both, env=builtin)
    assert result.exit_code == 0, result.output
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps(published) + "\n")
    later = tmp_path / "later.jsonl"
    later.write_text(json.dumps(preprint) + "\n")
    staged = tmp_path / "staged.db"
    assert run("ingest", "--db", staged, "--no-extract", first).exit_code == 0
    assert run("ingest", "--db", staged, later, env=builtin).exit_code == 0
    for path in (db_path, staged):
        db = open_db(path)
        rows = list(db.query("select c.field, c.start, c.\"end\", c.sentence, d.title, d.abstract from claims c "
                             "join documents d on d.id = c.doc_id where c.superseded_run is null"))
        assert rows and {r["title"] for r in rows} == {paper["title"]}
        for r in rows:  # every current claim's sentence is where its offsets say, in the stored text
            assert (r["title"] if r["field"] == "title" else r["abstract"])[r["start"]:r["end"]] == r["sentence"]


def versioned_files(pubmed_dir, tmp_path):
    """Version 1 and Version 2 of one real citation (metapub/35649368.xml of ../shared).

    Version 2 is the recorded record with <PMID Version="2">; version 1 is the same record whose
    abstract stops after its second sentence (the pathway claims further on are version 2's only).
    """
    text = (pubmed_dir / "metapub" / "35649368.xml").read_text(encoding="utf-8")
    head, rest = text.split("<PubmedArticle>", 1)
    article = "<PubmedArticle>" + rest.split("</PubmedArticle>", 1)[0] + "</PubmedArticle>"
    own = '<PMID Version="1">35649368</PMID>'
    assert article.count(own) == 1 and article.index(own) < article.index("<Article ")
    v2 = article.replace(own, '<PMID Version="2">35649368</PMID>')
    abstract = re.search(r"<AbstractText>(.*?)</AbstractText>", article, re.S).group(1)
    sentences = re.split(r"(?<=\.) ", abstract.strip())
    assert len(sentences) > 4
    v1 = article.replace(abstract, " ".join(sentences[:2]))

    def write(name, *records):
        path = tmp_path / name
        path.write_text(head + "".join(records) + "\n</PubmedArticleSet>\n", encoding="utf-8")
        return path

    return {"v1": write("v1.xml", v1), "v2": write("v2.xml", v2), "v1,v2": write("v1v2.xml", v1, v2),
            "v2,v1": write("v2v1.xml", v2, v1)}, " ".join(sentences[:2])


def stored_version(db_path):
    db = open_db(db_path)
    row = db.execute("select pmid_version, abstract from documents where id = '35649368'").fetchone()
    claims = {r[0] for r in db.execute("select plugin from claims where doc_id = '35649368' "
                                       "and superseded_run is null")}
    return row[0], row[1], claims


def test_the_pmid_version_is_read_from_the_records_own_pmid(pubmed_dir, tmp_path):
    from evidex.files import read_file

    files, _ = versioned_files(pubmed_dir, tmp_path)
    assert [d.pmid_version for d in read_file(files["v1,v2"])] == [1, 2]
    # The recorded file as it is: Version="1" (and a cited record's own PMID version is not read).
    assert [d.pmid_version for d in read_file(pubmed_dir / "metapub" / "35649368.xml")] == [1]


@pytest.mark.parametrize("version", ["\u00b2", "99999999999999999999", "0", "v2"])
def test_a_pmid_version_that_is_no_storable_number_is_ignored(fresh, tmp_path, version):
    "A superscript digit passes str.isdigit() but not int(); a huge one overflows SQLite: both were tracebacks."
    path = tmp_path / "odd.xml"
    path.write_text('<?xml version="1.0"?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation>'
                    f'<PMID Version="{version}">7</PMID><Article><ArticleTitle>A title</ArticleTitle>'
                    "<Abstract><AbstractText>Cancer cells grew.</AbstractText></Abstract></Article>"
                    "</MedlineCitation></PubmedArticle></PubmedArticleSet>\n", encoding="utf-8")
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, "--no-extract", path)
    assert result.exit_code == 0, result.output
    assert open_db(db_path).execute("select id, pmid_version from documents").fetchall() == [("7", None)]


@pytest.mark.parametrize("order", ["v1,v2", "v2,v1"])
def test_the_higher_version_of_a_citation_wins_in_one_file(fresh, pubmed_dir, tmp_path, order):
    "efetch may return both versions of a versioned citation, in either order: version 2 is stored."
    files, v1_abstract = versioned_files(pubmed_dir, tmp_path)
    db_path = tmp_path / "e.db"
    result = run("ingest", "--db", db_path, files[order], env={"EVIDEX_LOAD_PLUGINS": "pathway,therapy"})
    assert result.exit_code == 0, result.output
    version, abstract, plugins = stored_version(db_path)
    assert version == 2 and abstract != v1_abstract and len(abstract) > len(v1_abstract)
    assert "pathway" in plugins  # the claims of version 2's text


def test_a_later_version_replaces_an_earlier_one_never_the_reverse(fresh, pubmed_dir, tmp_path):
    files, v1_abstract = versioned_files(pubmed_dir, tmp_path)
    env = {"EVIDEX_LOAD_PLUGINS": "pathway,therapy"}
    db_path = tmp_path / "e.db"
    assert run("ingest", "--db", db_path, files["v1"], env=env).exit_code == 0
    version, abstract, plugins = stored_version(db_path)
    assert (version, abstract) == (1, v1_abstract) and "pathway" not in plugins

    upgrade = run("ingest", "--db", db_path, files["v2"], env=env)
    assert upgrade.exit_code == 0, upgrade.output
    assert "1 documents (0 new, 1 changed)" in upgrade.output
    version, abstract, plugins = stored_version(db_path)
    assert version == 2 and abstract != v1_abstract and "pathway" in plugins  # re-extracted
    db = open_db(db_path)
    after_v2 = [tuple(r) for r in db.execute("select * from documents")], \
        [tuple(r) for r in db.execute("select id, superseded_run from claims order by id")]

    late = run("ingest", "--db", db_path, files["v1"], env=env)
    assert late.exit_code == 0, late.output
    assert "1 documents (0 new, 0 changed), 0 new claims, 0 superseded" in late.output
    db = open_db(db_path)
    documents = [tuple(r) for r in db.execute("select * from documents")]
    claims = [tuple(r) for r in db.execute("select id, superseded_run from claims order by id")]
    # Only last_seen_run moved: version 2's text, metadata and claims stay as they were.
    last_seen = [c[1] for c in db.execute("pragma table_info(documents)")].index("last_seen_run")
    assert [d[:last_seen] + d[last_seen + 1:] for d in documents] == \
        [d[:last_seen] + d[last_seen + 1:] for d in after_v2[0]]
    assert claims == after_v2[1]


def test_extract_interrupted_just_after_begin_still_closes_its_run(tmp_path, monkeypatch):
    "A signal between an atomic block's BEGIN and its try: exit 130 and the run row committed as interrupted."
    from evidex import cli as cli_mod

    path = tmp_path / "e.db"
    path.with_suffix(".jsonl").write_text(json.dumps({"pmid": "1", "title": "IFN-beta reduced tumour growth."}) + "\n")
    assert CliRunner().invoke(cli, ["ingest", "--db", str(path), "--no-extract",
                                    str(path.with_suffix(".jsonl"))]).exit_code == 0

    def interrupted(db, *args, **kwargs):
        db.conn.execute("BEGIN")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod, "extract_stored", interrupted)
    result = CliRunner().invoke(cli, ["extract", "--db", str(path)])
    assert result.exit_code == 130, result.output
    rows = open_db(path).execute("select command, status from runs order by id").fetchall()
    assert rows == [("ingest", "ok"), ("extract", "interrupted")]


def test_extract_help_says_mention_lines_are_written_by_default():
    help_text = CliRunner().invoke(cli, ["extract", "--help"]).output
    assert "[default: mentions]" in " ".join(help_text.split())
