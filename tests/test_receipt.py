"""evidex runs --receipt N: everything needed to rerun a run and check the rerun."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import require_shared
from evidex.cli import cli
from evidex.nlp import PIPELINE_RULES
from evidex.db import open_db, start_run, finish_run

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpora" / "seed"




def run(*args, env=None, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"EVIDEX_LOAD_PLUGINS": "age", **(env or {})})
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_receipt_of_a_file_ingest(fresh, eval_docs, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(line + "\n" for line in eval_docs.read_text().splitlines()
                            if json.loads(line)["pmid"] in ("para-22", "para-24")))
    db_path = tmp_path / "r.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", docs, "--db", db_path)
    receipt = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
    db = open_db(db_path)
    row = next(db.query("select * from runs where id = 1"))
    assert receipt["run"]["id"] == 1 and receipt["run"]["command"] == "ingest" and receipt["run"]["status"] == "ok"
    assert receipt["evidex_version"] == row["evidex_version"]
    assert receipt["plugins"] == json.loads(row["plugins"])
    assert set(receipt["plugins"]) == {"age"} and len(receipt["plugins"]["age"]["data_hash"]) == 16
    assert receipt["options"] == {"files": [str(docs)],
                                  "files_sha256": {str(docs): hashlib.sha256(docs.read_bytes()).hexdigest()}}
    assert receipt["pipeline"] == {"rules": PIPELINE_RULES, "model": "blank:en"}
    assert receipt["baseline"]["id"] == db.execute("select id from baselines").fetchone()[0]
    assert receipt["baseline"]["doi"] == "10.1038/s41568-026-00915-1"
    assert receipt["counts"]["documents_new"] == 2 and receipt["counts"]["claims_new"] == receipt["claims_current"]["count"]
    assert (receipt["source_urls"], receipt["ledger"], receipt["raw_payload_sha256"]) == ({}, [], [])
    assert receipt["environment"] == json.loads(row["environment"]) == receipt["environment_now"]
    assert set(receipt["environment"]) == {"python", "spacy", "sqlite"} and all(receipt["environment"].values())
    assert receipt["env_vars"] == {"EVIDEX_LOAD_PLUGINS": "age"}
    assert receipt["rerun"] == ["env", "EVIDEX_LOAD_PLUGINS=age", "evidex", "ingest", str(docs)]
    # The digest of the claims current at the run is what a rerun must reproduce.
    other = tmp_path / "other.db"
    run("seed", "load", SEED, "--db", other)
    run("ingest", docs, "--db", other)
    again = json.loads(run("runs", "--receipt", "1", "--db", other).output)
    assert again["claims_current"] == receipt["claims_current"]


def test_receipt_of_a_source_run_lists_urls_windows_ledger_and_payload_hashes(fresh, tmp_path, monkeypatch):
    db_path = tmp_path / "r.db"
    db = open_db(db_path)
    run_id = start_run(db, "ingest", {"ifn": {"version": "0.2", "data_hash": "abc"}}, source="pubmed",
                       query='"type I interferon"[tiab]', options={"cache_dir": "cache", "batch_size": 200})
    payloads = ["a" * 64, "b" * 64]
    for start, end, responses in [("2026-01-01", "2026-06-30", payloads[:1]), ("2026-07-01", "2026-11-27", payloads)]:
        db["ledger"].insert({"run_id": run_id, "source": "pubmed", "query": '"type I interferon"[tiab]',
                             "window_start": start, "window_end": end, "expected": 3, "fetched": 3, "parsed": 3,
                             "stored": 3, "skipped": 0, "skipped_reasons": "{}", "failed": 0, "status": "complete",
                             "detail": json.dumps({"responses": responses})})
    db["watermarks"].insert({"source": "pubmed", "query": '"type I interferon"[tiab]',
                             "last_complete": "2026-11-27", "run_id": run_id, "updated_at": "2026-11-27"})
    finish_run(db, run_id, "ok", documents_seen=6, documents_new=6)
    receipt = json.loads(run("runs", "--receipt", run_id, "--db", db_path,
                             env={"EVIDEX_PUBMED_URL": "http://127.0.0.1:9/eutils"}).output)
    assert receipt["query"] == '"type I interferon"[tiab]' and receipt["source"] == "pubmed"
    assert receipt["window"] == {"start": "2026-01-01", "end": "2026-11-27"}
    assert receipt["source_urls"] == {"pubmed": "http://127.0.0.1:9/eutils"}
    assert receipt["raw_payload_sha256"] == payloads
    assert [e["detail"]["responses"] for e in receipt["ledger"]] == [payloads[:1], payloads]
    assert receipt["watermarks"][0]["last_complete"] == "2026-11-27"
    assert receipt["options"] == {"cache_dir": "cache", "batch_size": 200}
    assert receipt["plugins"] == {"ifn": {"version": "0.2", "data_hash": "abc"}} and receipt["baseline"] is None
    assert receipt["rerun"] == ["evidex", "ingest", "--source", "pubmed", "--query", '"type I interferon"[tiab]',
                                "--since", "2026-01-01", "--until", "2026-11-27", "--batch-size", "200",
                                "--cache-dir", "cache"]


@pytest.mark.parametrize("url,secret,shown", [
    ("http://me:pr0xy-s3cret@127.0.0.1:9/e", "pr0xy-s3cret", "http://me:[REDACTED]@127.0.0.1:9/e"),
    # 'https://TOKEN@host' is how many proxies and services take a key: masked like a password.
    ("http://t0ken-s3cret@127.0.0.1:9/e", "t0ken-s3cret", "http://[REDACTED]@127.0.0.1:9/e"),
])
def test_a_receipt_masks_the_credentials_of_a_base_url_it_reads_from_the_environment(fresh, tmp_path, url, secret, shown):
    "A fetch that recorded no URL (before they did): the receipt gives the one set now, its password or token masked."
    db_path = tmp_path / "r.db"
    db = open_db(db_path)
    finish_run(db, start_run(db, "ingest", {}, source="pubmed", query="cancer"), "ok")
    result = run("runs", "--receipt", 1, "--db", db_path, env={"EVIDEX_PUBMED_URL": url})
    assert json.loads(result.output)["source_urls"] == {"pubmed": shown}
    assert secret not in result.output


def test_receipt_of_an_unknown_run(tmp_path):
    db_path = tmp_path / "r.db"
    open_db(db_path)
    result = run("runs", "--receipt", "3", "--db", db_path, ok=False)
    assert result.exit_code != 0 and "no run 3" in result.output


def test_reloading_the_seed_does_not_change_a_past_receipt(fresh, eval_docs, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:3]))
    db_path = tmp_path / "r.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", docs, "--db", db_path)
    before = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
    moved = tmp_path / "elsewhere"
    shutil.copytree(SEED, moved)
    run("seed", "load", moved, "--db", db_path)  # the same content from another path: loaded_at and path move
    after = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
    assert {k: v for k, v in after.items() if k != "environment_now"} == {k: v for k, v in before.items() if k != "environment_now"}


def test_a_no_extract_ingest_reruns_without_extracting_from_any_directory(fresh, eval_docs, tmp_path, monkeypatch):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:3]))
    monkeypatch.chdir(tmp_path)
    run("ingest", "--no-extract", "docs.jsonl", "--db", "r.db")
    receipt = json.loads(run("runs", "--receipt", "1", "--db", "r.db").output)
    assert receipt["rerun"] == ["evidex", "ingest", "--no-extract", str(docs)]  # no variable changes it
    assert receipt["options"]["files_sha256"] == {str(docs): hashlib.sha256(docs.read_bytes()).hexdigest()}


def test_an_extract_limited_to_one_extractor_reruns_as_such(fresh, eval_docs, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:3]))
    db_path = tmp_path / "r.db"
    run("ingest", "--no-extract", docs, "--db", db_path)
    run("extract", "--all", "--extractor", "age", "--db", db_path)
    receipt = json.loads(run("runs", "--receipt", "2", "--db", db_path).output)
    assert receipt["rerun"] == ["env", "EVIDEX_LOAD_PLUGINS=age", "evidex", "extract", "--all", "--extractor", "age"]


def shell(command: str, **env: str) -> subprocess.CompletedProcess:
    "command run by /bin/sh as a user would paste it: no EVIDEX_ variable set but env, this venv's evidex first on PATH."
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVIDEX_") and k != "NCBI_API_KEY"}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean.get('PATH', '')}"
    return subprocess.run(command, shell=True, capture_output=True, text=True, env={**clean, **env}, timeout=300)


def digest(db_path, run_id=1) -> dict:
    return json.loads(run("runs", "--receipt", run_id, "--db", db_path).output)["claims_current"]


def test_a_rerun_pasted_into_a_shell_sets_the_plugins_variable_the_run_had(fresh, eval_docs, tmp_path):
    "EVIDEX_LOAD_PLUGINS chose the extractors: the receipt's command sets it, so the pasted rerun gives the same digest."
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:40]))
    db_path = tmp_path / "a.db"
    run("ingest", docs, "--db", db_path, env={"EVIDEX_LOAD_PLUGINS": "ifn"})
    receipt = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
    assert receipt["claims_current"]["count"] > 0
    again = shell(f"{shlex.join(receipt['rerun'])} --db {shlex.quote(str(tmp_path / 'b.db'))}")
    assert again.returncode == 0, again.stderr
    assert digest(tmp_path / "b.db") == receipt["claims_current"]
    assert receipt["rerun_shell"] == shlex.join(receipt["rerun"]) and receipt["rerun_supply"] == {}
    # Without the variable every installed plugin extracts: another digest, so the setting is what held it.
    bare = shell(f"{shlex.join(receipt['rerun'][2:])} --db {shlex.quote(str(tmp_path / 'c.db'))}")
    assert bare.returncode == 0, bare.stderr
    assert digest(tmp_path / "c.db") != receipt["claims_current"]


def test_a_fetchs_rerun_sets_the_base_url_it_had_with_its_password_masked(fresh, tmp_path):
    "The source URL came from the environment: the rerun sets it, masked; with the password put back it reproduces the run."
    require_shared("corpora-raw", "api-responses")
    from replay_server import ReplayServer

    with ReplayServer() as server:
        url = server.pubmed_url.replace("http://", "http://evidex:pr0xy-s3cret@")
        env = {"EVIDEX_PUBMED_URL": url, "EVIDEX_LOAD_PLUGINS": "therapy", "EVIDEX_PUBMED_WINDOW_MAX": "10",
               "EVIDEX_RATE_LIMIT": "1000", "EVIDEX_RATE_DIR": str(tmp_path / "rate")}
        run("ingest", "--source", "pubmed", "--query", "cancer", "--since", "2000-01-01", "--until", "2024-12-31",
            "--email", "ci@example.org", "--db", tmp_path / "a.db", env=env)
        text = run("runs", "--receipt", "1", "--db", tmp_path / "a.db").output
        receipt = json.loads(text)
        assert "pr0xy-s3cret" not in text
        assert receipt["claims_current"]["count"] > 0
        masked = url.replace("pr0xy-s3cret", "[REDACTED]")
        assert receipt["rerun"][:4] == ["env", "EVIDEX_LOAD_PLUGINS=therapy", f"EVIDEX_PUBMED_URL={masked}",
                                        "EVIDEX_PUBMED_WINDOW_MAX=10"]
        assert list(receipt["rerun_supply"]) == ["EVIDEX_PUBMED_URL"]
        # The password put back, as rerun_supply asks, the pasted rerun asks the same windows of the same server.
        command = receipt["rerun_shell"].replace("[REDACTED]", "pr0xy-s3cret")
        again = shell(f"{command} --db {shlex.quote(str(tmp_path / 'b.db'))}", EVIDEX_RATE_LIMIT="1000",
                      EVIDEX_RATE_DIR=str(tmp_path / "rate"), EVIDEX_RETRIES="0", EVIDEX_TIMEOUT="5")
    assert again.returncode == 0, again.stderr
    assert digest(tmp_path / "b.db") == receipt["claims_current"]


def test_a_receipt_names_what_the_run_ran_on_not_what_prints_it(fresh, eval_docs, tmp_path):
    "A receipt printed after an upgrade (or on another machine) must not pass off today's spaCy as the run's."
    from test_ingest import undo_migration

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:2]))
    db_path = tmp_path / "r.db"
    run("ingest", docs, "--db", db_path)
    run("ingest", docs, "--db", db_path)
    then = {"python": "3.11.4", "spacy": "3.7.2", "sqlite": "3.40.1"}
    db = open_db(db_path)
    with db.conn:
        db.execute("update runs set environment = ? where id = 1", [json.dumps(then)])
    receipt = json.loads(run("runs", "--receipt", "1", "--db", db_path).output)
    assert receipt["environment"] == then
    assert receipt["environment_now"]["spacy"] == importlib.metadata.version("spacy") != then["spacy"]
    # A database from before the runs kept it: unknown, not today's.
    undo_migration(db_path, "m023_run_environment", ["alter table runs drop column environment"])
    receipt = json.loads(run("runs", "--receipt", "2", "--db", db_path).output)
    assert receipt["environment"] is None and receipt["environment_now"]["sqlite"] == sqlite3.sqlite_version
