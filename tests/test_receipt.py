"""evidex runs --receipt N: everything needed to rerun a run and check the rerun."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

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
    assert set(receipt["environment"]) == {"python", "spacy", "sqlite"}
    assert receipt["rerun"] == ["evidex", "ingest", str(docs)]
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
    assert {k: v for k, v in after.items() if k != "environment"} == {k: v for k, v in before.items() if k != "environment"}


def test_a_no_extract_ingest_reruns_without_extracting_from_any_directory(fresh, eval_docs, tmp_path, monkeypatch):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:3]))
    monkeypatch.chdir(tmp_path)
    run("ingest", "--no-extract", "docs.jsonl", "--db", "r.db")
    receipt = json.loads(run("runs", "--receipt", "1", "--db", "r.db").output)
    assert receipt["rerun"] == ["evidex", "ingest", "--no-extract", str(docs)]
    assert receipt["options"]["files_sha256"] == {str(docs): hashlib.sha256(docs.read_bytes()).hexdigest()}


def test_an_extract_limited_to_one_extractor_reruns_as_such(fresh, eval_docs, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:3]))
    db_path = tmp_path / "r.db"
    run("ingest", "--no-extract", docs, "--db", db_path)
    run("extract", "--all", "--extractor", "age", "--db", db_path)
    receipt = json.loads(run("runs", "--receipt", "2", "--db", db_path).output)
    assert receipt["rerun"] == ["evidex", "extract", "--all", "--extractor", "age"]
