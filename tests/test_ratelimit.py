"""The rate limit holds across threads and across processes sharing one slot file."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from evidex.ratelimit import RateLimiter, default_rate


def _gaps(times: list[float]) -> list[float]:
    times = sorted(times)
    return [b - a for a, b in zip(times, times[1:])]


def test_default_rates(monkeypatch):
    monkeypatch.delenv("EVIDEX_RATE_LIMIT", raising=False)
    assert (default_rate(), default_rate(keyed=True)) == (3.0, 10.0)
    monkeypatch.setenv("EVIDEX_RATE_LIMIT", "7.5")
    assert default_rate(keyed=True) == 7.5


def test_threads_are_spaced(tmp_path):
    limiter = RateLimiter("t", 50, tmp_path)
    slots: list[float] = []
    lock = threading.Lock()

    def work():
        for _ in range(5):
            slot = limiter.reserve()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(slots) == 20
    assert min(_gaps(slots)) >= 0.02 - 1e-6  # booked slots: never two within 1/rate
    started = time.monotonic()
    for _ in range(5):
        limiter.wait()
    assert time.monotonic() - started >= 0.02 * 4  # wait() sleeps until its slot (the 20 booked first)


def _reserve(directory: str, n: int, queue) -> None:
    limiter = RateLimiter("p", 40, directory)
    queue.put([limiter.reserve() for _ in range(n)])


def test_processes_share_the_slots(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_reserve, args=(str(tmp_path), 10, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    slots = [s for _ in procs for s in queue.get(timeout=30)]
    for p in procs:
        p.join()
    gaps = _gaps(slots)
    assert len(slots) == 30 and min(gaps) >= 1 / 40 - 1e-6


def test_a_slot_far_in_the_future_is_reset(tmp_path):
    limiter = RateLimiter("skew", 10, tmp_path)
    limiter.file.write_text(str(time.time() + 3600))
    assert limiter.reserve() <= time.time() + 0.01


def test_rate_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        RateLimiter("x", 0, tmp_path)


def test_unwritable_directory_falls_back_to_a_shared_temp_dir(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    limiter = RateLimiter("fallback", 10, blocked / "sub")
    assert limiter.file.exists() and limiter.path.name.startswith("evidex-rate-")
