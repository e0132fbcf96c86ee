"""Bad input: a one-line error naming the problem, a non-zero exit, and the database untouched."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidex.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = (ROOT / "corpora" / "evidex.toml").read_bytes()
GOOD_CONFIG = """
[run]
extract = false
link_seed = false

[sources.pubmed]

[[queries]]
id = "Q1"
pubmed = "cancer[tiab]"
"""
DOCS = [{"pmid": str(i), "title": f"Type I interferon in tumour {i}.", "abstract": "IFN-beta rises."}
        for i in range(1, 4)]


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVIDEX_", "NCBI_"))}
    # Nothing may reach the network in these tests: any request would fail fast.
    env.update(EVIDEX_PUBMED_URL="http://127.0.0.1:9/eutils", EVIDEX_EUROPEPMC_URL="http://127.0.0.1:9/epmc",
               EVIDEX_RETRIES="0")
    return env


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    "A database with a little in it, written by a finished process (so no -wal is left open)."
    folder = tmp_path_factory.mktemp("template")
    docs = folder / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    path = folder / "e.db"
    proc = subprocess.run([sys.executable, "-m", "evidex", "ingest", "--db", str(path), "--no-extract", str(docs)],
                          capture_output=True, text=True, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def db_path(template_db, tmp_path) -> Path:
    path = tmp_path / "e.db"
    shutil.copyfile(template_db, path)
    return path


def fingerprint(path: Path) -> tuple:
    "The file's hash, any WAL beside it, and every table's row count."
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    wal = Path(f"{path}-wal")
    wal_bytes = wal.read_bytes() if wal.exists() else b""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")]
        counts = {t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    return digest, hashlib.sha256(wal_bytes).hexdigest(), counts


def one_line_error(result_stderr: str) -> str:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {result_stderr!r}"
    return lines[0]


def invoke(args: list[str], monkeypatch, **env: str) -> tuple[int, str]:
    for key, value in {**clean_env(), **env}.items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith(("EVIDEX_CONFIG", "EVIDEX_DB", "EVIDEX_PLUGINS_DIR"))]:
        monkeypatch.delenv(key)
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stderr


CONFIGS = {
    "malformed": (b"[run\nextract = true\n", "is not valid TOML"),
    "truncated": (DEFAULT_CONFIG[: len(DEFAULT_CONFIG) // 2], "is not valid TOML"),
    "non-utf8": (b"[run]\nextract = true\n# caf\xe9 \xff\n", "is not UTF-8"),
    "empty": (b"", "is empty"),
    "blank": (b"  \n\n", "is empty"),
    "unknown-section": (GOOD_CONFIG.encode() + b"\n[rum]\nx = 1\n", "unknown key 'rum'"),
    "unknown-run-key": (GOOD_CONFIG.replace("[run]", "[run]\nextrct = true").encode(), "unknown key 'run.extrct'"),
    "unknown-query-key": (GOOD_CONFIG.replace('pubmed = "', 'pubmd = "').encode(), "unknown key 'queries[0].pubmd'"),
    "query-for-a-source-not-set-up": (GOOD_CONFIG.encode() + b'europepmc = "cancer"\n',
                                      "'queries[0].europepmc' is a query for a source the config has no "
                                      "[sources.europepmc] table for"),
    "wrong-type": (GOOD_CONFIG.replace("extract = false", 'extract = "no"').encode(),
                   "'run.extract' must be true or false, not a string"),
    "wrong-type-queries": (b'[sources.pubmed]\nqueries = "x"\n', "unknown key 'sources.pubmed.queries'"),
    "queries-not-array": (b'[sources.pubmed]\n[queries]\nid = "x"\n', "'queries' must be an array of tables"),
    "unknown-source": (GOOD_CONFIG.encode() + b"\n[sources.arxiv]\n", "unknown source 'sources.arxiv'"),
    "secret-in-file": (GOOD_CONFIG.replace("[sources.pubmed]", '[sources.pubmed]\napi_key = "abc123"').encode(),
                       "key 'sources.pubmed.api_key' is not allowed"),
    "no-queries": (b"[sources.pubmed]\n", "no [[queries]] entries"),
    "all-sources-disabled": (GOOD_CONFIG.replace("[sources.pubmed]", "[sources.pubmed]\nenabled = false").encode(),
                             "every source configured ([sources.pubmed]) has 'enabled = false' and there is no "
                             "other: enable one or add [sources.europepmc]"),
    "all-sources-disabled-both": (GOOD_CONFIG.replace("[sources.pubmed]", "[sources.pubmed]\nenabled = false")
                                  .encode() + b"\n[sources.europepmc]\nenabled = false\n",
                                  "every source configured ([sources.pubmed], [sources.europepmc]) has "
                                  "'enabled = false' and there is no other: enable one"),
    "duplicate-id": (GOOD_CONFIG.encode() + b'\n[[queries]]\nid = "Q1"\npubmed = "x[tiab]"\n', "'Q1' is used twice"),
    "invalid-query": (GOOD_CONFIG.replace('"cancer[tiab]"', '"(cancer[tiab] AND tumor"').encode(),
                      "query Q1 for pubmed is invalid: it has an unclosed '('"),
    "invalid-query-quote": (GOOD_CONFIG.replace('"cancer[tiab]"', "'\"type I IFN[tiab]'").encode(),
                            "it has an unclosed double quote"),
    "invalid-query-operator": (GOOD_CONFIG.replace('"cancer[tiab]"', '"cancer[tiab] AND"').encode(),
                               "ends with a boolean operator"),
    "empty-query": (GOOD_CONFIG.replace('"cancer[tiab]"', '"  "').encode(), "it is empty"),
    "unknown-block": (GOOD_CONFIG.replace('"cancer[tiab]"', '"{NOPE} AND x[tiab]"').encode(), "unknown block {NOPE}"),
    "bad-since": (GOOD_CONFIG.replace("[run]", '[run]\nsince = "last week"').encode(), "'run.since' must be a date"),
    "future-since": (GOOD_CONFIG.replace("[run]", '[run]\nsince = "2999-01-01"').encode(),
                     "'run.since' 2999-01-01 is in the future"),
    "bad-batch": (GOOD_CONFIG.replace("[sources.pubmed]", "[sources.pubmed]\nbatch_size = 0").encode(),
                  "batch_size' must be between 1 and 1000"),
    "missing-plugins-dir": (GOOD_CONFIG.replace("[run]", '[run]\nplugins_dir = "no-such-dir"').encode(),
                            "'run.plugins_dir': directory"),
    "missing-seed-dir": (GOOD_CONFIG.replace("[run]", '[run]\nseed = "no-such-seed"').encode(),
                         "'run.seed': directory"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_bad_config(case, db_path, tmp_path, monkeypatch):
    content, needle = CONFIGS[case]
    config = tmp_path / "bad.toml"
    config.write_bytes(content)
    before = fingerprint(db_path)
    code, err = invoke(["run", "--config", str(config), "--db", str(db_path)], monkeypatch)
    assert code == 2, err
    line = one_line_error(err)
    assert needle in line and "bad.toml" in line, line
    assert fingerprint(db_path) == before


def test_missing_config_file(db_path, tmp_path, monkeypatch):
    before = fingerprint(db_path)
    code, err = invoke(["run", "--config", str(tmp_path / "nope.toml"), "--db", str(db_path)], monkeypatch)
    assert code == 2 and "nope.toml not found" in one_line_error(err)
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("case", ["parent-missing", "parent-is-file", "is-directory", "not-writable", "not-sqlite"])
def test_bad_database_path(case, tmp_path, monkeypatch):
    config = tmp_path / "ok.toml"
    config.write_text(GOOD_CONFIG)
    (tmp_path / "file").write_text("x")
    paths = {"parent-missing": (tmp_path / "missing" / "e.db", "directory"),
             "parent-is-file": (tmp_path / "file" / "e.db", "does not exist"),
             "is-directory": (tmp_path, "is a directory"),
             "not-writable": (Path("/proc/evidex-test.db"), "not writable"),
             "not-sqlite": (tmp_path / "file", "not a usable SQLite database")}
    path, needle = paths[case]
    before = path.read_bytes() if path.is_file() else None
    code, err = invoke(["run", "--config", str(config), "--db", str(path)], monkeypatch)
    assert code == 2, err
    assert needle in one_line_error(err)
    if before is not None:
        assert path.read_bytes() == before


def _foreign_db(path: Path, wal: bool) -> None:
    "Another application's SQLite file (in WAL mode or not)."
    with sqlite3.connect(path) as conn:
        if wal:
            conn.execute("pragma journal_mode = wal")
        conn.execute("create table notes (id integer primary key, text)")
        conn.execute("insert into notes (text) values ('not evidence')")
    conn.close()


def _newer_db(path: Path, template: Path) -> None:
    "An evidex database a newer evidex has migrated."
    shutil.copyfile(template, path)
    with sqlite3.connect(path) as conn:
        conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) "
                     "values ('evidex', 'm999_from_the_future', '2030-01-01')")
    conn.close()


@pytest.mark.parametrize("kind, needle", [
    ("foreign", "is a SQLite database of something else (tables notes)"),
    ("foreign-wal", "is a SQLite database of something else (tables notes)"),
    ("newer", "written by a newer evidex (migration m999_from_the_future"),
])
@pytest.mark.parametrize("command", ["ingest", "extract", "run", "seed load"])
def test_a_refused_database_leaves_its_directory_as_it_was(kind, needle, command, template_db, tmp_path,
                                                           monkeypatch):
    "No <db>.lock (nor -wal or -shm) is left beside a database evidex will not write."
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "other.db"
    if kind == "newer":
        _newer_db(path, template_db)
    else:
        _foreign_db(path, wal=kind == "foreign-wal")
    docs, config = tmp_path / "docs.jsonl", tmp_path / "ok.toml"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    config.write_text(GOOD_CONFIG)
    args = {"ingest": ["ingest", "--no-extract", str(docs)], "extract": ["extract"],
            "run": ["run", "--config", str(config)], "seed load": ["seed", "load"]}[command]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, err = invoke([*args, "--db", str(path)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 2 and needle in one_line_error(err)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_read_only_database_file(db_path, tmp_path, monkeypatch):
    config = tmp_path / "ok.toml"
    config.write_text(GOOD_CONFIG)
    db_path.chmod(0o444)
    try:
        before = fingerprint(db_path)
        code, err = invoke(["run", "--config", str(config), "--db", str(db_path)], monkeypatch)
    finally:
        db_path.chmod(0o644)
    assert code == 2 and "not writable" in one_line_error(err)
    assert fingerprint(db_path) == before


BIOPYTHON = Path(os.environ.get("EVIDEX_SHARED", ROOT.parent / "shared")) / "corpora-raw" / "api-responses" / \
    "pubmed-eutils" / "biopython"
INPUTS = {
    "malformed.xml": (b"<PubmedArticleSet><PubmedArticle><MedlineCitation></PubmedArticle>", "xml"),
    "truncated.xml": (None, "xml"),
    "non-utf8.jsonl": (b'{"pmid": "9", "title": "caf\xe9 \xff"}\n', "utf-8"),
    "empty.xml": (b"", "empty"),
    "empty.jsonl": (b"\n\n", "empty"),
    # An article set with no record (a failed export, a search that matched nothing) is no "0 documents".
    "empty-set.xml": (b'<?xml version="1.0"?>\n<PubmedArticleSet/>\n', "holds no records"),
    "empty-set-closed.xml": (b"<PubmedArticleSet>\n  <!-- nothing -->\n</PubmedArticleSet>\n", "holds no records"),
    "bad-json.jsonl": (b'{"pmid": "9", "title": "ok"}\n{"pmid": 10, "title": \n', "json"),
    "not-a-record.jsonl": (b'["just", "a", "list"]\n', "neither"),
    "utf16.jsonl": ('{"pmid": "9", "title": "ok"}\n'.encode("utf-16"), "is utf-16 text (byte order mark"),
    "utf16-no-bom.jsonl": ('{"pmid": "9", "title": "ok"}\n'.encode("utf-16-le"), "is utf-16 text (no byte order mark"),
    # Beyond SQLite's integers: the insert failed with a traceback (OverflowError).
    "huge-pmid-version.jsonl": (b'{"pmid": "9", "title": "ok", "pmid_version": 99999999999999999999}\n',
                                "'pmid_version' must be 1 to"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_bad_input_file(name, db_path, tmp_path, monkeypatch):
    content, needle = INPUTS[name]
    if content is None:  # a real efetch file cut in half
        real = (BIOPYTHON / "pubmed1.xml").read_bytes() if BIOPYTHON.exists() else b"<PubmedArticleSet><Pubmed"
        content = real[: len(real) // 2]
    path = tmp_path / name
    path.write_bytes(content)
    before = fingerprint(db_path)
    code, err = invoke(["ingest", "--db", str(db_path), str(path)], monkeypatch)
    assert code == 2, err
    line = one_line_error(err)
    assert name in line and needle in line.lower(), line
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("no_extract", [[], ["--no-extract"]])
def test_missing_plugins_dir_option(no_extract, db_path, tmp_path, monkeypatch):
    "A --plugins-dir naming no directory is refused, also where nothing is to be extracted."
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps(DOCS[0]) + "\n")
    before = fingerprint(db_path)
    code, err = invoke(["ingest", "--db", str(db_path), "--plugins-dir", str(tmp_path / "nope"), *no_extract,
                        str(docs)], monkeypatch)
    assert code == 2
    assert "nope" in one_line_error(err)
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("command", [["run"], ["plugins"]])
def test_missing_plugins_dir_from_the_environment(command, db_path, tmp_path):
    "EVIDEX_PLUGINS_DIR naming no directory is a one-line error, not a traceback at start-up."
    config = tmp_path / "ok.toml"
    config.write_text(GOOD_CONFIG)
    env = {**clean_env(), "EVIDEX_PLUGINS_DIR": str(tmp_path / "nope"), "EVIDEX_CONFIG": str(config),
           "EVIDEX_DB": str(db_path)}
    before = fingerprint(db_path)
    proc = subprocess.run([sys.executable, "-m", "evidex", *command], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_line_error(proc.stderr)
    assert "plugins directory does not exist" in line and "nope" in line
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("variable,value,problem", [
    ("EVIDEX_RATE_LIMIT", "abc", "must be a number of at least 0.001"),
    ("EVIDEX_RATE_LIMIT", "0", "must be a number of at least 0.001"),
    ("EVIDEX_TIMEOUT", "abc", "must be a number of at least 0.001"),
    ("EVIDEX_RETRIES", "x", "must be a whole number of at least 0"),
    ("EVIDEX_RETRIES", "-1", "must be a whole number of at least 0"),
    ("EVIDEX_PUBMED_WINDOW_MAX", "0", "must be a whole number of at least 1"),
])
@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_bad_numeric_environment_setting_is_one_line_and_touches_nothing(
        command, variable, value, problem, db_path, tmp_path, monkeypatch):
    config = tmp_path / "good.toml"
    config.write_text(GOOD_CONFIG)
    before = fingerprint(db_path)
    args = (["run", "--config", str(config), "--db", str(db_path)] if command == "run" else
            ["ingest", "--db", str(db_path), "--source", "pubmed", "--query", "x", "--email", "a@b.org"])
    code, err = invoke(args, monkeypatch, **{variable: value})
    assert code == 2, err
    assert one_line_error(err).endswith(f"{variable}={value!r}: {problem}")
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_parse_process_switch_that_is_neither_on_nor_off_is_exit_2(command, db_path, tmp_path, monkeypatch):
    config = tmp_path / "good.toml"
    config.write_text(GOOD_CONFIG)
    before = fingerprint(db_path)
    args = (["run", "--config", str(config), "--db", str(db_path)] if command == "run" else
            ["ingest", "--db", str(db_path), "--source", "pubmed", "--query", "x", "--email", "a@b.org"])
    code, err = invoke(args, monkeypatch, EVIDEX_PARSE_PROCESS="banana")
    assert code == 2 and "EVIDEX_PARSE_PROCESS must be 0 or 1 (or off/on), not 'banana'" in one_line_error(err)
    assert fingerprint(db_path) == before


def test_extract_needs_an_existing_database(tmp_path, monkeypatch):
    "extract reads stored documents: a misspelt --db is one line, not a new empty database and exit 0."
    missing = tmp_path / "evidxe.db"
    code, err = invoke(["extract", "--db", str(missing)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 2 and "does not exist" in one_line_error(err)
    assert list(tmp_path.iterdir()) == []  # no database, no lock file


@pytest.mark.parametrize("output", ["file", "-"])
def test_extract_refuses_an_input_that_holds_no_records(tmp_path, monkeypatch, output):
    "An empty article set is exit 2 naming it, the previous output kept, nothing on stdout: not '0 documents'."
    empty = tmp_path / "empty.xml.gz"
    empty.write_bytes(gzip.compress(b"<PubmedArticleSet></PubmedArticleSet>\n"))
    out = tmp_path / "claims.jsonl"
    out.write_text("the previous output\n")
    result = CliRunner().invoke(cli, ["extract", "--input", str(empty), "--output", str(out) if output == "file" else "-"],
                                env={**clean_env(), "EVIDEX_LOAD_PLUGINS": "ifn"})
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert one_line_error(result.stderr) == f"Error: {empty}: holds no records (no PubmedArticle, PubmedBookArticle " \
                                            "or DeleteCitation); nothing to read"
    assert out.read_text() == "the previous output\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "claims.jsonl", "empty.xml.gz"]


def test_extract_output_is_replaced_only_by_a_complete_file(eval_docs, tmp_path, monkeypatch):
    good = eval_docs.read_text().splitlines(keepends=True)[:3]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(good) + '{"pmid": "x", "title": \n')
    out = tmp_path / "claims.jsonl"
    out.write_text("the previous output\n")
    code, err = invoke(["extract", "--input", str(bad), "--output", str(out)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 2 and "bad.jsonl:4: not valid JSON" in err
    assert out.read_text() == "the previous output\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.jsonl", "claims.jsonl"]
    fine = tmp_path / "fine.jsonl"
    fine.write_text("".join(good))
    code, err = invoke(["extract", "--input", str(fine), "--output", str(out)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 0 and out.read_text().count("\n") > 1 and "previous" not in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_text_over_the_parse_limit_is_a_recorded_error_not_a_crash(tmp_path, monkeypatch):
    "spaCy refuses texts over a million characters: that field is reported, the rest is extracted."
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Type I IFN reduced tumour growth in mice.",
                                "abstract": "Interferon-beta suppressed tumours. " * 30_000}) + "\n"
                    + json.dumps({"pmid": "2", "title": "IFN-alpha slowed melanoma growth in patients."}) + "\n")
    db_path = tmp_path / "e.db"
    code, err = invoke(["ingest", str(docs), "--db", str(db_path)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 1 and "Traceback" not in err
    assert "abstract of 1,080,000 characters is longer than the parse limit of 1,000,000" in err
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select count(*) from documents").fetchone()[0] == 2
        assert {r[0] for r in conn.execute("select distinct doc_id from claims")} == {"1", "2"}  # title of 1 too
        assert conn.execute("select status from runs").fetchall() == [("errors",)]
    conn.close()
    code, err = invoke(["extract", "--db", str(db_path)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 0, err  # done once: not retried (and failed) on every later run


@pytest.mark.parametrize("url", ["eutils.example.org/entrez", "ftp://example.org/eutils", "http://", "http://host:port/x",
                                 "http://127.0.0.1:9/eutils\r", " http://127.0.0.1:9/eutils", "http://127.0.0.1:9/eu\ttils"])
def test_a_malformed_base_url_is_a_config_error_not_a_network_failure(tmp_path, monkeypatch, url):
    "Exit 4 says 'nothing to do, the next run catches up': a typo in a URL must not hide behind it."
    db_path = tmp_path / "e.db"
    code, err = invoke(["ingest", "--source", "pubmed", "--query", "cancer", "--db", str(db_path)], monkeypatch,
                       EVIDEX_PUBMED_URL=url, EVIDEX_EMAIL="ci@example.org")
    assert code == 2 and "pubmed base URL (EVIDEX_PUBMED_URL)" in one_line_error(err)
    config = tmp_path / "evidex.toml"
    config.write_text(GOOD_CONFIG.replace("[sources.pubmed]\n", f'[sources.pubmed]\nbase_url = "{url}"\n'))
    code, err = invoke(["run", "--config", str(config), "--db", str(db_path)], monkeypatch, EVIDEX_EMAIL="ci@example.org")
    # TOML itself refuses a raw control character in a string.
    assert code == 2 and ("pubmed base URL (base_url)" in err or "is not valid TOML" in err)
    assert not db_path.exists()


@pytest.mark.parametrize("url", ["http://user:hunter2pw@[bad", "http://user:hunter2pw@host:port/x",
                                 "http://user:hunter2/pw@127.0.0.1/x", "http://user:hunter2 pw@127.0.0.1/x",
                                 "ftp://user:hunter2pw@example.org/", "user:hunter2pw@example.org/eutils"])
def test_a_malformed_base_urls_error_masks_its_password(tmp_path, monkeypatch, url):
    assert_masked_in_errors(tmp_path, monkeypatch, url, "user:[REDACTED]@")


@pytest.mark.parametrize("url", ["http://hunter2token@[bad", "http://hunter2token@host:port/x"])
def test_a_malformed_base_urls_error_masks_a_token_given_as_its_user(tmp_path, monkeypatch, url):
    assert_masked_in_errors(tmp_path, monkeypatch, url, "//[REDACTED]@")


def assert_masked_in_errors(tmp_path, monkeypatch, url: str, masked: str) -> None:
    "The one-line error names the URL as the receipt would: user kept, password masked (environment and config)."
    db_path = tmp_path / "e.db"
    code, err = invoke(["ingest", "--source", "pubmed", "--query", "cancer", "--db", str(db_path)], monkeypatch,
                       EVIDEX_PUBMED_URL=url, EVIDEX_EMAIL="ci@example.org")
    line = one_line_error(err)
    assert code == 2 and "pubmed base URL (EVIDEX_PUBMED_URL)" in line and masked in line, err
    assert "hunter2" not in err
    config = tmp_path / "evidex.toml"
    config.write_text(GOOD_CONFIG.replace("[sources.pubmed]\n", f'[sources.pubmed]\nbase_url = "{url}"\n'))
    code, err = invoke(["run", "--config", str(config), "--db", str(db_path)], monkeypatch, EVIDEX_EMAIL="ci@example.org")
    assert code == 2 and "pubmed base URL (base_url)" in err and "[REDACTED]" in err and "hunter2" not in err, err
    assert not db_path.exists()


@pytest.mark.parametrize("line", ['since = "2024-03-01"', "since = 2024-03-01"])
def test_since_may_be_a_quoted_or_a_toml_date(tmp_path, line):
    from evidex.config import load_config

    config = tmp_path / "evidex.toml"
    config.write_text(GOOD_CONFIG.replace("[run]", f"[run]\n{line}"))
    assert load_config(config).since == "2024-03-01"
    config.write_text(GOOD_CONFIG.replace("[run]", "[run]\nsince = 2024-03-01T10:00:00"))
    with pytest.raises(Exception, match="'run.since' must be a string"):
        load_config(config)


def test_extract_output_through_a_symlink_or_into_a_fifo_keeps_the_node(eval_docs, tmp_path, monkeypatch):
    "Only a regular file is replaced by a complete temporary one; a link is followed, a pipe written in place."
    import stat
    import threading

    docs = tmp_path / "d.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:2]))
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    code, err = invoke(["extract", "--input", str(docs), "--output", str(link)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    assert code == 0, err
    assert link.is_symlink() and "old" not in real.read_text() and real.read_text().count("\n") > 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    code, err = invoke(["extract", "--input", str(docs), "--output", str(fifo)], monkeypatch, EVIDEX_LOAD_PLUGINS="ifn")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(fifo.stat().st_mode) and got and got[0] == real.read_text()


def test_extract_output_to_a_descriptor_writes_through_it(eval_docs, tmp_path):
    "/dev/stdout appended to a file (>>) or into a pipe: the shell's descriptor, not a reopened path."
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"pmid": "1", "title": "Type I IFN reduced tumour growth in mice."}\n')
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n")
    env = {**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn"}
    with open(log, "a") as out:
        proc = subprocess.run([sys.executable, "-m", "evidex", "extract", "--input", str(docs), "--output", "/dev/stdout"],
                              stdout=out, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier line" and len(lines) > 1 and all(line.startswith("{") for line in lines[1:])
    piped = subprocess.run([sys.executable, "-m", "evidex", "extract", "--input", str(docs), "--output", "/dev/fd/1"],
                           capture_output=True, text=True, env=env)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines() == lines[1:]


def test_extract_output_dash_writes_to_stdout(tmp_path):
    "--output - prints the claims on standard output, under -W error (no deprecated Click call), the same lines as a file."
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"pmid": "1", "title": "Type I IFN reduced tumour growth in mice."}\n')
    env = {**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn"}
    proc = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-m", "evidex", "extract", "--input",
                           str(docs), "--output", "-"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "claims.jsonl"
    to_file = subprocess.run([sys.executable, "-m", "evidex", "extract", "--input", str(docs), "--output", str(out)],
                             capture_output=True, text=True, env=env)
    assert to_file.returncode == 0, to_file.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(line.startswith("{") for line in lines) and lines == out.read_text().splitlines()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_extract_output_dash_is_utf8_whatever_the_locale(tmp_path, encoding):
    "A claim's non-ASCII text on an ASCII or Latin-1 stdout: the same UTF-8 lines as a file, not a traceback."
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "IFN-\u03b2 reduced tumour growth in mice (caf\u00e9)."},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    env = {**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn", "PYTHONIOENCODING": encoding}
    proc = subprocess.run([sys.executable, "-m", "evidex", "extract", "--input", str(docs), "--output", "-"],
                          capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = tmp_path / "claims.jsonl"
    to_file = subprocess.run([sys.executable, "-m", "evidex", "extract", "--input", str(docs), "--output", str(out)],
                             capture_output=True, env=env)
    assert to_file.returncode == 0, to_file.stderr
    assert "\u03b2" in out.read_text(encoding="utf-8") and proc.stdout == out.read_bytes()


@pytest.mark.parametrize("args,problem", [
    (["ingest", "--db", "{db}", "{dir}"], "File '{dir}' is a directory. (see cli ingest --help)"),
    (["runs", "--db", "{dir}"], "File '{dir}' is a directory. (see cli runs --help)"),
    (["seed", "status", "--db", "{dir}"], "File '{dir}' is a directory. (see cli seed status --help)"),
    (["report", "--db", "{db}", "--output", "{dir}"], "File '{dir}' is a directory. (see cli report --help)"),
    (["extract", "--input", "{dir}", "--output", "-"], "File '{dir}' is a directory. (see cli extract --help)"),
    (["ingest", "--db", "{db}", "--limt", "5"], "No such option '--limt'"),
    (["ingest", "--db", "{db}", "{db}", "--source", "pubmed"], "give FILES or --source, not both (see cli ingest"),
    (["nosuch"], "No such command 'nosuch'. (see cli --help)"),
    # An option missing its value names the subcommand's help, not the group's.
    (["run", "--db"], "Option '--db' requires an argument. (see cli run --help)"),
    (["ingest", "{db}", "--source"], "Option '--source' requires an argument. (see cli ingest --help)"),
    (["seed", "load", "--db"], "Option '--db' requires an argument. (see cli seed load --help)"),
    # An option whose value is one of the command's own options swallowed it: no database named --quiet.
    (["run", "--config", "--quiet", "--db", "{db}"],
     "Option '--config' requires an argument; '--quiet' is an option of this command, not a value (see cli run --help)"),
    (["ingest", "--db", "--no-extract", "{db}"], "Option '--db' requires an argument; '--no-extract' is an option"),
    (["seed", "load", "--db", "--help"], "Option '--db' requires an argument; '--help' is an option"),
    (["extract", "--db", "{db}", "--extractor", "--all"], "Option '--extractor' requires an argument; '--all' is an option"),
    (["runs", "--db=-q"], None),  # not an option of runs: a database of that name may be meant
])
def test_a_usage_error_is_one_line_without_the_usage_block(args, problem, tmp_path, monkeypatch):
    "A directory where a file belongs, or a misspelt option, is one line naming it, exit 2, nothing written."
    db = tmp_path / "e.db"
    monkeypatch.chdir(tmp_path)  # a path taken from an option's value would be written here
    code, err = invoke([a.format(db=db, dir=tmp_path) for a in args], monkeypatch)  # CliRunner's program: cli
    if problem is None:
        assert "requires an argument" not in err
        return
    assert code == 2, err
    assert problem.format(dir=tmp_path) in one_line_error(err) and one_line_error(err).startswith("Error: ")
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_bare_commands_still_print_their_help(monkeypatch):
    for args in ([], ["seed"]):
        result = CliRunner().invoke(cli, args, prog_name="evidex")
        assert "Usage: evidex" in result.output and "Commands:" in result.output and "Error" not in result.output


@pytest.mark.parametrize("target", ["same", "hard link", "symlink", "wal"])
def test_report_never_writes_over_its_database(target, tmp_path, monkeypatch):
    "report --output evidex.db (a slip of the keyboard) replaced the database with HTML."
    db = tmp_path / "e.db"
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "IFN-beta restrains melanoma", "abstract": "Type I IFN helps."}) + "\n")
    code, err = invoke(["ingest", "--db", str(db), "--no-extract", str(docs)], monkeypatch)
    assert code == 0, err
    output = {"same": db, "hard link": tmp_path / "hard.db", "symlink": tmp_path / "soft.db",
              "wal": tmp_path / "e.db-wal"}[target]
    if target == "hard link":
        os.link(db, output)
    elif target == "symlink":
        output.symlink_to(db)
    wal = tmp_path / "e.db-wal"
    before = (db.read_bytes(), wal.read_bytes() if wal.exists() else None)
    code, err = invoke(["report", "--db", str(db), "--output", str(output)], monkeypatch)
    assert code == 2 and "writing it would destroy it" in one_line_error(err)
    assert (db.read_bytes(), wal.read_bytes() if wal.exists() else None) == before


@pytest.mark.parametrize("target", ["same", "relative", "symlink"])
def test_offline_extract_never_writes_over_its_input(target, tmp_path, monkeypatch):
    "extract --input docs.jsonl --output docs.jsonl replaced the documents with their claims."
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "IFN-beta restrains melanoma", "abstract": "Type I IFN helps."}) + "\n")
    before = docs.read_bytes()
    monkeypatch.chdir(tmp_path)
    output = {"same": str(docs), "relative": "./docs.jsonl", "symlink": str(tmp_path / "link.jsonl")}[target]
    if target == "symlink":
        (tmp_path / "link.jsonl").symlink_to(docs)
    code, err = invoke(["extract", "--input", str(docs), "--output", output], monkeypatch)
    assert code == 2 and "is the --input file" in one_line_error(err)
    assert docs.read_bytes() == before


BROKEN_EXTRACTOR = '''
from evidex import Extractor, hookimpl

class Broken(Extractor):
    name = "broken"

    def setup(self, nlp):
        raise ValueError("lexicon line 3 is not JSON")

    def extract(self, document, field, doc):
        return []

@hookimpl
def register_extractors(register):
    register(Broken())
'''


def _refusals(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    "Commands refused after the run lock is taken: (arguments, environment, what the one line says)."
    plugins, seed = tmp_path / "plugins", tmp_path / "badseed"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_EXTRACTOR)
    seed.mkdir()
    (seed / "review.json").write_text("{")
    docs, bad, empty = tmp_path / "docs.jsonl", tmp_path / "bad.jsonl", tmp_path / "empty.xml"
    empty.write_text("<PubmedArticleSet/>\n")
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    bad.write_text(json.dumps(DOCS[0]) + '\n{"pmid": "9", "title": \n')
    configs = {"seed": GOOD_CONFIG.replace("link_seed = false", f'link_seed = true\nseed = "{seed}"'),
               "plugins": GOOD_CONFIG.replace("extract = false", f'extract = true\nplugins_dir = "{plugins}"'),
               "ok": GOOD_CONFIG}
    for name, text in configs.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return {
        "ingest, an extractor cannot set up": (["ingest", "--plugins-dir", str(plugins), str(docs)], {},
                                              "extractor 'broken' failed to set up"),
        "ingest, no such spaCy model": (["ingest", str(docs)], {"EVIDEX_SPACY_MODEL": "no_such_model"}, "no_such_model"),
        "ingest, a bad file": (["ingest", "--no-extract", str(bad)], {}, "bad.jsonl:2: not valid JSON"),
        "ingest, a file with no records": (["ingest", "--no-extract", str(docs), str(empty)], {},
                                           "empty.xml: holds no records"),
        "ingest --until, no start": (["ingest", "--no-extract", "--source", "pubmed", "--query", "x[tiab]", "--email",
                                      "a@b.org", "--until", "2020-01-01"], {}, "--until needs a start"),
        "run, a bad seed": (["run", "--config", str(tmp_path / "seed.toml")], {}, "'run.seed': cannot read the seed"),
        "run, an extractor cannot set up": (["run", "--config", str(tmp_path / "plugins.toml")], {},
                                           "extractor 'broken' failed to set up"),
        "run, a bad base URL": (["run", "--config", str(tmp_path / "ok.toml")],
                               {"EVIDEX_PUBMED_URL": "ftp://example.org"}, "is not an http:// or https:// URL"),
        "seed load, a bad seed": (["seed", "load", str(seed)], {}, "cannot read the seed"),
    }


REFUSALS = ["ingest, an extractor cannot set up", "ingest, no such spaCy model", "ingest, a bad file",
            "ingest, a file with no records",
            "ingest --until, no start", "run, a bad seed", "run, an extractor cannot set up", "run, a bad base URL",
            "seed load, a bad seed"]


@pytest.mark.parametrize("database", ["new", "existing"])
@pytest.mark.parametrize("case", REFUSALS)
def test_a_refusal_under_the_lock_leaves_the_directory_as_it_found_it(case, database, template_db, tmp_path):
    "No <db>.lock (nor a new empty database) is left by a command that stored nothing."
    args, env, needle = _refusals(tmp_path)[case]
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "e.db"
    if database == "existing":
        shutil.copyfile(template_db, path)  # a copy: its lock file stayed beside the original
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # A process of its own: the directory as a user finds it once the command has exited.
    proc = subprocess.run([sys.executable, "-m", "evidex", *args, "--db", str(path)], capture_output=True, text=True,
                          env={**clean_env(), "EVIDEX_LOAD_PLUGINS": "", **env})
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_command_that_stored_something_keeps_its_lock_file_and_database(tmp_path):
    "The lock file stays after a run (the lock's design); a new database holding a seed baseline and no run stays too."
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    for name, args in (("ingested.db", ["ingest", "--no-extract", str(docs)]), ("seeded.db", ["seed", "load"])):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        proc = subprocess.run([sys.executable, "-m", "evidex", *args, "--db", str(folder / name)], capture_output=True,
                              text=True, env={**clean_env(), "EVIDEX_LOAD_PLUGINS": ""}, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in folder.iterdir()) == [name, f"{name}.lock"]
    seeded = sqlite3.connect(tmp_path / "seeded" / "seeded.db")
    assert seeded.execute("select count(*) from baselines").fetchone()[0] == 1
    assert seeded.execute("select count(*) from runs").fetchone()[0] == 0
    seeded.close()
