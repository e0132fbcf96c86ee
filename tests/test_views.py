"""The SQL views: exact rows on a hand-made store, consistency on real abstracts, the docs' one-liners."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from querying_support import ROOT, evidence_db, has_seed_tables, sql_rows

from evidex.db import open_db
from evidex.views import SEED_VIEWS, VIEWS

DOCS = ROOT / "README.md"


@pytest.fixture
def store(tmp_path):
    "Two documents (one withdrawn), three claims (one superseded), two runs."
    db = open_db(tmp_path / "v.db")
    db["runs"].insert_all([{"id": 1, "command": "ingest", "started_at": "2026-01-01T00:00:00", "status": "ok"},
                           {"id": 2, "command": "extract", "started_at": "2026-01-02T00:00:00", "status": "ok"}])
    db["documents"].insert_all([
        {"id": "1", "pmid": "1", "title": "STING in melanoma", "journal": "J", "year": 2024, "pub_date": "2024-03",
         "deleted": 0},
        {"id": "2", "pmid": "2", "title": "Withdrawn", "journal": "K", "year": 2023, "deleted": 1},
    ])
    claim = {"doc_id": "1", "plugin": "pathway", "plugin_version": "1", "category": "pathway", "direction": "up",
             "negated": 0, "hedged": 1, "entities": '["STING1"]', "sentence": "STING activates IFN.",
             "field": "abstract", "start": 0, "end": 20, "first_seen_run": 1, "last_seen_run": 2}
    db["claims"].insert_all([
        {**claim, "id": "a"},
        {**claim, "id": "b", "superseded_run": 2},
        {**claim, "id": "c", "doc_id": "2", "category": "ifn", "first_seen_run": 2},
    ])
    db["claim_entities"].insert_all([{"claim_id": i, "entity": "STING1", "category": "pathway"} for i in "abc"])
    return db


def test_migration_creates_every_view(store):
    assert set(VIEWS) | set(SEED_VIEWS) <= set(store.view_names())
    assert {"m004_views", "m005_seed_views"} <= {r["name"] for r in store["_sqlite_migrations"].rows}


def test_current_claims_drops_superseded_claims_and_withdrawn_documents(store):
    rows = list(store.query("select id, pmid, title, year, pub_date, category, hedged, claim_rowid from current_claims"))
    rowid = store.execute("select rowid from claims where id = 'a'").fetchone()[0]
    assert rows == [{"id": "a", "pmid": "1", "title": "STING in melanoma", "year": 2024, "pub_date": "2024-03",
                     "category": "pathway", "hedged": 1, "claim_rowid": rowid}]


def test_claims_by_entity_and_entity_counts(store):
    assert [(r["entity"], r["claim_id"], r["year"]) for r in store.query("select * from claims_by_entity")] == [
        ("STING1", "a", 2024)]
    assert list(store.query("select * from entity_counts")) == [
        {"entity": "STING1", "entity_category": "pathway", "claims": 1, "documents": 1,
         "first_year": 2024, "last_year": 2024}]


def test_evidence_by_year_and_run_additions(store):
    assert list(store.query("select * from evidence_by_year")) == [
        {"year": 2024, "category": "pathway", "claims": 1, "documents": 1, "up": 1, "down": 0, "assoc": 0,
         "negated": 0, "hedged": 1}]
    additions = list(store.query("select run_id, plugin, category, claims_added, documents from run_additions "
                                 "order by run_id, category"))
    assert additions == [
        {"run_id": 1, "plugin": "pathway", "category": "pathway", "claims_added": 2, "documents": 1},
        {"run_id": 2, "plugin": "pathway", "category": "ifn", "claims_added": 1, "documents": 1},
    ]


@pytest.fixture(scope="module")
def real_db():
    return evidence_db()


def test_views_agree_with_the_tables_on_real_abstracts(real_db):
    one = lambda sql: sql_rows(real_db, sql)[0]["n"]  # noqa: E731
    current = one("select count(*) as n from claims c join documents d on d.id = c.doc_id "
                  "where c.superseded_run is null and d.deleted = 0")
    assert current > 0
    assert one("select count(*) as n from current_claims") == current
    assert one("select sum(claims) as n from evidence_by_year") == current
    assert one("select count(*) as n from claims_by_entity where entity = 'STING1'") == one(
        "select count(*) as n from claim_entities ce join claims c on c.id = ce.claim_id "
        "where ce.entity = 'STING1' and c.superseded_run is null")
    assert one("select sum(claims_added) as n from run_additions") == one("select count(*) as n from claims")


def test_seed_views_agree_with_seed_status(real_db):
    if not has_seed_tables(real_db):
        pytest.skip("the seed migration is not in this schema yet")
    status = {r["seed_id"]: r for r in sql_rows(real_db, "select * from seed_status")}
    overview = {r["seed_id"]: r for r in sql_rows(real_db, "select * from seed_overview")}
    assert overview.keys() == status.keys() and status
    for seed_id, row in overview.items():
        s, c, e = row["supporting"], row["contradicting"], row["extending"]
        word = ("no evidence" if s + c + e == 0 else "contested" if s and c else "contradicted" if c
                else "supported" if s else "extended")
        assert row["status"] == word and {k: row[k] for k in status[seed_id]} == status[seed_id]
    by_year = sql_rows(real_db, "select seed_id, sum(supporting) as s, sum(contradicting) as c, sum(extending) as e "
                                "from seed_evidence_by_year group by seed_id")
    assert {r["seed_id"]: (r["s"], r["c"], r["e"]) for r in by_year} == {
        k: (r["supporting"], r["contradicting"], r["extending"]) for k, r in status.items()
        if r["supporting"] + r["contradicting"] + r["extending"]}


def doc_commands(program: str) -> list[str]:
    "The one-liners of the README that start with program."
    return [line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith(program + " ")]


@pytest.mark.parametrize("program", ["sqlite3", "sqlite-utils"])
def test_documented_one_liners_run(real_db, program):
    binary = shutil.which(program) or shutil.which(program, path=str(Path(sys.executable).parent))
    if not binary:
        pytest.skip(f"{program} is not installed")
    commands = doc_commands(program)
    assert len(commands) >= 5
    for line in commands:
        args = [binary, *shlex.split(line)[1:]]
        args = [str(real_db) if a == "evidex.db" else a for a in args]
        if "seed_" in line and not has_seed_tables(real_db):
            continue
        result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, (line, result.stderr)
        assert result.stdout.strip(), line


def test_documented_views_exist():
    documented = set(re.findall(r"^\| `(\w+)` \| ", DOCS.read_text(encoding="utf-8"), flags=re.M))
    assert set(VIEWS) | set(SEED_VIEWS) | {"seed_status"} <= documented



def test_the_columns_the_views_table_names_are_the_views_columns(tmp_path):
    "An analyst writes `where category = ...` from the README's table: each name in it must be a column."
    conn = open_db(tmp_path / "v.db").conn
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \| (.*?) \|$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    rows = [r for r in rows if r[0] in set(VIEWS) | set(SEED_VIEWS) | {"seed_status"}]
    assert len(rows) == 8
    for view, one_row_per, worth_knowing in rows:
        columns = {r[1] for r in conn.execute(f"pragma table_info({view})")}
        # "(entity, entity_category): ..." names the key; words such as "publication year" describe it.
        key = re.match(r"\(([^)]*)\)", one_row_per)
        named = [w.strip("` ") for w in key.group(1).split(",")] if key else []
        # Values in parentheses (`supported`, ...), "but `extra`" and "every `seed_status` column" are no columns.
        listed = re.sub(r"\([^)]*\)|but `\w+`|every `\w+` column", "", worth_knowing)
        named += re.findall(r"`(\w+)`", listed)
        missing = [n for n in named if re.fullmatch(r"\w+", n) and n not in columns]
        assert not missing, (view, missing, sorted(columns))


def test_a_view_left_by_an_older_evidex_is_recreated_on_open(tmp_path):
    "Views are code: a database migrated long ago gets this version's views, not the ones of its time."
    import sqlite3

    path = tmp_path / "old.db"
    open_db(path).conn.close()
    with sqlite3.connect(path) as conn:
        conn.execute("drop view current_claims")
        conn.execute("create view current_claims as select id, doc_id from claims")  # fewer columns
    db = open_db(path)
    columns = {r[1] for r in db.execute("pragma table_info(current_claims)")}
    assert {"negation_cues", "hedge_cues", "entry_date", "claim_rowid"} <= columns


def test_a_database_from_a_newer_evidex_is_refused_untouched(tmp_path):
    import hashlib
    import sqlite3

    from click.testing import CliRunner

    from evidex.cli import cli

    path = tmp_path / "new.db"
    open_db(path).conn.close()
    with sqlite3.connect(path) as conn:
        conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) "
                     "values ('evidex', 'm999_from_the_future', '2030-01-01')")
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"pmid": "1", "title": "Type I IFN in melanoma."}\n')
    for args in (["ingest", str(docs)], ["runs"], ["seed", "status"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(path)], env={"EVIDEX_LOAD_PLUGINS": ""})
        assert result.exit_code == 2, (args, result.output)
        assert "written by a newer evidex (migration m999_from_the_future is unknown" in result.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_reading_commands_work_on_a_file_they_cannot_write(tmp_path, monkeypatch, eval_docs):
    "runs, diff, seed status and report on a read-only mount: read without writing, or say what is missing."
    import sqlite3

    from click.testing import CliRunner

    import evidex.db
    from evidex.cli import cli

    path = tmp_path / "ro.db"
    docs = tmp_path / "d.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:5]))
    runner = CliRunner()
    env = {"EVIDEX_LOAD_PLUGINS": "ifn"}
    for args in (["seed", "load"], ["ingest", str(docs)], ["extract", "--all"]):
        assert runner.invoke(cli, [*args, "--db", str(path)], env=env).exit_code == 0
    # As tests run as root, permissions cannot make the file read-only: say it is not writable.
    monkeypatch.setattr(evidex.db, "_writable", lambda p: False)
    real_access = evidex.db.os.access
    monkeypatch.setattr(evidex.db.os, "access", lambda p, mode: False if mode == evidex.db.os.W_OK else real_access(p, mode))
    assert evidex.db.read_only_uri(path).endswith("?mode=ro")  # the -shm index is there already
    shm = path.with_name(path.name + "-shm")
    shm.rename(tmp_path / "shm.bak")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:  # immutable would ignore the log: refused, not read in part
        with pytest.raises(evidex.db.UsageError, match="has a write-ahead log .* but no ro.db-shm index"):
            evidex.db.read_only_uri(path)
    (tmp_path / "shm.bak").rename(shm)
    for args in (["runs"], ["diff", "1", "2"], ["seed", "status"], ["report", "--output", str(tmp_path / "r.html")]):
        result = runner.invoke(cli, [*args, "--db", str(path)], env=env)
        assert result.exit_code == 0, (args, result.output)
    with sqlite3.connect(path) as conn:
        conn.execute("delete from _sqlite_migrations where name = 'm015_claim_link_history'")
    conn.close()
    result = runner.invoke(cli, ["runs", "--db", str(path)], env=env)
    assert result.exit_code == 2 and "is not writable and needs upgrading to this evidex (1 migrations, " \
        "from m015_claim_link_history)" in result.output


def test_a_log_that_cannot_be_read_is_refused_not_ignored(tmp_path, monkeypatch):
    "Read-only directory, a -wal with commits, no -shm: immutable reads would drop the committed rows."
    import sqlite3

    import evidex.db

    path = tmp_path / "w.db"
    writer = sqlite3.connect(path)
    writer.execute("pragma journal_mode = wal")
    writer.execute("pragma wal_autocheckpoint = 0")
    writer.execute("create table t (x)")
    writer.execute("insert into t values (1)")
    writer.commit()
    try:
        assert path.with_name("w.db-wal").stat().st_size > 0
        path.with_name("w.db-shm").unlink()
        real_access = evidex.db.os.access
        monkeypatch.setattr(evidex.db.os, "access",
                            lambda p, mode: False if mode == evidex.db.os.W_OK else real_access(p, mode))
        with pytest.raises(evidex.db.UsageError, match="has a write-ahead log"):
            evidex.db.read_only_uri(path)
    finally:
        writer.close()
