"""One run at a time per database: a flock on <db>.lock, released when its process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from evidex.errors import LockedError, UsageError
from evidex.lock import RunLock, lock_path

HOLD = """
import sys, time
from evidex.lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def hold_lock(db_path):
    "A child process that takes the lock and sleeps; returns once it holds it."
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_lock_fails_at_once_naming_the_holder(tmp_path):
    db_path = tmp_path / "e.db"
    proc = hold_lock(db_path)
    try:
        start = time.monotonic()
        with pytest.raises(LockedError) as info:
            RunLock(db_path).acquire()
        assert time.monotonic() - start < 1
        message = str(info.value)
        assert f"pid {proc.pid}" in message and str(db_path) in message
        assert "\n" not in message
        assert LockedError.exit_code == 3
    finally:
        proc.kill()
        proc.wait()


def test_sigkill_leaves_no_stale_lock(tmp_path):
    db_path = tmp_path / "e.db"
    proc = hold_lock(db_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_path(db_path).exists()  # the file stays; only the flock mattered
    with RunLock(db_path) as lock:
        assert lock.fd is not None
        assert lock_path(db_path).read_text().strip() == str(os.getpid())


def test_lock_is_reentrant_after_release_in_one_process(tmp_path):
    db_path = tmp_path / "e.db"
    with RunLock(db_path):
        with pytest.raises(LockedError):
            RunLock(db_path).acquire()  # a second open file description conflicts, even in-process
    with RunLock(db_path):
        pass


def test_lock_in_unwritable_place_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError) as info:
        RunLock(tmp_path / "missing" / "e.db").acquire()
    assert "cannot create lock file" in str(info.value)


def test_lock_fd_is_not_inherited_by_children(tmp_path):
    "A child spawned during a run must not keep the lock alive after its parent dies."
    db_path = tmp_path / "e.db"
    with RunLock(db_path) as lock:
        assert not os.get_inheritable(lock.fd)


def test_a_symlink_to_the_database_takes_the_same_lock(tmp_path, monkeypatch):
    "evidex run --db e.db and evidex ingest --db link.db (a symlink to it) must not write at once."
    db_path = tmp_path / "e.db"
    db_path.touch()
    (tmp_path / "link.db").symlink_to(db_path)
    (tmp_path / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    proc = hold_lock(db_path)
    try:
        for other in (tmp_path / "link.db", tmp_path / "dir-link" / "e.db", "e.db", "./link.db"):
            assert lock_path(other) == lock_path(db_path)
            with pytest.raises(LockedError):
                RunLock(other).acquire()
    finally:
        proc.kill()
        proc.wait()


def test_a_run_left_running_under_a_reused_pid_is_closed_as_interrupted(tmp_path):
    "PID 1 in a container, or a pid the kernel gave to another process: the row still gets closed."
    from evidex import db as store

    db = store.open_db(tmp_path / "e.db")
    with db.atomic():
        for pid in (os.getpid(), os.getppid()):  # both alive: ours (an earlier incarnation), and another's
            db["runs"].insert({"command": "run", "started_at": "2026-01-01", "status": "running", "pid": pid})
    store.start_run(db, "ingest")  # not under the lock: only the row with our own pid can be known dead
    statuses = [tuple(r) for r in db.execute("select pid, status from runs order by id")]
    assert statuses == [(os.getpid(), "interrupted"), (os.getppid(), "running"), (os.getpid(), "running")]
    with RunLock(tmp_path / "e.db"):  # under the lock no other evidex can be writing: the rest is over
        run_id = store.start_run(db, "ingest")
        statuses = dict((r[0], r[1]) for r in db.execute("select id, status from runs"))
    assert statuses == {1: "interrupted", 2: "interrupted", 3: "running", run_id: "running"}


def test_another_program_writing_the_database_is_a_one_line_exit_3(tmp_path):
    "A write transaction held by a program that is no evidex run: one line and exit 3, no traceback, nothing lost."
    import json
    import sqlite3

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"pmid": "1", "title": "IFN-beta reduced tumour growth in mice."}) + "\n")
    second.write_text(json.dumps({"pmid": "2", "title": "IFN-alpha reduced tumour growth in mice."}) + "\n")
    db_path = tmp_path / "e.db"
    env = {**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn"}

    def evidex(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "evidex", *args, "--db", str(db_path)], capture_output=True,
                              text=True, env=env, timeout=120)

    assert evidex("ingest", str(first)).returncode == 0
    before = evidex("runs").stdout
    other = sqlite3.connect(db_path, isolation_level=None, timeout=1)
    other.execute("begin exclusive")
    try:
        for args in (("ingest", str(second)), ("extract",), ("seed", "load")):
            proc = evidex(*args)
            assert proc.returncode == 3, (args, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: the database is locked by another program"), lines
    finally:
        other.execute("rollback")
        other.close()
    assert evidex("runs").stdout == before
    db = sqlite3.connect(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert db.execute("select id from documents").fetchall() == [("1",)]


def test_a_lock_file_removed_between_open_and_flock_is_not_taken(tmp_path, monkeypatch):
    """A holder that stored nothing removes the lock file it created (release(discard=True)).

    A process that opened the old file just before must not lock that orphan inode while a third
    creates and locks a new file: it notices and locks the file the path names.
    """
    db_path = tmp_path / "e.db"
    holder = RunLock(db_path)
    holder.acquire()
    assert holder.created
    waiter = RunLock(db_path)
    opened = []
    real_open = waiter._open

    def open_then_the_holder_ends():
        fd, created = real_open()
        if not opened:
            holder.release(discard=True)  # between our open and our flock
        opened.append(created)
        return fd, created

    monkeypatch.setattr(waiter, "_open", open_then_the_holder_ends)
    waiter.acquire()
    assert opened == [False, True] and waiter.created
    with pytest.raises(LockedError):
        RunLock(db_path).acquire()  # the file the path names now is the one held
    waiter.release()
    assert lock_path(db_path).exists()  # a plain release keeps the file


def test_release_discard_removes_only_while_held(tmp_path):
    db_path = tmp_path / "e.db"
    lock = RunLock(db_path)
    lock.acquire()
    lock.release(discard=True)
    assert not lock_path(db_path).exists()
    lock.release(discard=True)  # not held: nothing to do
    with RunLock(db_path) as again:
        assert again.created


FLOCK_ONLY = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def foreign_holder(db_path):
    "A program that is not evidex flocks the lock file, which names an evidex run that has exited: (holder, dead pid)."
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock_path(db_path).write_text(f"{gone.pid}\n")
    proc = subprocess.Popen([sys.executable, "-c", FLOCK_ONLY, str(lock_path(db_path))], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc, gone.pid


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="the kernel's lock list is Linux's /proc/locks")
def test_a_lock_another_program_holds_names_that_program_not_the_exited_run_the_file_records(tmp_path):
    db_path = tmp_path / "e.db"
    proc, gone = foreign_holder(db_path)
    try:
        with pytest.raises(LockedError) as info:
            RunLock(db_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    message = str(info.value)
    assert message.startswith(f"process {proc.pid} (python") and "\n" not in message, message
    assert f"the evidex run the lock file names, pid {gone}, is not running" in message
    assert "another evidex run" not in message


def test_without_the_kernels_lock_list_an_exited_runs_pid_is_not_named_as_the_holder(tmp_path, monkeypatch):
    "Where no /proc/locks says who holds it (macOS), a recorded pid that is not running is said to be so."
    from evidex import lock

    monkeypatch.setattr(lock, "PROC_LOCKS", tmp_path / "no-such-file", raising=False)  # raising: main has none
    db_path = tmp_path / "e.db"
    proc, gone = foreign_holder(db_path)
    try:
        with pytest.raises(LockedError) as info:
            RunLock(db_path).acquire()
        holder = hold_lock(tmp_path / "f.db")  # an evidex run, running: named as before
        try:
            with pytest.raises(LockedError, match=f"^another evidex run \\(pid {holder.pid}\\) holds the lock"):
                RunLock(tmp_path / "f.db").acquire()
        finally:
            holder.kill()
            holder.wait()
    finally:
        proc.kill()
        proc.wait()
    message = str(info.value)
    assert message.startswith(f"another process holds the lock on {db_path} (the lock file's pid {gone} is not "
                              f"running; `fuser -v {lock_path(db_path)}` names the holder"), message
    assert "evidex run" not in message and "\n" not in message


@pytest.mark.parametrize("text", ["0", "99999999999999999999"])
def test_a_lock_file_naming_no_possible_pid_is_not_named_as_a_running_holder(tmp_path, monkeypatch, text):
    "pid 0 would ask about this process group, a huge one overflows the kernel's: neither is a running holder."
    from evidex import lock

    monkeypatch.setattr(lock, "PROC_LOCKS", tmp_path / "no-such-file", raising=False)
    db_path = tmp_path / "e.db"
    proc, _ = foreign_holder(db_path)
    try:
        lock_path(db_path).write_text(f"{text}\n")
        with pytest.raises(LockedError) as info:
            RunLock(db_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    assert str(info.value).startswith(f"another process holds the lock on {db_path} (the lock file's pid {text} is "
                                      "not running;"), str(info.value)
