"""Extraction spread over forked worker processes: results in input order, memory bounded."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import TYPE_CHECKING

from .errors import EvidexError, UsageError
from .models import Claim, Document, Extractor, Mention, plain_json
from .pipeline import ExtractionError, extract

if TYPE_CHECKING:
    from spacy.language import Language

# What a forked worker extracts with. Set in the parent before the fork, so the pipeline and
# the plugins (including one-off files from --plugins-dir) are inherited, never pickled.
_inherited: tuple[Language, list[Extractor]] | None = None

Found = list[Claim | Mention]


class WorkerError(EvidexError):
    "A worker process died (killed, out of memory); the batch in hand is not stored."


def can_fork() -> bool:
    "Whether this platform can fork (the workers inherit the loaded plugins; spawning could not)."
    return "fork" in multiprocessing.get_all_start_methods()


def _start_worker(parent: int) -> None:
    "In a new worker: leave Ctrl-C to the parent, drop its inherited SIGTERM handler, die with it."
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        # A worker blocks reading its task queue, whose write end its siblings also hold: if the
        # parent is killed, nothing would ever wake it. PR_SET_PDEATHSIG (1) has the kernel end it.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _extract_batch(batch: list[Document]) -> bytes:
    "In a worker: what each document of the batch gave, in order, and the extractors' failures, pickled."
    assert _inherited is not None, "worker started without an inherited pipeline"
    nlp, extractors = _inherited
    errors: list[ExtractionError] = []
    found = [items for _, items in extract(nlp, batch, extractors, errors.append)]
    # Pickled here, not by the pool: a plugin's extra may hold what pickle refuses (a lambda, a
    # lock), which one process stores as text; the pool would fail the whole run on it.
    try:
        return pickle.dumps((found, errors), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        for items in found:
            for item in items:
                if isinstance(item, Claim) and item.extra:
                    # As stored: json.dumps with plain_json, which turns such a value into its text.
                    item.extra = json.loads(json.dumps(item.extra, ensure_ascii=False, default=plain_json))
        return pickle.dumps((found, errors), protocol=pickle.HIGHEST_PROTOCOL)


class Workers:
    """A pool of forked processes that run every extractor over batches of documents.

    Parsing and the extractors' Python hold the GIL, so a second core helps only from another
    process. The parent keeps reading input and storing results; at most two batches per
    worker are in flight, so memory stays flat however long the stream.
    """

    def __init__(self, nlp: Language, extractors: list[Extractor], processes: int, batch_size: int = 50):
        global _inherited
        if not can_fork():
            raise UsageError("more than one worker process needs a platform that can fork (Linux, macOS)")
        self.processes = processes
        self.batch_size = batch_size
        self._outstanding: set[Future] = set()
        _inherited = (nlp, extractors)
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_start_worker, initargs=(os.getpid(),))
        # Fork now, while this process has no other threads (fetching starts some later).
        self._pool.submit(int).result()

    def extract(self, documents: Iterable[Document],
                on_error: Callable[[ExtractionError], None]) -> Iterator[tuple[Document, Found]]:
        "Stream (document, claims and mentions) in input order, like pipeline.extract."
        pending: deque[tuple[list[Document], Future]] = deque()
        stream = iter(documents)
        try:
            while batch := list(islice(stream, self.batch_size)):
                try:
                    future = self._pool.submit(_extract_batch, batch)
                except BrokenProcessPool:
                    # A worker died (kill -9, the OOM killer) while this process was storing results.
                    raise WorkerError(f"an extraction worker process died (before the batch starting at "
                                      f"document {batch[0].id}); what was not yet committed was rolled "
                                      "back, and the next run extracts it") from None
                self._outstanding.add(future)
                future.add_done_callback(self._outstanding.discard)
                pending.append((batch, future))
                if len(pending) >= 2 * self.processes:
                    yield from self._collect(*pending.popleft(), on_error)
            while pending:
                yield from self._collect(*pending.popleft(), on_error)
        finally:
            for _, future in pending:  # the consumer stopped early or failed: drop what has not started
                future.cancel()

    @staticmethod
    def _collect(batch: list[Document], future: Future,
                 on_error: Callable[[ExtractionError], None]) -> Iterator[tuple[Document, Found]]:
        try:
            found, errors = pickle.loads(future.result())
        except BrokenProcessPool:
            raise WorkerError(f"an extraction worker process died (batch starting at document "
                              f"{batch[0].id}); what was not yet committed was rolled back, and the next "
                              "run extracts it") from None
        # Failures first, as in-process extraction reports them before the document is yielded.
        for error in errors:
            on_error(error)
        yield from zip(batch, found)

    def close(self) -> None:
        "Stop the workers: idle ones exit at once; a batch still in hand (the run was interrupted) is not waited for."
        if any(not future.done() for future in list(self._outstanding)):
            # concurrent.futures has no public way to stop a running call; without this a slow
            # plugin would hold an interrupted run up for a whole batch.
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            for process in processes:
                process.kill()
            for process in processes:
                process.join(timeout=10)
            # A worker killed while writing a batch's result leaves half a message in the result
            # pipe, and the executor's manager thread waits for the rest forever (this process
            # holds the pipe's other end), and shutdown() with it, holding the run's lock. With that
            # end closed the thread reads EOF, takes the pool as broken and stops.
            writer = getattr(getattr(self._pool, "_result_queue", None), "_writer", None)
            if writer is not None:
                writer.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
