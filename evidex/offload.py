"""One child Python process that runs CPU-bound calls (response parsing) beside the fetching process."""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from typing import IO, Any, TypeVar

log = logging.getLogger("evidex")
T = TypeVar("T")
_HEADER = 8  # bytes of little-endian length before each pickled message


OFF, ON = ("0", "false", "no", "off"), ("", "1", "true", "yes", "on")


def enabled() -> bool:
    "Whether sources parse in a child process (EVIDEX_PARSE_PROCESS=0 turns it off)."
    return os.environ.get("EVIDEX_PARSE_PROCESS", "1").strip().lower() not in OFF


def check_setting() -> None:
    "A value of EVIDEX_PARSE_PROCESS that is neither on nor off is a config error, not silently 'on'."
    from .errors import ConfigError

    value = os.environ.get("EVIDEX_PARSE_PROCESS", "1").strip().lower()
    if value not in OFF + ON:
        raise ConfigError(f"EVIDEX_PARSE_PROCESS must be 0 or 1 (or off/on), not {value!r}")


class Offload:
    """Call module-level functions in one long-lived child process, one call at a time.

    Parsing a 200-record efetch body holds the GIL for about 50 ms; in the fetching process it
    competes with storing the previous batch, in a child it runs on another core. Arguments,
    results and exceptions travel pickled over the child's stdin and stdout. If the child cannot
    start or dies, the call runs here instead: slower, never lost.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._broken = False
        self._finalizer: weakref.finalize | None = None

    def call(self, func: Callable[..., T], *args: Any) -> T:
        "func(*args) in the child; the child's exception is raised here as if the call were local."
        with self._lock:
            proc = self._start()
            if proc is None:
                return func(*args)
            request = pickle.dumps((func.__module__, func.__qualname__, args), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                _send(proc.stdin, request)  # type: ignore[arg-type]
                ok, value = pickle.loads(_receive(proc.stdout))  # type: ignore[arg-type]
            except (OSError, EOFError, pickle.UnpicklingError) as ex:
                self._give_up(f"parser process failed ({type(ex).__name__}: {ex})")
                return func(*args)
        if ok:
            return value
        raise value

    def close(self) -> None:
        "Stop the child (it also stops by itself when this process exits)."
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None

    def _start(self) -> subprocess.Popen | None:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._broken:
            return None
        if self._proc is not None:
            self._give_up(f"parser process exited with code {self._proc.returncode}")
            return None
        env = dict(os.environ)
        # The child imports the same modules this process has on its path (tests, editable installs).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "evidex.offload"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=env, close_fds=True)
        except OSError as ex:
            self._give_up(f"cannot start a parser process ({ex})")
            return None
        self._finalizer = weakref.finalize(self, _stop, self._proc)
        return self._proc

    def _give_up(self, why: str) -> None:
        log.warning("%s; parsing in this process from now on", why)
        self._broken = True
        if self._finalizer is not None:
            self._finalizer()


def _stop(proc: subprocess.Popen) -> None:
    "Close the child's stdin (its loop ends on EOF) and reap it."
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(len(payload).to_bytes(_HEADER, "little"))
    stream.write(payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    size = int.from_bytes(_read_exactly(stream, _HEADER), "little")
    return _read_exactly(stream, size)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError(f"parser process sent {len(data or b'')} of {size} bytes")
    return data


def _answer(module: str, name: str, args: tuple) -> bytes:
    "The pickled (ok, result or exception) of one call."
    try:
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        reply: tuple[bool, Any] = (True, target(*args))
    except Exception as ex:
        reply = (False, ex)
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as ex:  # an unpicklable result or exception still gets an answer
        return pickle.dumps((False, RuntimeError(f"{module}.{name}: {type(ex).__name__}: {ex}")))


def main() -> None:
    "The child's loop: read a call, answer it, until stdin closes."
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the replies
    try:
        while True:
            try:
                module, name, args = pickle.loads(_receive(requests))
            except EOFError:
                return
            _send(replies, _answer(module, name, args))
    except (KeyboardInterrupt, BrokenPipeError):
        return  # Ctrl-C reaches the whole process group; the parent reports it


if __name__ == "__main__":
    main()
