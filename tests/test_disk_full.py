"""A database file that cannot grow (a full disk): one line naming it, exit 1, nothing lost on rerun."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import replay_server

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT.parent / "shared" / "eval" / "docs.jsonl"


def file_size_limit(limit: int):
    "A child whose files cannot grow past `limit` bytes: writes fail as on a full disk (EFBIG, not a signal)."
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def evidex(*args: str, env: dict | None = None, limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evidex", *args], capture_output=True, text=True, timeout=300,
                          env=env, preexec_fn=file_size_limit(limit) if limit else None)


def integrity(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("pragma integrity_check").fetchone()[0]


@pytest.mark.skipif(not DOCS.exists(), reason="needs ../shared/eval/docs.jsonl")
def test_ingest_on_a_full_disk_is_one_line_and_the_database_stays_intact(tmp_path):
    db_path = tmp_path / "evidex.db"
    first = evidex("ingest", "--db", str(db_path), "--no-extract", str(DOCS), "--quiet")
    assert first.returncode == 0, first.stderr
    before = integrity(db_path)
    # Room for the file as it is, not for the claims extraction adds: the write fails part-way.
    size = sum(p.stat().st_size for p in tmp_path.glob("evidex.db*"))
    result = evidex("extract", "--db", str(db_path), "--all", limit=size + 64 * 1024)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"Error: cannot write database {db_path}: "), lines
    assert "free disk space" in lines[-1]
    assert before == integrity(db_path) == "ok"
    again = evidex("extract", "--db", str(db_path))
    assert again.returncode == 0, again.stderr


@pytest.fixture(scope="module")
def server():
    try:
        srv = replay_server.ReplayServer(scale=120)
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    with srv:
        yield srv


def test_run_on_a_full_disk_logs_one_json_error_and_a_rerun_stores_every_record_once(server, tmp_path):
    env = {**os.environ, **server.env(), "EVIDEX_RATE_DIR": str(tmp_path / "rate"), "EVIDEX_RATE_LIMIT": "1000",
           "EVIDEX_RETRIES": "1", "EVIDEX_BACKOFF": "0.01", "EVIDEX_EMAIL": "ci@example.org"}
    for key in ("EVIDEX_CONFIG", "EVIDEX_DB", "EVIDEX_PLUGINS_DIR", "NCBI_API_KEY"):
        env.pop(key, None)
    config = tmp_path / "evidex.toml"
    config.write_text('[run]\nextract = true\nlink_seed = false\nsince = "2000-01-01"\n\n'
                      '[sources.pubmed]\nbatch_size = 10\n\n[sources.europepmc]\nenabled = false\n\n'
                      '[[queries]]\nid = "Q"\npubmed = "cancer"\n', encoding="utf-8")
    db_path = tmp_path / "evidex.db"
    args = ("run", "--config", str(config), "--db", str(db_path), "--log-json")
    result = evidex(*args, env=env, limit=1024 * 1024)
    assert result.returncode == 1, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line JSON: no traceback
    assert events[-1]["event"] == "run.error" and events[-1]["exit_code"] == 1, events[-1]
    assert events[-1]["error"] == "StorageError"
    assert events[-1]["message"].startswith(f"cannot write database {db_path}: "), events[-1]
    assert integrity(db_path) == "ok"

    again = evidex(*args, env=env)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("select count(*), count(distinct pmid) from documents").fetchone()
        first = conn.execute("select status from runs where id = 1").fetchone()[0]
    assert stored == (len(server.pubmed), len(server.pubmed))
    assert first in ("failed", "interrupted")  # never left 'running', never 'ok'
