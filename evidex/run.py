"""`evidex run`: every saved query, incrementally per source, then extraction and seed linking."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from . import db as store
from . import logs
from .errors import ConfigError, EvidexError, IncompleteFetch, SourceError, UsageError
from .config import DEFAULT_CONFIG, Config, QueryConfig, SourceConfig, load_config
from .ingest import RUN_FIELDS, new_claims, withdrawals_note
from .options import WorkerCount

# ---- the run -----------------------------------------------------------------------------------

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_LOCKED, EXIT_NETWORK, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


@dataclass
class Totals:
    "What the whole run did, for its row in runs and the final summary."

    documents_seen: int = 0
    documents_new: int = 0
    documents_changed: int = 0
    claims_new: int = 0
    claims_superseded: int = 0
    documents_withdrawn: int = 0
    withdrawals_not_stored: int = 0
    withdrawals_other_version: int = 0
    withdrawals_already_withdrawn: int = 0
    claims_restored: int = 0  # not a runs column: db.claims_restored counts them from claim_gaps
    withdrawn_on_arrival: int = 0  # not a runs column either: db.withdrawn_on_arrival
    errors: int = 0
    network_failures: int = 0
    fetches: int = 0
    seed_changes: list[dict] = field(default_factory=list)

    def add(self, counts: Any) -> None:
        for name in RUN_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(counts, name))
        self.claims_restored += counts.claims_restored
        self.withdrawn_on_arrival += counts.withdrawn_on_arrival
        self.errors += len(counts.errors)

    def run_fields(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RUN_FIELDS}


def _withdrawal_fields(counts: Any) -> dict[str, Any]:
    "What a fetch's or run's withdrawals did, as the run.summary and fetch.done log events carry it."
    return {"documents_withdrawn": counts.documents_withdrawn, "withdrawn_on_arrival": counts.withdrawn_on_arrival,
            "withdrawals_skipped": {"not_stored": counts.withdrawals_not_stored,
                                    "other_version": counts.withdrawals_other_version,
                                    "already_withdrawn": counts.withdrawals_already_withdrawn}}


def seed_states(db: Any) -> dict[str, str]:
    "seed claim id -> its status word, from the seed_overview view of the current baseline (one rule for all)."
    try:
        return {row["seed_id"]: row["status"] for row in db.query("select seed_id, status from seed_overview")}
    except Exception:  # no seed module or view in this database: nothing to compare
        return {}


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    "Let a scheduler's SIGTERM unwind like Ctrl-C, so the open run row is closed as interrupted."

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. some test runners): keep the default
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(label: str, enabled: bool) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    "A (callback, close) pair drawing a click progress bar on a terminal, or doing nothing."
    bar: Any = None

    def update(advance: int, total: int) -> None:
        nonlocal bar
        if not enabled:
            return
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(advance)

    def close() -> None:
        if bar is not None:
            bar.__exit__(None, None, None)

    return update, close


class Runner:
    "One `evidex run`: fetch every query per source, extract, link to the seed, summarise."

    def __init__(self, cfg: Config, db_path: Path, log: logging.Logger, bars: bool,
                 until: datetime.date | None = None) -> None:
        self.cfg, self.db_path, self.log, self.bars, self.until = cfg, db_path, log, bars, until
        self.totals = Totals()
        self.extraction: Any = None

    def prepare(self) -> None:
        "Everything that can fail without touching the database: plugins, sources, seed, path."
        from . import get_extractors, get_sources
        from .ingest import Extraction

        cfg = self.cfg
        # Local plugin directories load only when configured: never from the current directory.
        self.sources = get_sources(str(cfg.plugins_dir) if cfg.plugins_dir else None)
        missing = [name for name, s in cfg.sources.items() if s.enabled and name not in self.sources]
        if missing:
            raise ConfigError(f"config {cfg.path}: source {missing[0]!r} is not available "
                              f"(registered: {', '.join(sorted(self.sources)) or 'none'})")
        for name, source_cfg in cfg.sources.items():
            if source_cfg.enabled and hasattr(self.sources[name], "check_base_url"):
                # The run configures the source with these later; a malformed URL is exit 2 now.
                self.sources[name].configure(base_url=source_cfg.base_url)
                self.sources[name].check_base_url()
        if cfg.extract:
            extractors = get_extractors(str(cfg.plugins_dir) if cfg.plugins_dir else None)
            self.extraction = Extraction(list(extractors.values()), workers=cfg.workers)
        if cfg.link_seed and cfg.seed:
            from .seed import read_seed

            try:
                read_seed(cfg.seed)
            except UsageError as ex:
                raise ConfigError(f"config {cfg.path}: 'run.seed': {ex}") from None

    def _fetches(self) -> Iterator[tuple[SourceConfig, QueryConfig]]:
        "Each (source, query) pair the run fetches, in its order."
        for source_cfg in self.cfg.sources.values():
            if source_cfg.enabled:
                for query in self.cfg.queries:
                    if query.enabled and source_cfg.name in query.texts:
                        yield source_cfg, query

    def check_until(self) -> None:
        "With --until, every query's window must start by then: refused (exit 2) before any run row."
        if self.until is None:
            return
        from .fetch import start_date

        # A database not there yet has no watermarks: it is not created just to be refused.
        db = store.open_db(self.db_path) if self.db_path.exists() else None
        since = datetime.date.fromisoformat(self.cfg.since) if self.cfg.since else None
        try:
            for source_cfg, query in self._fetches():
                # Where the fetch will start: the watermark less a day, else the config's since.
                mark = start_date(db, source_cfg.name, query.texts[source_cfg.name], None, False) \
                    if db is not None else None
                start = mark or since
                if start is None:
                    # An undated fetch asks for everything: an end could be recorded but not applied.
                    raise UsageError(f"--until needs a start: query {query.id} ({source_cfg.name}) has no "
                                     f"watermark yet and config {self.cfg.path} sets no 'since' under [run]")
                if start > self.until:
                    raise UsageError(f"--until {self.until} is before query {query.id} ({source_cfg.name})'s "
                                     f"window start {start}")
        finally:
            if db is not None:
                db.conn.close()

    def execute(self) -> int:
        "Take the lock first (a second run must fail fast), prepare, then run; return the exit code."
        with store.run_lock(self.db_path):
            try:
                self.prepare()
                self.check_until()
                return self._started()
            finally:
                if self.extraction is not None:
                    self.extraction.close()

    def _started(self) -> int:
        "The run proper, under the lock and with its plugins ready."
        db = store.open_db(self.db_path)
        signature = self.extraction.signature if self.extraction else {}
        pipeline = self.extraction.pipeline if self.extraction else None
        from .fetch import latest_today

        # One end for every query's window, fixed at the start: a run crossing midnight does not
        # end its last queries a day later than its first, and the receipt can name the day.
        self.end = self.until or latest_today()
        config = Path(self.cfg.path).resolve()
        self.run_id = store.start_run(db, "run", signature, pipeline=pipeline, window_end=self.end.isoformat(),
                                      options={"config": str(config), "queries": [q.id for q in self.cfg.queries
                                                                                  if q.enabled],
                                               # the rerun reads the file again: its hash tells an edited one
                                               "config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
                                               **({"until": self.until.isoformat()} if self.until else {}),
                                               # the config's, or EVIDEX_PLUGINS_DIR's: a rerun names it
                                               **({"plugins_dir": str(Path(self.cfg.plugins_dir).resolve())}
                                                  if self.cfg.plugins_dir else {})})
        with logs.bound(self.log, run_id=self.run_id):  # every line of the run names it, retries included
            logs.event(self.log, "run.start",
                       f"evidex run {self.run_id}: {len(self.cfg.queries)} queries, database {self.db_path}",
                       config=str(self.cfg.path), db=str(self.db_path), queries=len(self.cfg.queries))
            return self._guarded(db)

    def _guarded(self, db: Any) -> int:
        "The run's work; a failure or an interruption closes its row with why."
        try:
            return self._execute(db)
        except EvidexError as ex:  # e.g. an extraction worker died: the run says why it stopped
            store.drop_broken_transaction(db)
            store.record_error(db, self.run_id, "run", str(ex))
            store.finish_run(db, self.run_id, "failed", str(ex), **self.totals.run_fields())
            raise
        except sqlite3.OperationalError as ex:
            failure = store.storage_error(ex, self.db_path)
            if failure is None:
                raise
            # The disk that refused the last write may refuse these too: the next run then marks
            # the run interrupted. Either way the message is one line, not a traceback.
            with contextlib.suppress(sqlite3.Error):
                store.drop_broken_transaction(db)
                store.record_error(db, self.run_id, "run", str(failure))
                store.finish_run(db, self.run_id, "failed", str(failure), **self.totals.run_fields())
            raise failure from None
        except KeyboardInterrupt:
            store.drop_broken_transaction(db)
            store.record_error(db, self.run_id, "run", "interrupted (SIGINT or SIGTERM)")
            store.finish_run(db, self.run_id, "interrupted", "interrupted", **self.totals.run_fields())
            logs.event(self.log, "run.interrupted", "interrupted; the next run resumes from the watermarks",
                       logging.ERROR, run_id=self.run_id)
            return EXIT_INTERRUPTED

    def _execute(self, db: Any) -> int:
        from .plugins import state

        for name, error in state.failures:
            store.record_error(db, self.run_id, "load", error, plugin=name)
            logs.event(self.log, "plugin.failed", f"plugin {name} failed to load: {error}", logging.ERROR,
                       plugin=name, error=error)
            self.totals.errors += 1
        before = seed_states(db)
        for source_cfg in self.cfg.sources.values():
            if source_cfg.enabled:
                self._fetch_source(db, source_cfg)
        self._catch_up(db)
        self._link_seed(db)
        after = seed_states(db)
        # A seed claim first loaded by this run starts from "no evidence"; one a new seed version
        # dropped is reported too, not left out.
        self.totals.seed_changes = [
            {"seed_id": k, "before": before.get(k, "no evidence"), "after": v}
            for k, v in after.items() if before.get(k, "no evidence") != v
        ] + [{"seed_id": k, "before": v, "after": "removed from the seed"} for k, v in before.items() if k not in after]
        t = self.totals
        status = "failed" if t.network_failures else ("errors" if t.errors else "ok")
        summary = (f"{t.documents_new} new documents, {new_claims(t.claims_new, t.claims_restored)}, "
                   f"{len(t.seed_changes)} seed claims changed status" + withdrawals_note(t))
        store.finish_run(db, self.run_id, status, summary, **t.run_fields())
        return EXIT_NETWORK if t.network_failures else (EXIT_ERRORS if t.errors else EXIT_OK)

    def _fetch_source(self, db: Any, source_cfg: SourceConfig) -> None:
        from .fetch import fetch_query, watermark

        source = self.sources[source_cfg.name]
        source.configure(email=source_cfg.email, base_url=source_cfg.base_url, api_key=source_cfg.api_key)
        if source_cfg.name == "pubmed" and not source_cfg.email:
            logs.event(self.log, "config.warning", f"no contact email for NCBI: set {source_cfg.email_env}",
                       logging.WARNING, source="pubmed")
        queries = [q for q in self.cfg.queries if q.enabled and source_cfg.name in q.texts]
        try:
            for n, query in enumerate(queries):
                text = query.texts[source_cfg.name]
                fresh = watermark(db, source_cfg.name, text) is None
                since = datetime.date.fromisoformat(self.cfg.since) if fresh and self.cfg.since else None
                update, close = _progress(f"{query.id} {source_cfg.name}", self.bars)
                try:
                    result = fetch_query(db, source, text, since=since, extraction=self.extraction,
                                         batch_size=source_cfg.batch_size, today=self.end, progress=update,
                                         options={"query_id": query.id, "run": self.run_id,
                                                  **self._fetch_options(source_cfg)},
                                         parent_run=self.run_id)
                except IncompleteFetch as ex:
                    # The source answered to the end but some records would not come: this query's
                    # watermark stays put (the next run retries it); the source's other queries go on.
                    self.totals.network_failures += 1
                    self._fetch_stopped(db, query.id, source_cfg.name, ex, "fetch.incomplete")
                    continue
                except SourceError as ex:
                    # The source is down or failing: the rest of its queries would fail the same
                    # way, slowly. Their watermarks stay put, so the next run fetches them.
                    self.totals.network_failures += 1
                    skipped = len(queries) - n - 1
                    self._fetch_stopped(db, query.id, source_cfg.name, ex, "fetch.failed",
                                        f"; skipping its {skipped} remaining queries" if skipped else "",
                                        skipped=skipped)
                    return
                except KeyboardInterrupt as ex:
                    self._count_committed(ex)
                    raise
                except UsageError as ex:  # the service refused this query: the others may be fine
                    self.totals.errors += 1
                    self._fetch_stopped(db, query.id, source_cfg.name, ex, "fetch.refused")
                    continue
                finally:
                    close()
                self.totals.fetches += 1
                self.totals.add(result.counts)
                failures = result.counts.errors
                # A fetch whose plugins raised says so where it happened, not only in the run's total.
                failed = (f"; {len(failures)} plugin failures (first: {failures[0].plugin} on {failures[0].doc_id}: "
                          f"{failures[0].error}; evidex runs shows them)" if failures else "")
                logs.event(
                    self.log, "fetch.done",
                    f"{query.id} {source_cfg.name}: {result.expected} expected, {result.stored} stored, "
                    f"{result.counts.documents_new} new documents, "
                    f"{new_claims(result.counts.claims_new, result.counts.claims_restored)}"
                    + withdrawals_note(result.counts) + failed
                    + (f"; watermark {result.watermark}" if result.watermark else ""),
                    logging.WARNING if failures else logging.INFO, plugin_failures=len(failures),
                    query=query.id, source=source_cfg.name, fetch_run=result.run_id, status=result.status,
                    expected=result.expected, stored=result.stored, skipped=result.skipped,
                    documents_new=result.counts.documents_new, claims_new=result.counts.claims_new,
                    claims_restored=result.counts.claims_restored, **_withdrawal_fields(result.counts),
                    watermark=result.watermark,
                )
        finally:
            source.close()

    def _fetch_options(self, source_cfg: SourceConfig) -> dict[str, Any]:
        "What a fetch's own receipt needs for its `ingest --source` rerun to ask and extract alike."
        return {"batch_size": source_cfg.batch_size, **({"no_extract": True} if self.extraction is None else {}),
                **({"plugins_dir": str(Path(self.cfg.plugins_dir).resolve())} if self.cfg.plugins_dir else {}),
                **({"until": self.end.isoformat()} if self.until else {})}

    def _count_committed(self, ex: BaseException) -> None:
        "Add what a stopped fetch committed before it stopped (fetch_query attaches its counts) to the totals."
        counts = getattr(ex, "counts", None)
        if counts is not None:
            self.totals.add(counts)

    def _fetch_stopped(self, db: Any, query_id: str, source: str, ex: BaseException, event: str,
                       suffix: str = "", **fields: Any) -> None:
        "Count, record and log a query's fetch that ended in an error."
        self._count_committed(ex)
        store.record_error(db, self.run_id, "fetch", f"{query_id} {source}: {ex}")
        logs.event(self.log, event, f"{query_id} {source}: {ex}{suffix}", logging.ERROR,
                   query=query_id, source=source, **fields)

    def _catch_up(self, db: Any) -> None:
        "Extract from stored documents the current plugins have not seen (e.g. after a crash)."
        if self.extraction is None:
            return
        from .ingest import Counts, extract_stored

        counts = Counts()
        # A document a plugin raised on in this run's fetches stays unextracted, so the next run
        # retries it; extracting it again now would fail the same way: twice the work and the errors.
        failed = frozenset(r[0] for r in db.execute(
            "select distinct e.doc_id from run_errors e join runs r on r.id = e.run_id "
            "where r.parent_run = ? and e.stage = 'extract' and e.doc_id is not null", [self.run_id]))
        # One transaction per 200 documents: a kill loses at most that much work.
        extract_stored(db, self.run_id, self.extraction, counts, everything=False, commit_every=200, skip=failed)
        self.totals.claims_new += counts.claims_new
        self.totals.claims_superseded += counts.claims_superseded
        self.totals.claims_restored += counts.claims_restored
        self.totals.errors += len(counts.errors)
        if counts.documents_seen:
            logs.event(self.log, "extract.done",
                       f"extracted {counts.documents_seen} stored documents: "
                       f"{new_claims(counts.claims_new, counts.claims_restored)}",
                       documents=counts.documents_seen, claims_new=counts.claims_new,
                       claims_restored=counts.claims_restored, errors=len(counts.errors))

    def _link_seed(self, db: Any) -> None:
        if not self.cfg.link_seed:
            return
        try:
            from .seed import current_baseline, link_claims, load_baseline, unextracted_categories
        except ImportError:  # seed linking is optional
            return
        try:
            if self.cfg.seed:
                loaded, created = load_baseline(db, self.cfg.seed)
                if created and self.extraction is not None:
                    # As `seed load` warns: a new seed version with claims no extractor here can match.
                    warning = unextracted_categories(db, loaded, self.extraction.extractors)
                    if warning:
                        logs.event(self.log, "seed.categories", warning, logging.WARNING, baseline=loaded)
            baseline = current_baseline(db)
            if baseline is None:
                logs.event(self.log, "seed.none", "no seed review loaded: skipping seed linking "
                           "(set seed under [run] or run `evidex seed load`)", logging.WARNING)
                return
            db.execute("update runs set baseline_id = ? where id = ?", [baseline, self.run_id])
            counts = link_claims(db, baseline, self.run_id)
        except Exception as ex:  # linking must never lose the run's stored claims
            self.totals.errors += 1
            store.record_error(db, self.run_id, "link", f"{type(ex).__name__}: {ex}")
            logs.event(self.log, "seed.failed", f"seed linking failed: {ex}", logging.ERROR)
            return
        logs.event(self.log, "seed.linked", f"linked {sum(counts.values())} claims to the seed review",
                   baseline=baseline, **{k: v for k, v in sorted(counts.items())})

    def summary(self) -> dict[str, Any]:
        t = self.totals
        return {"run_id": getattr(self, "run_id", None), "documents_new": t.documents_new,
                "documents_changed": t.documents_changed, **_withdrawal_fields(t), "claims_new": t.claims_new,
                "claims_restored": t.claims_restored,
                "seed_claims_changed": t.seed_changes, "errors": t.errors,
                "network_failures": t.network_failures}


@click.command()
@click.option("--config", "config_path", metavar="FILE", envvar="EVIDEX_CONFIG",
              default=DEFAULT_CONFIG, show_default=True, help="TOML run configuration (env EVIDEX_CONFIG)")
# Plain strings for the paths: check_db_path and load_config give the one-line messages.
@click.option("--db", "db_path", metavar="PATH", envvar="EVIDEX_DB",
              help="SQLite database (env EVIDEX_DB; else [run] db in the config; else evidex.db)")
@click.option("--workers", type=WorkerCount(min=1), envvar="EVIDEX_WORKERS",
              help="Extract in this many processes (env EVIDEX_WORKERS; else [run] workers in the config; else 1)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y/%m/%d"]),
              help="End every query's date window here instead of today (a receipt's rerun pins it)")
@click.option("--plugins-dir", type=click.Path(file_okay=False, exists=True),
              help="Directory of one-off plugin .py files (else plugins_dir under [run], else EVIDEX_PLUGINS_DIR)")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line (for machines)")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors; no progress or summary")
@click.pass_context
def run(ctx: click.Context, config_path: str, db_path: str | None, workers: int | None,
        until: datetime.datetime | None, plugins_dir: str | None, log_json: bool, quiet: bool) -> None:
    """Run every saved query incrementally, then extraction and seed linking: the scheduled job.

    Exit codes: 0 all done, 1 finished with recorded errors (or the disk refused a write), 2 usage or
    config error, 3 another run holds the lock, 4 network failure after retries, 130 interrupted (SIGINT or SIGTERM).
    """
    with logs.redacted_output():
        log = logs.setup(log_json, quiet)
        code = _run(config_path, db_path, workers, log, log_json, quiet, until.date() if until else None,
                    plugins_dir)
    ctx.exit(code)


def _run(config_path: str, db_path: str | None, workers: int | None, log: logging.Logger, log_json: bool,
         quiet: bool, until: datetime.date | None = None, plugins_dir: str | None = None) -> int:
    runner = None
    try:
        from .fetch import latest_today
        from .http import check_environment

        check_environment()  # a bad EVIDEX_TIMEOUT or EVIDEX_RATE_LIMIT: exit 2 before any run row
        if until and until > latest_today():
            # As ingest --until: the watermarks would move into the future, and later runs ask for nothing.
            raise UsageError(f"--until {until} is in the future")
        cfg = load_config(config_path)
        if workers is not None:
            cfg.workers = workers
        if plugins_dir:
            cfg.plugins_dir = Path(plugins_dir).resolve()
        elif cfg.plugins_dir is None and os.environ.get("EVIDEX_PLUGINS_DIR"):
            # As every command reads it; held in the config so the run records where its plugins came from.
            cfg.plugins_dir = Path(os.environ["EVIDEX_PLUGINS_DIR"]).resolve()
        path = Path(db_path) if db_path else (cfg.db or Path("evidex.db"))
        runner = Runner(cfg, path, log, bars=not (quiet or log_json) and sys.stderr.isatty(), until=until)
        with sigterm_as_interrupt():
            code = runner.execute()
    except (EvidexError, sqlite3.OperationalError) as ex:
        # Under --log-json a full disk or another program's write lock is a JSON line like any error.
        error = ex if isinstance(ex, EvidexError) else (
            store.storage_error(ex, runner.db_path if runner else db_path) or store.locked_error(ex))
        if error is None:
            raise
        run_id = getattr(runner, "run_id", None)  # set once the run's row exists
        logs.event(log, "run.error", str(error).splitlines()[0] if str(error) else type(error).__name__,
                   logging.ERROR, exit_code=error.exit_code, error=type(error).__name__,
                   **({"run_id": run_id} if run_id else {}))
        return error.exit_code
    except KeyboardInterrupt:
        logs.event(log, "run.interrupted", "interrupted before the run started", logging.ERROR)
        return EXIT_INTERRUPTED
    summary = runner.summary()
    changed = summary["seed_claims_changed"]
    changes = ", ".join(f"{c['seed_id']} {c['before']} -> {c['after']}" for c in changed[:8])
    changes += f" and {len(changed) - 8} more (evidex seed status)" if len(changed) > 8 else ""
    line = (f"run {summary['run_id']}: {summary['documents_new']} new documents, "
            f"{new_claims(summary['claims_new'], summary['claims_restored'])}, "
            f"{len(summary['seed_claims_changed'])} seed claims changed status"
            + (f" ({changes})" if changes else "")
            + withdrawals_note(runner.totals)
            + (f"; {summary['errors']} errors" if summary["errors"] else "")
            + (f"; {summary['network_failures']} network failures" if summary["network_failures"] else ""))
    level = logging.INFO if code == EXIT_OK else logging.WARNING
    logs.event(log, "run.summary", line, level, exit_code=code, **summary)
    return code
