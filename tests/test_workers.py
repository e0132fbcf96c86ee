"""Extraction in worker processes: the same claims as in one process, failures as clear, nothing left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin_support import extractor_plugin

from evidex.cli import cli
from evidex.files import read_jsonl
from evidex.lock import RunLock
from evidex.pipeline import extract
from evidex.models import Claim, Extractor
from evidex.workers import Workers

LINUX = sys.platform.startswith("linux")

# Dies (as a killed or out-of-memory worker would) on any document that names the marker word.
DYING_PLUGIN = extractor_plugin("dies", '        if "zebrafish" in doc.text:\n            os._exit(7)', "import os")
RAISING_PLUGIN = extractor_plugin(
    "boom", '        if "tumour" in doc.text or "tumor" in doc.text:\n            raise RuntimeError("boom on " + document.id)')


def plugin_dir(tmp_path: Path, name: str, body: str) -> Path:
    directory = tmp_path / f"plugins-{name}"
    directory.mkdir()
    (directory / f"{name}.py").write_text(body)
    return directory


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env={"EVIDEX_WORKERS": None, **(env or {})})


def table(db_path: Path, name: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(f"select * from {name} order by 1").fetchall()


def contents(db_path: Path) -> str:
    "A hash of every row of every table (the file's bytes move when SQLite checkpoints its WAL)."
    with sqlite3.connect(db_path) as conn:
        names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")]
        rows = [(name, conn.execute(f'select * from "{name}"').fetchall()) for name in names]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_offline_extract_writes_the_same_file_with_two_workers(eval_docs, tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"claims-{workers}.jsonl"
        result = invoke("extract", "--input", str(eval_docs), "--output", str(out), "--workers", workers)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    lines = outputs[0].decode().splitlines()
    assert sum(1 for line in lines if '"type": "mention"' not in line) > 900
    assert outputs[1] == outputs[0]  # same claims, same order, byte for byte


def test_ingest_and_re_extract_store_the_same_rows_with_workers(eval_docs, tmp_path):
    serial, parallel = tmp_path / "serial.db", tmp_path / "parallel.db"
    assert invoke("ingest", "--db", str(serial), str(eval_docs)).exit_code == 0
    result = invoke("ingest", "--db", str(parallel), str(eval_docs), env={"EVIDEX_WORKERS": "2"})
    assert result.exit_code == 0, result.output
    for name in ("documents", "claims", "mentions"):
        assert table(parallel, name) == table(serial, name), name
    assert len(table(parallel, "claims")) > 900
    # `extract --all` streams the stored documents through the workers, committing every 500.
    result = invoke("extract", "--db", str(parallel), "--all", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "200 documents (0 new, 0 changed), 0 new claims, 0 superseded, 0 errors" in result.output
    # The same claims (last_seen_run now names the extract run).
    assert [r[:-3] for r in table(parallel, "claims")] == [r[:-3] for r in table(serial, "claims")]
    assert {r[-2] for r in table(parallel, "claims")} == {2}


def test_a_plugin_that_raises_in_a_worker_is_recorded_as_in_one_process(fresh, eval_docs, tmp_path):
    plugins = plugin_dir(tmp_path, "boom", RAISING_PLUGIN)
    errors = {}
    for workers in ("1", "2"):
        db = tmp_path / f"w{workers}.db"
        result = invoke("ingest", "--db", str(db), "--plugins-dir", str(plugins), "--workers", workers,
                        str(eval_docs))
        assert result.exit_code == 1
        assert "plugin boom failed on" in result.output
        errors[workers] = [(r[2], r[3], r[4], r[5]) for r in table(db, "run_errors")]  # stage, doc, plugin, error
        # The other plugins' claims are all there, and boom's documents stay due for a retry.
        assert len(table(db, "claims")) > 900
    assert errors["2"] == errors["1"]
    assert len(errors["2"]) > 20 and all(e[2] == "boom" for e in errors["2"])


OPAQUE_PLUGIN = """
from evidex import Claim, Extractor, hookimpl


class Opaque:
    "A value pickle refuses (as a lambda or a lock), with a stable text."

    def __str__(self):
        return "opaque"

    def __reduce__(self):
        raise TypeError("cannot pickle Opaque")


class Plugin(Extractor):
    name = "opaque"
    version = "0.0"

    def extract(self, document, field, doc):
        for sent in doc.sents:
            if "tumour" in sent.text:
                yield Claim(category="opaque", sentence=sent.text, field=field, start=sent.start_char,
                            end=sent.end_char, extra={"value": Opaque(), "kept": [1, "a"]})


@hookimpl
def register_extractors(register):
    register(Plugin())
"""


def test_an_extra_that_cannot_be_pickled_is_stored_as_text_by_workers_too(fresh, eval_docs, tmp_path):
    "One process stores such a value as its text; workers must not fail the whole run on it."
    plugins = plugin_dir(tmp_path, "opaque", OPAQUE_PLUGIN)
    claims = {}
    for workers in ("1", "2"):
        db = tmp_path / f"w{workers}.db"
        result = invoke("ingest", "--db", str(db), "--plugins-dir", str(plugins), "--workers", workers,
                        str(eval_docs))
        assert result.exit_code == 0, result.output
        claims[workers] = table(db, "claims")
    assert claims["2"] == claims["1"]
    extras = [r[0] for r in sqlite3.connect(tmp_path / "w2.db").execute("select extra from claims where plugin = 'opaque'")]
    assert len(extras) > 20 and set(extras) == {'{"value": "opaque", "kept": [1, "a"]}'}


def test_a_worker_that_dies_is_one_line_and_leaves_the_database_as_it_was(fresh, eval_docs, tmp_path):
    db = tmp_path / "evidex.db"
    first = tmp_path / "first.jsonl"
    first.write_text("".join(line for line in eval_docs.read_text().splitlines(keepends=True)
                             if "zebrafish" not in line))
    assert invoke("ingest", "--db", str(db), str(first)).exit_code == 0
    before = contents(db)
    plugins = plugin_dir(tmp_path, "dies", DYING_PLUGIN)
    docs = tmp_path / "more.jsonl"
    docs.write_text("".join(
        json.dumps({"pmid": f"9{i:04d}", "title": "", "abstract": text}) + "\n"
        for i, text in enumerate(["Cancer cells grew."] * 120 + ["A zebrafish model of melanoma."])))
    result = invoke("ingest", "--db", str(db), "--plugins-dir", str(plugins), "--workers", "2", str(docs))
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.count("\n") == 0 and message.startswith("Error: an extraction worker process died")
    assert contents(db) == before  # one transaction for the files: rolled back whole

    # Re-extracting stored documents commits as it goes; the run records why it stopped.
    with sqlite3.connect(db) as conn:
        conn.execute("update documents set abstract = 'A zebrafish study.' where id = "
                     "(select id from documents order by id limit 1 offset 150)")
    result = invoke("extract", "--db", str(db), "--all", "--plugins-dir", str(plugins), "--workers", "2")
    assert result.exit_code == 1 and "worker process died" in result.output
    with sqlite3.connect(db) as conn:
        status, message = conn.execute("select status, message from runs order by id desc limit 1").fetchone()
    assert status == "failed" and "worker process died" in message


def test_documents_in_flight_are_bounded_and_come_back_in_order(nlp_and_extractors, eval_docs):
    nlp, extractors = nlp_and_extractors
    documents = list(read_jsonl(eval_docs))[:120]
    pulled = 0

    def stream():
        nonlocal pulled
        for document in documents:
            pulled += 1
            yield document

    workers = Workers(nlp, extractors, processes=2, batch_size=5)
    try:
        got = []
        for consumed, (document, items) in enumerate(workers.extract(stream(), pytest.fail), start=1):
            # Two batches per worker in flight, plus the one being read.
            assert pulled <= consumed + 2 * 2 * 5 + 5
            got.append((document.id, [i.to_score_line() for i in items if hasattr(i, "to_score_line")]))
    finally:
        workers.close()
    expected = [(d.id, [i.to_score_line() for i in items if hasattr(i, "to_score_line")])
                for d, items in extract(nlp, documents, extractors, pytest.fail)]
    assert got == expected and sum(len(c) for _, c in got) > 300


@pytest.mark.parametrize("args, env, problem", [
    (["--workers", "0"], {}, "0 is not in the range x>=1"),
    ([], {"EVIDEX_WORKERS": "many"}, "(from EVIDEX_WORKERS) 'many' is not a valid integer"),
    ([], {"EVIDEX_WORKERS": "0"}, "(from EVIDEX_WORKERS) 0 is not in the range x>=1"),
])
def test_a_bad_worker_count_is_a_usage_error(eval_docs, tmp_path, args, env, problem):
    result = invoke("extract", "--input", str(eval_docs), "--output", str(tmp_path / "o.jsonl"), *args, env=env)
    assert result.exit_code == 2 and problem in result.output
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").read_text() == ""
    # The scheduled job names the variable too: a unit file's EVIDEX_WORKERS is where to look.
    config = Path(__file__).resolve().parent.parent / "corpora" / "evidex.toml"
    result = invoke("run", "--config", str(config), "--db", str(tmp_path / "e.db"), *args, env=env)
    assert result.exit_code == 2 and problem in result.output and not (tmp_path / "e.db").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _readlink(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed since the listing (a worker's own file): not the lock
        return ""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not LINUX, reason="reads /proc and relies on PR_SET_PDEATHSIG, both Linux only")
def test_workers_hold_no_lock_and_die_with_a_killed_parent(eval_docs, tmp_path):
    db = tmp_path / "evidex.db"
    # Each worker marks its first document: only then are its inherited descriptors surely closed
    # (by the at-fork hook) and is it extracting; a fixed sleep after the fork could, on a loaded
    # machine, look at a worker that has not yet run at all.
    marks = tmp_path / "marks"
    marks.mkdir()
    plugins = plugin_dir(tmp_path, "slow", extractor_plugin(
        "slow", f"        mark = os.path.join({str(marks)!r}, str(os.getpid()))\n"
                "        if not os.path.exists(mark):\n            open(mark, 'a').close()\n"
                "        time.sleep(0.05)", "import os\nimport time"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDEX_")}
    env["EVIDEX_LOAD_PLUGINS"] = ""  # only the slow plugin: 200 documents x 2 fields x 50 ms
    # ingest takes the lock before it forks its workers, so they would inherit the lock's fd.
    parent = subprocess.Popen([sys.executable, "-m", "evidex", "ingest", "--db", str(db), "--workers", "2",
                               "--plugins-dir", str(plugins), str(eval_docs)],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            workers = _children(parent.pid)
            if sum((marks / str(pid)).exists() for pid in workers) >= 2:
                break
            assert parent.poll() is None and time.monotonic() < deadline, parent.stderr.read().decode()
            time.sleep(0.05)
        lock_file = str(db) + ".lock"
        for pid in workers:
            held = [_readlink(fd) for fd in (Path("/proc") / str(pid) / "fd").iterdir()]
            assert lock_file not in held, f"worker {pid} holds the lock file"
        with pytest.raises(Exception, match="holds the lock"):
            RunLock(db).acquire()
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 30  # the kernel kills them at once: this only bounds a hang
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their killed parent"
            time.sleep(0.05)
        lock = RunLock(db)
        lock.acquire()  # the kill left no stale lock behind
        lock.release()
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stderr.close()


def test_a_worker_killed_from_outside_while_results_are_stored_is_a_worker_error(nlp_and_extractors, eval_docs):
    "kill -9 or the OOM killer strikes while the parent stores: the next submit says so, as a result() would."
    from evidex.errors import EvidexError

    nlp, extractors = nlp_and_extractors
    workers = Workers(nlp, extractors, 2, batch_size=5)
    try:
        victim = next(iter(workers._pool._processes.values()))
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not workers._pool._broken and time.monotonic() < deadline:
            time.sleep(0.05)
        documents = list(read_jsonl(eval_docs))[:20]
        with pytest.raises(EvidexError, match="an extraction worker process died"):
            for _ in workers.extract(documents, lambda error: None):
                pass
    finally:
        workers.close()


def test_an_interrupted_extract_counts_what_it_committed_not_what_was_rolled_back(tmp_path):
    "SIGTERM in the second 500-document chunk: the run row says 500 documents and their claims, as stored."
    plugins = plugin_dir(tmp_path, "stall", extractor_plugin(
        "stall", "        if document.id == 'd0650':\n            time.sleep(120)\n"
                 "        return [Claim(category='x', sentence=doc.text, field=field, start=0, end=len(doc.text))]",
        "import time\nfrom evidex import Claim"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i:04d}", "title": f"Paper {i}."}) + "\n" for i in range(700)))
    db = tmp_path / "e.db"
    assert invoke("ingest", "--db", str(db), "--no-extract", str(docs)).exit_code == 0
    env = {**os.environ, "EVIDEX_PLUGINS_DIR": str(plugins), "EVIDEX_LOAD_PLUGINS": ""}
    env.pop("EVIDEX_WORKERS", None)
    proc = subprocess.Popen([sys.executable, "-m", "evidex", "extract", "--db", str(db)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(db) as conn:
                if conn.execute("select count(*) from claims").fetchone()[0] >= 500:
                    break
            time.sleep(0.1)
        time.sleep(0.5)  # into the stalled second chunk
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130, proc.stderr.read()
    finally:
        proc.kill()
    with sqlite3.connect(db) as conn:
        status, seen, new = conn.execute("select status, documents_seen, claims_new from runs where id = 2").fetchone()
        stored = conn.execute("select count(*) from claims where first_seen_run = 2").fetchone()[0]
        done = conn.execute("select count(*) from documents where extracted_with is not null").fetchone()[0]
    assert status == "interrupted" and (seen, new) == (done, stored) == (500, 500)


class _BigResults(Extractor):
    "Claims large enough that a batch's result takes a while to write into the pipe."

    name = "big"
    version = "0"

    def extract(self, document, field, doc):
        return [Claim(category="x", sentence="y" * 2000, field=field, start=0, end=len(doc.text))
                for _ in range(20000)]


def test_closing_during_a_large_result_never_hangs():
    "Interrupted while a worker writes its result: close() kills the workers and returns (the lock is freed)."
    import threading

    from evidex.models import Document
    from evidex.nlp import make_nlp

    nlp = make_nlp([])
    for _ in range(3):  # the kill lands mid-write most times; without the fix most tries hang
        workers = Workers(nlp, [_BigResults()], 2, batch_size=1)
        stream = workers.extract([Document(id=f"d{i}", title="A title.") for i in range(4)], lambda error: None)
        next(stream)
        time.sleep(0.05)
        closed = threading.Event()
        threading.Thread(target=lambda: (workers.close(), closed.set()), daemon=True).start()
        assert closed.wait(30), "Workers.close() hung on a half-written result"
