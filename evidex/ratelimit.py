"""A request-rate limit shared by every thread and process on one machine (a slot file + flock)."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_RATE = 3.0  # NCBI: 3 requests/s without an API key
KEYED_RATE = 10.0  # NCBI: 10 requests/s with one


def rate_dir() -> Path:
    "Where the slot files live: EVIDEX_RATE_DIR, else ~/.cache/evidex."
    override = os.environ.get("EVIDEX_RATE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "evidex"


def default_rate(keyed: bool = False) -> float:
    "EVIDEX_RATE_LIMIT if set, else NCBI's limit with or without an API key."
    from .http import env_float  # the one reader of numeric settings: bad values are one line

    return env_float("EVIDEX_RATE_LIMIT", KEYED_RATE if keyed else DEFAULT_RATE)


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart, whoever sends them.

    The next free send time lives in a small file; a process takes it under an exclusive
    flock, books the slot after it and sleeps until its own slot. Strict spacing (no burst)
    keeps any one-second window at the limit, however many processes share the file.
    """

    _thread_locks: dict[str, threading.Lock] = {}

    def __init__(self, name: str, rate: float, directory: str | os.PathLike | None = None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.path = Path(directory) if directory else rate_dir()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / f"{name}.rate").touch(exist_ok=True)
        except OSError:
            # An unwritable home (a locked-down CI box): every process of this user still
            # shares the one fallback directory, so the limit still holds across them.
            self.path = Path(tempfile.gettempdir()) / f"evidex-rate-{os.getuid()}"
            self.path.mkdir(parents=True, exist_ok=True)
        self.file = self.path / f"{name}.rate"
        self.file.touch(exist_ok=True)
        # flock is per open file; a thread lock as well keeps threads from spinning on it.
        self._lock = self._thread_locks.setdefault(str(self.file), threading.Lock())

    def reserve(self) -> float:
        "Book the next free slot and return its time (time.time() clock)."
        with self._lock, open(self.file, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                text = f.read().strip()
                now = time.time()
                booked = float(text) if text else 0.0
                # A slot far in the future means the clock went back or a bad file: start over.
                if booked > now + 60:
                    booked = 0.0
                slot = max(now, booked)
                f.seek(0)
                f.write(f"{slot + self.interval:.6f}")
                f.truncate()
                f.flush()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return slot

    def wait(self) -> None:
        "Block until this caller may send one request."
        delay = self.reserve() - time.time()
        if delay > 0:
            time.sleep(delay)
