"""One run at a time per database: an OS-level lock on a `<db>.lock` file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from .errors import LockedError, UsageError


# Lock fds this process holds. A forked child (an extraction worker) inherits them; it closes
# its copies at once, so a child that outlives this process cannot keep the lock alive.
_held: set[int] = set()
_held_paths: dict[int, Path] = {}  # fd -> the lock file it holds


def holds(db_path: str | os.PathLike) -> bool:
    "Does this process hold the run lock of db_path?"
    return lock_path(db_path) in _held_paths.values()


def _close_inherited() -> None:
    for fd in _held:
        try:
            os.close(fd)  # the child's copy only: the parent's flock stays
        except OSError:
            pass
    _held.clear()
    _held_paths.clear()


os.register_at_fork(after_in_child=_close_inherited)


def lock_path(db_path: str | os.PathLike) -> Path:
    "The lock file that guards db_path, beside the file it names once symlinks are resolved."
    # Two paths to one database (a symlink, "./e.db" and "e.db") must take the same lock.
    return Path(f"{os.path.realpath(os.fspath(db_path))}.lock")


class RunLock:
    """An exclusive flock on `<db>.lock`, held for the life of a run.

    The kernel drops a flock when its process dies, however it dies (SIGKILL included), so a
    crash never leaves a stale lock behind and no PID-file cleanup logic is needed. The file stays
    after a run; a command that stored nothing may remove the file it created (release(discard=True)),
    which is safe because a process that locked a removed file notices and locks the new one.
    """

    def __init__(self, db_path: str | os.PathLike) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(db_path)
        self.fd: int | None = None
        self.created = False  # this process created the lock file

    def acquire(self) -> None:
        "Take the lock or raise LockedError at once (never wait: schedulers want a fast answer)."
        for _ in range(100):
            fd, created = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                raise LockedError(f"{holder}; this run did nothing (lock file {self.path})") from None
            if self._still_named(fd):
                break
            # The holder removed the file between our open and our flock (it stored nothing, and
            # left the directory as it found it): this inode locks nothing any more, try again.
            os.close(fd)
        else:
            raise LockedError(f"the lock file {self.path} keeps being removed and created; this run did nothing")
        # The PID is only for the message above; the flock itself is what counts.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd, self.created = fd, created
        _held.add(fd)
        _held_paths[fd] = self.path

    def _holder(self, fd: int) -> str:
        "Who holds the lock, naming only a pid known to hold it (or, where that cannot be known, running)."
        recorded = _read_pid(fd)  # the last evidex run to take the lock, which may be long gone
        lockers = _lockers(fd)
        if recorded and (int(recorded) in lockers if lockers else running(int(recorded))):
            return f"another evidex run (pid {recorded}) holds the lock on {self.db_path}"
        # Not the run the file names (an evidex run writes its pid as soon as it holds the lock):
        # a program that took the flock itself, or the file names a run long gone.
        dead = " is not running" if recorded and not running(int(recorded)) else " does not hold it"
        if lockers:
            who = ", ".join(f"{pid}{_command(pid)}" for pid in sorted(lockers))
            return (f"process {who} holds the lock on {self.db_path}"
                    + (f" (the evidex run the lock file names, pid {recorded},{dead})" if recorded else ""))
        return (f"another process holds the lock on {self.db_path} ("
                + (f"the lock file's pid {recorded}{dead}" if recorded else "the lock file names no pid")
                + f"; `fuser -v {self.path}` names the holder, and the lock is freed when it exits)")

    def _open(self) -> tuple[int, bool]:
        "An fd on the lock file, and whether this call created it."
        while True:
            try:
                # os.open fds are non-inheritable (closed at exec); forked children close theirs (above).
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
            except FileExistsError:
                pass
            except OSError as ex:
                raise UsageError(f"cannot create lock file {self.path}: {ex.strerror or ex}") from None
            try:
                return os.open(self.path, os.O_RDWR), False
            except FileNotFoundError:
                continue  # removed since: create it
            except OSError as ex:
                raise UsageError(f"cannot open lock file {self.path}: {ex.strerror or ex}") from None

    def _still_named(self, fd: int) -> bool:
        "Is the locked file still the one the lock path names?"
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)

    def release(self, discard: bool = False) -> None:
        "Drop the lock; the file stays unless discard, which removes it first, still locked."
        # Removed while still locked, so no other process can hold the file meanwhile.
        if self.fd is not None:
            if discard:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass  # left as it is: harmless, a run leaves it too
            _held.discard(self.fd)
            _held_paths.pop(self.fd, None)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


# Where Linux lists every lock held and by which pid; elsewhere the lock file's pid is all there is.
PROC_LOCKS = Path("/proc/locks")


def _lockers(fd: int) -> set[int]:
    "The pids /proc/locks says hold a flock on fd's file; empty where it cannot say."
    try:
        text = PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in text.splitlines():
        fields = line.split()  # "1: FLOCK ADVISORY WRITE 2176 fe:00:3023009 0 EOF"; "1: -> FLOCK ..." waits
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key and fields[4].isdigit():
            pids.add(int(fields[4]))
    pids.discard(0)  # a holder in another pid namespace
    return pids


def running(pid: int | None) -> bool:
    "Is a process with this pid running (any user's)?"
    if not pid or pid <= 0:  # kill(0, ...) would ask about this process group, not a pid
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, OverflowError):  # ProcessLookupError: none; a pid too large for the kernel
        return False
    return True


def _command(pid: int) -> str:
    "' (NAME)' for a pid's command name where /proc has it, else ''."
    try:
        return f" ({Path(f'/proc/{pid}/comm').read_text(errors='replace').strip()})"
    except OSError:
        return ""
