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
