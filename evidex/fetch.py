"""Fetch a query from a source into the database: a ledger row per window, a transaction per batch."""

from __future__ import annotations

import copy
import datetime
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlite_utils import Database

from . import db as store
from .errors import EvidexError, IncompleteFetch, SourceError, UsageError
from .http import public_url
from .ingest import Counts, Extraction, store_records
from .models import Deletion, Document
from .sources import ApiSource, Batch, Window

T = TypeVar("T")

# How many failed ids a ledger row lists; the count is always complete.
MAX_LISTED_IDS = 100


@dataclass
class FetchResult:
    "What a fetch run did, for the CLI's summary."

    run_id: int
    status: str  # ok | errors | failed | limited
    expected: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    windows: int = 0
    watermark: str | None = None
    message: str | None = None
    counts: Counts = field(default_factory=Counts)


@dataclass
class LedgerRow:
    "Running totals of one window, written to the ledger table after every batch."

    expected: int
    fetched: int = 0
    parsed: int = 0
    stored: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failed_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)

    def add(self, batch: Batch, stored: int) -> None:
        self.fetched += batch.fetched
        self.parsed += sum(isinstance(r, Document) for r in batch.records)  # a withdrawal is counted as skipped
        self.stored += stored
        for reason, n in batch.skipped.items():
            self.skipped += n
            self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + n
        self.failed += batch.failed
        self.failed_ids += batch.failed_ids
        self.notes += batch.notes
        self.responses += batch.responses

    def balanced(self) -> bool:
        # >= rather than ==: a live index may gain records while we page; none are lost then.
        return self.failed == 0 and self.stored + self.skipped >= self.expected

    def row(self, status: str) -> dict[str, Any]:
        detail = {"notes": self.notes, "failed_ids": self.failed_ids[:MAX_LISTED_IDS],
                  "responses": self.responses}
        return {"expected": self.expected, "fetched": self.fetched, "parsed": self.parsed,
                "stored": self.stored, "skipped": self.skipped,
                "skipped_reasons": json.dumps(self.skipped_reasons, sort_keys=True),
                "failed": self.failed, "status": status,
                "detail": json.dumps({k: v for k, v in detail.items() if v})}


def latest_today() -> datetime.date:
    "Today's date here or in UTC, whichever is later: both name a day that has begun somewhere."
    # East of UTC early in the day, the local date is a day ahead of UTC's; west of it late in
    # the day, UTC's is ahead. Either is a day whose records may exist, so neither is "future"
    # (a watermark a day ahead costs nothing: the next fetch starts a day before it).
    return max(datetime.date.today(), datetime.datetime.now(datetime.timezone.utc).date())


def watermark(db: Database, source: str, query: str) -> datetime.date | None:
    "The last entry date up to which (source, query) was fetched completely, if any."
    row = db.execute("select last_complete from watermarks where source = ? and query = ?",
                     [source, query]).fetchone()
    return datetime.date.fromisoformat(row[0]) if row and row[0] else None


def start_date(db: Database, source: str, query: str, since: datetime.date | None,
               everything: bool) -> datetime.date | None:
    "Where a run starts: --all (None), --since, else the watermark less a day, else None."
    if everything:
        return None
    if since:
        return since
    mark = watermark(db, source, query)
    # One day of overlap: records keep arriving with the watermark's own entry date (and the
    # API's day is not ours); saving them again is harmless, missing them is not.
    return mark - datetime.timedelta(days=1) if mark else None


def fetch_query(
    db: Database,
    source: ApiSource,
    query: str,
    *,
    since: datetime.date | None = None,
    everything: bool = False,
    limit: int | None = None,
    batch_size: int = 200,
    extraction: Extraction | None = None,
    progress: Callable[[int, int], None] | None = None,
    options: dict[str, Any] | None = None,
    parent_run: int | None = None,
    today: datetime.date | None = None,
) -> FetchResult:
    """Fetch query from source into db and keep the run's ledger; raise SourceError on failure.

    The watermark moves to today only when every window's ledger balances.
    """
    end = today or latest_today()
    start = start_date(db, source.name, query, since, everything)
    if start is None and today is not None and options and options.get("until"):
        # Without a start the services are asked for everything, with no date at all: an end
        # alone would be recorded but not applied.
        raise UsageError("--until needs a start: give --since (or fetch the query once without --until)")
    if start is not None and start > end:
        # e.g. --until before the query's watermark: an empty window would pass for a complete fetch.
        raise UsageError(f"the date window starts after it ends ({start} > {end}); give --since")
    # The URL asked, kept with the run: the receipt must say where the records came from (a
    # config's base_url, an environment override), not where the source would go on a later day.
    url = None if (options or {}).get("offline") else getattr(source, "base_url", None)  # offline asks no one
    if url:
        url = public_url(url, tuple(source.secrets()) if hasattr(source, "secrets") else ())
    run_id = store.start_run(
        db, "ingest", extraction.signature if extraction else {}, source=source.name, query=query,
        pipeline=extraction.pipeline if extraction else None,
        window_start=start.isoformat() if start else None, window_end=end.isoformat(),
        options={**(options or {}), **({"base_url": url} if url else {})}, parent_run=parent_run,
    )
    result = FetchResult(run_id, "ok")
    counts = result.counts
    ledger_id: int | None = None
    ledger: LedgerRow | None = None
    try:
        windows = source.plan(query, start, end)
        total = sum(w.expected for w in windows)
        if progress:
            progress(0, total)
        limited = False
        incomplete = 0
        current: Window | None = None
        # One prefetch over every window: the first request of a window goes out while the
        # last batch of the one before is stored.
        for window, batch in prefetch(_window_batches(source, query, windows, batch_size)):
            if window is not current:
                if current is not None:
                    incomplete += _close_window(db, result, current, ledger_id, ledger, limited)
                current = window
                ledger = LedgerRow(window.expected, notes=list(window.notes))
                ledger_id = _insert_ledger(db, run_id, source.name, query, window, ledger)
            if batch is None:
                continue
            papers = sum(isinstance(r, Document) for r in batch.records)
            if limit is not None and result.stored + papers >= limit:
                # Stopped short only if records remain: a limit of exactly the total fetched everything.
                limited = result.stored + papers > limit or total > limit
                batch.records = _first_papers(batch.records, limit - result.stored)
                if not limited:
                    limit = None
            assert ledger_id is not None and ledger is not None  # a window's first item opened its ledger
            stored = _store_batch(db, run_id, ledger_id, ledger, batch, extraction, counts, source)
            result.stored += stored
            if progress:
                progress(batch.fetched, total)
            if limited:
                break
        if current is not None:
            incomplete += _close_window(db, result, current, ledger_id, ledger, limited)
            ledger_id = None
    except (EvidexError, KeyboardInterrupt) as ex:
        store.drop_broken_transaction(db)  # before anything below writes
        ex.counts = counts  # type: ignore[union-attr]  # what was stored before it stopped, for the run's totals
        interrupted = isinstance(ex, KeyboardInterrupt)
        message = "interrupted" if interrupted else str(ex)
        if ledger_id is None and not db.execute("select 1 from ledger where run_id = ?", [run_id]).fetchone():
            # Failed before any window was planned: one row for the whole span says so.
            ledger = LedgerRow(0)
            ledger_id = _insert_ledger(db, run_id, source.name, query, Window(start, end, 0), ledger)
        _fail(db, run_id, ledger_id, ledger, message, counts, "interrupted" if interrupted else "failed")
        raise
    if limited:
        result.status = "limited"
        result.message = f"stopped at --limit {limit}; watermark not moved"
    elif result.failed or incomplete:
        result.status = "failed"
        result.message = (f"{result.failed} of {result.expected} records could not be fetched"
                          if result.failed else f"{incomplete} window(s) do not balance")
        result.message += "; watermark not moved (a rerun fetches the gap)"
    else:
        result.status = "errors" if counts.errors else "ok"
    # One transaction: a run never ends 'ok' without its watermark, or the other way round.
    with db.atomic():
        mark = watermark(db, source.name, query)
        if result.status in ("ok", "errors") and (mark is None or mark < end):
            # Never backwards: replaying an old window (--until) must not make the next run refetch.
            db.table("watermarks").upsert(
                {"source": source.name, "query": query, "last_complete": end.isoformat(),
                 "run_id": run_id, "updated_at": store.now()},
                pk=("source", "query"),
            )
            result.watermark = end.isoformat()
        if result.status == "failed":
            assert result.message is not None  # every "failed" above comes with its message
            store.record_error(db, run_id, "fetch", result.message)
        store.finish_run(db, run_id, result.status, result.message, **counts.as_run_fields())
    if result.status == "failed":
        incomplete_error = IncompleteFetch(f"run {run_id}: {result.message}")
        incomplete_error.counts = counts  # type: ignore[attr-defined]
        raise incomplete_error
    return result


def _first_papers(records: list[Document | Deletion], n: int) -> list[Document | Deletion]:
    "The first n documents, with every withdrawal: the ledger counts those as skipped whatever the limit."
    kept: list[Document | Deletion] = []
    for record in records:
        if isinstance(record, Deletion) or n > 0:
            kept.append(record)
            n -= isinstance(record, Document)
    return kept


def _window_batches(source: ApiSource, query: str, windows: list[Window],
                    batch_size: int) -> Iterator[tuple[Window, Batch | None]]:
    "Each window with no batch (it opens the window's ledger), then with each of its batches."
    for window in windows:
        yield window, None
        for batch in source.fetch(query, window, batch_size):
            yield window, batch


def _close_window(db: Database, result: FetchResult, window: Window, ledger_id: int | None,
                  ledger: LedgerRow | None, limited: bool) -> bool:
    "Write a finished window's ledger row; True when it does not balance."
    assert ledger_id is not None and ledger is not None
    ledger.expected = window.expected  # Europe PMC may correct its count while paging
    _add_totals(result, ledger)
    status = "limited" if limited else ("complete" if ledger.balanced() else "incomplete")
    with db.atomic():
        db.table("ledger").update(ledger_id, ledger.row(status))
    result.windows += 1
    return status == "incomplete"


def prefetch(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run the batches iterator in a thread, up to depth batches ahead.

    The next request goes out while this thread parses and stores the last batch, so a
    run keeps to its rate limit instead of idling through every database write.
    """
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(done)
        except BaseException as ex:  # handed to the consumer, raised there
            put(ex)

    thread = threading.Thread(target=work, name="evidex-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _insert_ledger(db: Database, run_id: int, source: str, query: str, window: Window,
                   ledger: LedgerRow) -> int:
    with db.atomic():
        row = {"run_id": run_id, "source": source, "query": query,
               "window_start": window.start.isoformat() if window.start else None,
               "window_end": window.end.isoformat() if window.end else None,
               **ledger.row("running")}
        return db.table("ledger").insert(row).last_pk  # type: ignore[return-value]


def _store_batch(db: Database, run_id: int, ledger_id: int, ledger: LedgerRow, batch: Batch,
                 extraction: Extraction | None, counts: Counts, source: ApiSource) -> int:
    "Save one batch and its ledger totals in one transaction; return how many were stored."
    stored = 0

    def on_stored(_document: Any) -> None:
        nonlocal stored
        stored += 1

    # A signal can roll the transaction back after the totals moved: then they move back too,
    # so a failed or interrupted run's ledger and counts say what the database holds.
    before = copy.deepcopy(ledger.__dict__), copy.deepcopy(counts.__dict__)
    try:
        with db.atomic():
            store_records(db, run_id, batch.records, extraction, counts, on_stored=on_stored)
            ledger.add(batch, stored)
            db.table("ledger").update(ledger_id, ledger.row("running"))
    except BaseException:
        ledger.__dict__.update(before[0])
        counts.__dict__.update(before[1])
        raise
    return stored


def _add_totals(result: FetchResult, ledger: LedgerRow) -> None:
    result.expected += ledger.expected
    result.skipped += ledger.skipped
    result.failed += ledger.failed


def _fail(db: Database, run_id: int, ledger_id: int | None, ledger: LedgerRow | None,
          message: str, counts: Counts, status: str = "failed") -> None:
    "Record a failed or interrupted run: its open ledger row says why; the watermark is left alone."
    with db.atomic():
        if ledger_id is not None and ledger is not None:
            row = ledger.row(status)
            if row["expected"] == 0 and row["fetched"] == 0:
                row["expected"] = None  # unknown: the count itself failed
            detail = json.loads(row["detail"])
            detail["error"] = message
            row["detail"] = json.dumps(detail)
            db.table("ledger").update(ledger_id, row)
        store.record_error(db, run_id, "fetch", message)
        store.finish_run(db, run_id, status, message, **counts.as_run_fields())
