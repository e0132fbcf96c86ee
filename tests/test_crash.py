"""SIGKILL a real `evidex run` at several points; the next run ends with every record exactly once."""

from __future__ import annotations

import datetime
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
import replay_server  # noqa: E402  (tests/ is on sys.path under pytest, as for the other network tests)
RECORDS = 100
BATCH = 20  # 5 efetch requests per full fetch
KILL_AFTER_EFETCH = (1, 3, 5)  # 5: every batch fetched, killed while storing or extracting
# Fractions of an uninterrupted run's wall time: start-up and migrations, mid-fetch, late.
KILL_AT_FRACTIONS = (0.15, 0.5, 0.8)


@pytest.fixture(scope="module")
def server():
    try:
        srv = replay_server.ReplayServer(scale=RECORDS)
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    with srv:
        yield srv


@pytest.fixture
def setup(server, tmp_path):
    config = tmp_path / "evidex.toml"
    config.write_text(f'''
[run]
extract = true
link_seed = true
seed = "{ROOT / 'corpora' / 'seed'}"

[sources.pubmed]
batch_size = {BATCH}

[[queries]]
id = "Q00"
pubmed = "\\"type I interferon\\"[tiab] AND cancer[tiab]"
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVIDEX_", "NCBI_"))}
    env.update(server.env(), EVIDEX_RATE_DIR=str(tmp_path / "rate"), EVIDEX_RATE_LIMIT="1000",
               EVIDEX_RETRIES="1", EVIDEX_BACKOFF="0.01", EVIDEX_EMAIL="ci@example.org")
    return config, env


def start(config: Path, db_path: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evidex", "run", "--config", str(config), "--db", str(db_path),
                             "--quiet"], env=env, cwd=db_path.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen, condition, timeout: float = 60) -> bool:
    "SIGKILL proc as soon as condition() holds; False if it exited first."
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0005)
    proc.communicate(timeout=timeout)
    return False


def state(db_path: Path) -> dict:
    "Everything a rerun must agree on, minus bookkeeping (run ids, timestamps)."
    with sqlite3.connect(db_path) as conn:
        q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        return {
            "documents": q("select id, pmid, content_key, deleted from documents order by id"),
            "pmid_ids": q("select value, doc_id from document_ids where scheme = 'pmid' order by value"),
            "claims": q("select id, superseded_run is null from claims order by id"),
            "mentions": q("select id from mentions order by id"),
            "links": q("select claim_id, seed_id, relation from claim_links order by claim_id"),
            "unextracted": q("select count(*) from documents where extracted_with is null"),
            "watermarks": q("select source, last_complete from watermarks"),
        }


def watermark(db_path: Path) -> list:
    if not db_path.exists():
        return []
    with sqlite3.connect(db_path) as conn:
        try:
            return conn.execute("select last_complete from watermarks").fetchall()
        except sqlite3.OperationalError:  # killed before the migrations committed
            return []


@pytest.mark.slow
def test_sigkill_at_many_points_then_rerun_stores_every_record_exactly_once(server, setup, tmp_path):
    config, env = setup
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()

    # The reference: one run nobody interrupts.
    clean = tmp_path / "clean" / "e.db"
    clean.parent.mkdir()
    began = time.monotonic()
    proc = start(config, clean, env)
    _, err = proc.communicate(timeout=120)
    duration = time.monotonic() - began
    assert proc.returncode == 0, err.decode()
    expected = state(clean)
    assert len(expected["documents"]) == RECORDS and expected["claims"] and expected["links"]
    assert expected["watermarks"] == [("pubmed", today)]

    db_path = tmp_path / "crash" / "e.db"
    db_path.parent.mkdir()
    killed = 0
    for n in KILL_AFTER_EFETCH:
        base = server.stats["efetch"]
        proc = start(config, db_path, env)
        if kill_when(proc, lambda: server.stats["efetch"] - base >= n):
            killed += 1
            # Killed before the fetch finished (n < all batches): the watermark must not have moved.
            if n < RECORDS // BATCH:
                assert watermark(db_path) == [], f"watermark moved by a run killed after {n} batches"
    # Killed once the watermark is written: during catch-up extraction, seed linking or the summary.
    proc = start(config, db_path, env)
    if kill_when(proc, lambda: bool(watermark(db_path))):
        killed += 1
        assert watermark(db_path) == [(today,)]
    for fraction in KILL_AT_FRACTIONS:
        if watermark(db_path):
            # A run after a complete fetch fetches nothing new; drop the watermark so the next
            # kill lands in a full fetch again (records already stored must still not duplicate).
            with sqlite3.connect(db_path) as conn:
                conn.execute("delete from watermarks")
        proc = start(config, db_path, env)
        began = time.monotonic()
        killed += kill_when(proc, lambda: time.monotonic() - began >= fraction * duration)
    assert killed >= 5, "most runs should have been killed mid-way"

    # One more run, nobody kills it: the database ends as if nothing had happened.
    proc = start(config, db_path, env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    got = state(db_path)
    assert len(got["documents"]) == RECORDS
    assert len({pmid for _, pmid, _, _ in got["documents"]}) == RECORDS  # distinct PMIDs
    assert got == expected
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select count(*) from runs where status = 'running'").fetchone() == (0,)
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        # Killed runs' counts are taken from what they stored: the runs' books add up to the tables.
        books = conn.execute("select sum(documents_new), sum(claims_new) from runs where parent_run is null").fetchone()
        assert books == (RECORDS, len(got["claims"]))
