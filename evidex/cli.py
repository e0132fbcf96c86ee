"""The evidex command line: ingest, extract, runs, plugins and the commands plugins add."""

from __future__ import annotations

import codecs
import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from . import __version__, get_extractors, get_sources
from .errors import EvidexError, SourceError, UsageError
from .fetch import fetch_query, latest_today
from .files import check_input, read_file, refuse_overwriting
from .models import Claim, Deletion, Document, Mention
from .offline import InputWithdrawals
from . import db as store
from .ingest import (Counts, Extraction, extract_stored, new_claims, store_records, withdrawals_note,
                     withdrawals_skipped)
from .pipeline import ExtractionError
from .options import WorkerCount, hold_run_lock, plugins_dir_option
from .plugins import load_plugins, pm
from .seed import add_commands, current_baseline, link_after_run


class OneLineUsageError(click.ClickException):
    "A click usage error (a directory given as a file, a misspelt option) as one line: no usage block."

    exit_code = 2

    def __init__(self, ex: click.UsageError) -> None:
        where = ex.ctx.command_path if ex.ctx else "evidex"
        super().__init__(f"{ex.format_message()} (see {where} --help)")


def _logs_json(ex: click.UsageError, args: list[str]) -> bool:
    "Whether the usage error is of `evidex run --log-json`, whose every line must be JSON."
    if ex.ctx is not None and ex.ctx.command.name == "run" and ex.ctx.params.get("log_json"):
        return True
    # Parsing stopped before --log-json was read (a misspelt option, an option missing its value,
    # one before `run`), or the error has no context: the arguments say what was asked for. The
    # group's own options (--help, --version) take no value, so the first word is the command.
    words = [a for a in args if not a.startswith("-")]
    return bool(words) and words[0] == "run" and any(
        a == "--log-json" or a.startswith("--log-json=") for a in args[args.index("run") + 1:])


def _refuse_usage(ctx: click.Context, ex: click.UsageError, args: list[str]) -> NoReturn:
    "End on a usage error in one line: a JSON run.error line under `run --log-json`, else 'Error: ...'; exit 2."
    if _logs_json(ex, args):
        from . import logs

        logs.event(logs.setup(json_lines=True), "run.error", OneLineUsageError(ex).message, logging.ERROR,
                   exit_code=OneLineUsageError.exit_code, error="UsageError")
        ctx.exit(OneLineUsageError.exit_code)
    raise OneLineUsageError(ex) from None


def _check_arguments(parent: click.Context, name: str, command: click.Command, args: list[str]) -> None:
    """Parse a subcommand's arguments ahead of click, for two mistakes its own parse reports badly.

    An option missing its value (`run --db`) is raised by click's parser with no context, so
    the error named `evidex --help`; here it gets the subcommand's. An option whose value is one
    of the command's own options (`run --config --log-json`) swallowed it: refused, naming both.
    A group's arguments are followed into its subcommand (`seed load --db`).
    """
    ctx = command.context_class(command, info_name=name, parent=parent, **command.context_settings)
    try:
        opts, rest, _ = command.make_parser(ctx).parse_args(list(args))
    except click.UsageError as ex:
        ex.ctx = ex.ctx or ctx
        raise
    params = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    names = {opt for p in params for opt in (*p.opts, *p.secondary_opts)}
    for param in params:
        if param.is_flag or param.count:
            continue
        value = opts.get(param.name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and item in names:
                option = max(param.opts, key=len)
                raise click.BadOptionUsage(option, f"Option '{option}' requires an argument; '{item}' is an option "
                                                   "of this command, not a value", ctx=ctx)
    if isinstance(command, click.Group) and rest:
        sub_name, sub, sub_args = command.resolve_command(ctx, rest)
        if sub_name is not None and sub is not None:
            _check_arguments(ctx, sub_name, sub, sub_args)


EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what the shell reports for `cat`, `grep` ... cut off by `| head`


@contextlib.contextmanager
def _closed_pipe_ends_quietly():
    "A reader that closed stdout (`| head`) ends the command with exit 141: no traceback, no 'Exception ignored'."
    try:
        try:
            yield
        finally:
            # Output still buffered (extract --output -) meets the closed pipe here, not at exit.
            sys.stdout.flush()
    except BrokenPipeError:
        # Python ignores SIGPIPE, so a write raises instead; click would exit 1 ("errors recorded").
        # The interpreter flushes stdout again at exit: point it at /dev/null so that finds no pipe.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        raise click.exceptions.Exit(EXIT_CLOSED_PIPE) from None


def _std_streams_kept_open() -> None:
    """A closed stdin or stderr (`2>&-`, a cron job whose stream is gone) becomes /dev/null; a closed stdout, a gone reader.

    Python starts with sys.stderr (or stdout, stdin) None then: click printed usage errors on
    stdout instead, the closed-pipe check raised AttributeError, and the next file opened (the
    lock, an --output) took the descriptor, so a library writing to descriptor 2, or
    --output /dev/stdout, wrote into that file. Output written to a closed stdout is lost, so
    that end is a pipe nobody reads: the command's first write ends it as `| head` would (exit
    141), rather than dropping claims or a summary and exiting 0.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            if fd == 1:
                read_end, write_end = os.pipe()
                os.close(read_end)
                stand_in = write_end
            else:
                stand_in = os.open(os.devnull, os.O_RDWR)
            if stand_in != fd:
                os.dup2(stand_in, fd)
                os.close(stand_in)
            if fd == 1 and sys.stdout is None:
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        if getattr(sys, name) is None:
            # By path, not descriptor: had a file taken the number before this ran, it stays that file's.
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))


class EvidexGroup(click.Group):
    "A click group that turns EvidexError into a one-line message and its exit code."

    def main(self, *args, **kwargs):
        _std_streams_kept_open()
        return super().main(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        with _closed_pipe_ends_quietly():  # `evidex --help | head -1`
            return super().make_context(info_name, args, parent, **extra)

    def parse_args(self, ctx, args):
        ctx.meta["evidex.args"] = list(args)  # what a usage error of `run --log-json` is told from
        try:
            return super().parse_args(ctx, args)
        except NoArgsIsHelpError:  # bare `evidex`: the help is what was asked for
            raise
        except click.UsageError as ex:  # `evidex --bogus run --log-json` among them
            _refuse_usage(ctx, ex, list(args))

    def resolve_command(self, ctx, args):
        cmd_name, cmd, rest = super().resolve_command(ctx, args)
        if cmd_name is not None and cmd is not None and not ctx.resilient_parsing:  # not shell completion
            _check_arguments(ctx, cmd_name, cmd, rest)
        return cmd_name, cmd, rest

    def invoke(self, ctx):
        with _closed_pipe_ends_quietly():
            return self._invoke(ctx)

    def _invoke(self, ctx):
        from .run import EXIT_INTERRUPTED, sigterm_as_interrupt

        try:
            # A scheduler's SIGTERM unwinds like Ctrl-C: transactions roll back, run rows close.
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except NoArgsIsHelpError:  # bare `evidex seed`: the help is what was asked for
            raise
        except click.UsageError as ex:  # a subcommand's arguments, or a check in its body
            # `run --log-json` under a scheduler: a bad EVIDEX_WORKERS or a misspelt option is a
            # JSON line like any other error of the run.
            _refuse_usage(ctx, ex, ctx.meta.get("evidex.args", []))
        except EvidexError as ex:
            click.echo(f"Error: {ex}", err=True)
            ctx.exit(ex.exit_code)
        except (KeyboardInterrupt, click.Abort):
            click.echo("Error: interrupted (SIGINT or SIGTERM); what was committed stays, a rerun resumes",
                       err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except sqlite3.OperationalError as ex:
            # A full disk or I/O error, or another program holding a write transaction: one line.
            failure = store.storage_error(ex, ctx.meta.get("evidex.db")) or store.locked_error(ex)
            if failure is None:
                raise
            click.echo(f"Error: {failure}", err=True)
            ctx.exit(failure.exit_code)


@click.group(cls=EvidexGroup)
@click.version_option(__version__, prog_name="evidex")
def cli():
    """Keep a living evidence table of claims extracted from abstracts.

    Example: evidex ingest --db evidex.db records.xml
    """


workers_option = click.option(
    "--workers", type=WorkerCount(min=1), default=1, show_default=True, envvar="EVIDEX_WORKERS",
    help="Extract in this many processes (env EVIDEX_WORKERS); the claims are the same",
)


# "-" names standard input, as "--output -" names standard output; the receipt records this path.
STDIN = "/dev/stdin"


def _extractors(plugins_dir, only=()):
    "Every installed extractor (all set up the shared parse); `only` names must be among them."
    extractors = get_extractors(plugins_dir)
    unknown = sorted(set(only) - set(extractors))
    if unknown:
        raise click.BadParameter(
            f"unknown extractor {', '.join(unknown)}; known: {', '.join(extractors) or 'none'}",
            param_hint="--extractor",
        )
    return list(extractors.values())


db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), default="evidex.db", envvar="EVIDEX_DB",
    show_default=True, help="SQLite database file (env EVIDEX_DB)",
)


def _extraction(extractors, workers: int, only=()) -> Extraction:
    "The command's extraction, its worker processes (if any) stopped when the command ends."
    extraction = Extraction(extractors, workers=workers, only=only)
    click.get_current_context().call_on_close(extraction.close)
    return extraction


def _report_plugin_failures(db, run_id) -> int:
    "Plugins that failed to import are recorded as errors of the run."
    from .plugins import state

    for name, error in state.failures:
        store.record_error(db, run_id, "load", error, plugin=name)
        click.echo(f"plugin {name} failed to load: {error}", err=True)
    return len(state.failures)


def _check_extractors(extractors) -> None:
    "Set up every extractor as a run would (exit 2 naming one that fails) and run each on one document."
    from .pipeline import extract
    from .plugins import state

    extraction = _extraction(extractors, 1)
    sample = Document(id="evidex-check", title="Type I interferon in cancer.",
                      abstract="Interferon-beta signalling reduced tumour growth in aged mice treated with cisplatin.")
    errors: list[ExtractionError] = []
    for _ in extract(extraction.nlp, [sample], extraction.extractors, errors.append):
        pass
    for err in errors:  # reported like a plugin that failed to load: the listing then exits 1
        state.failures.append((err.plugin, f"extract raised {err.error}"))
    click.echo(f"checked {len(extractors)} extractors: set up on one pipeline, run on one document", err=True)


def _skipped_withdrawals(row: dict) -> str:
    "'withdrawals skipped 1 of no stored paper ' for a runs line, or nothing (none, or a run from before they were kept)."
    text = withdrawals_skipped(row.get("withdrawals_not_stored"), row.get("withdrawals_other_version"),
                               row.get("withdrawals_already_withdrawn"))
    return text.replace(":", "", 1) + " " if text else ""


def _plugin_changes(db, row: dict) -> str:
    "'kinase 0.1.0 -> 0.2.0, hypoxia 1.0 added' against the previous run with every plugin, or '': why it re-extracted."
    if not row["plugins"] or (row["options"] or {}).get("only"):
        return ""  # a seed load, or extract --extractor: not every plugin ran
    for plugins, options in db.execute("select plugins, options from runs where id < ? and parent_run is null "
                                       "and plugins not in ('', '{}') order by id desc", [row["id"]]):
        if not (json.loads(options or "null") or {}).get("only"):
            before = json.loads(plugins)
            break
    else:
        return ""
    after = row["plugins"]
    said = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None:
            said.append(f"{name} {new['version']} added")
        elif new is None:
            said.append(f"{name} removed")
        elif old["version"] != new["version"]:
            said.append(f"{name} {old['version']} -> {new['version']}")
        elif old.get("data_hash") != new.get("data_hash"):
            said.append(f"{name} data {old.get('data_hash')} -> {new.get('data_hash')}")
    return ", ".join(said)


def _finish(db, run_id, counts: Counts, load_failures: int, command: str, quiet: bool = False) -> None:
    # Link the run's new claims to the current seed baseline; a failure counts as the run's error.
    link_failed = not link_after_run(db, run_id)
    status = "errors" if counts.errors or load_failures or link_failed else "ok"
    store.finish_run(db, run_id, status, None, **counts.as_run_fields())
    for err in counts.errors[:10]:
        click.echo(f"plugin {err.plugin} failed on {err.doc_id}: {err.error}", err=True)
    if len(counts.errors) > 10:
        click.echo(f"... and {len(counts.errors) - 10} more plugin failures (see run_errors)", err=True)
    # --quiet drops the summary, never the failures above: the exit code still says there were some.
    if not quiet:
        click.echo(
            f"run {run_id} {command}: {counts.documents_seen} documents ({counts.documents_new} new, "
            f"{counts.documents_changed} changed), {new_claims(counts.claims_new, counts.claims_restored)}, "
            f"{counts.claims_superseded} superseded, {len(counts.errors) + load_failures + link_failed} errors"
            + withdrawals_note(counts),
            err=True,
        )
    if status != "ok":
        sys.exit(1)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@db_option
@click.option("--no-extract", is_flag=True, help="Store documents without running extractors")
@click.option("--source", help="Fetch from a source instead of FILES: pubmed, europepmc or a plugin's")
@click.option("--query", help="With --source: the search query (PubMed or Europe PMC syntax)")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y/%m/%d"]),
              help="With --source: start at this entry date instead of the last complete run")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y/%m/%d"]),
              help="With --source: end the date window here instead of today (to replay a cached fetch)")
@click.option("--all", "everything", is_flag=True, help="With --source: ignore the watermark, fetch everything")
@click.option("--limit", type=click.IntRange(min=1), help="With --source: stop after this many records")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=200, show_default=True,
              help="With --source: ids per efetch POST / Europe PMC page size (Europe PMC pages stop at 1000)")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="With --source: keep raw responses here, by content hash, for offline replay")
@click.option("--offline", is_flag=True, help="With --cache-dir: replay the cached responses, no network")
@click.option("--email", envvar="EVIDEX_EMAIL", help="Contact email sent to NCBI (env EVIDEX_EMAIL)")
@click.option("--quiet", is_flag=True, help="No progress bar or summary")
@workers_option
@plugins_dir_option
def ingest(files, db_path, no_extract, source, query, since, until, everything, limit, batch_size, cache_dir,
           offline, email, quiet, workers, plugins_dir):
    """Store documents from PubMed XML or JSON Lines FILES, or fetched with --source and --query,
    and extract their claims.

    All files are stored in one transaction: a bad file leaves the database as it was. A
    --source run commits batch by batch, keeps a coverage ledger per date window and moves
    the query's watermark only when every window balances.

    Example: evidex ingest --source pubmed --query '"type I interferon"[tiab] AND cancer[tiab]'
    """
    files = tuple(STDIN if f == "-" else f for f in files)
    if source:
        if files:
            raise click.UsageError("give FILES or --source, not both")
        if not query:
            raise click.UsageError("--source needs --query")
        if since and everything:
            raise click.UsageError("--since and --all exclude each other: start at a date, or fetch everything")
        if until and since and until < since:
            raise click.UsageError(f"--until {until.date()} is before --since {since.date()}")
        if since and since.date() > latest_today():
            raise click.UsageError(f"--since {since.date()} is in the future")
        if until and until.date() > latest_today():
            # The watermark would move into the future, and later fetches would ask for nothing.
            raise click.UsageError(f"--until {until.date()} is in the future")
        _ingest_source(db_path, no_extract, source, query, since, until, everything, limit, batch_size,
                       cache_dir, offline, email, quiet, workers, plugins_dir)
        return
    if query or since or until or everything or limit or cache_dir or offline:
        raise click.UsageError("--query, --since, --until, --all, --limit, --cache-dir and --offline need --source")
    if not files:
        raise click.UsageError("give at least one file to ingest, or --source and --query")
    # Before the lock and the database are opened: a mistyped path must not upgrade (migrate) the
    # database or leave a lock file behind.
    for path in files:
        check_input(path)
    if no_extract:
        # Nothing is extracted, but a plugins directory that does not exist is still a mistake to name.
        load_plugins(plugins_dir)
    extractors = [] if no_extract else _extractors(plugins_dir)
    hold_run_lock(db_path)
    extraction = None if no_extract else _extraction(extractors, workers)
    db = store.open_db(db_path)
    counts = Counts()
    # One transaction holds the run row and every file: a bad file rolls it all back,
    # so the database (file bytes included) is exactly as it was.
    with db.atomic():
        run_id = store.start_run(db, "ingest", extraction.signature if extraction else {},
                                 pipeline=extraction.pipeline if extraction else None,
                                 baseline_id=current_baseline(db),
                                 source="file", query=None, options={"files": list(files)})
        digests = {}
        for path in files:
            # The receipt's proof of which inputs the run read, hashed in the pass that parses them.
            digest = hashlib.sha256()
            store_records(db, run_id, read_file(path, digest), extraction, counts)
            digests[os.path.abspath(path)] = digest.hexdigest()
        # Absolute paths: the receipt's rerun works from any directory.
        options = {"files": [os.path.abspath(p) for p in files], "files_sha256": digests}
        if no_extract:
            options["no_extract"] = True
        if plugins_dir:
            options["plugins_dir"] = os.path.abspath(plugins_dir)
        db["runs"].update(run_id, {"options": json.dumps(options, sort_keys=True)})
    load_failures = _report_plugin_failures(db, run_id)
    _finish(db, run_id, counts, load_failures, "ingest", quiet)


def _ingest_search(db_path, no_extract, source, query, since, limit, workers, plugins_dir, quiet) -> None:
    "ingest --source for a plugin's Source that only has search(): every record in one transaction."
    options = {k: v for k, v in (("since", since.date() if since else None), ("limit", limit)) if v is not None}
    extractors = [] if no_extract else _extractors(plugins_dir)
    hold_run_lock(db_path)
    extraction = None if no_extract else _extraction(extractors, workers)
    db = store.open_db(db_path)
    counts = Counts()

    def records():
        papers = 0
        for record in source.search(query, **options):
            if not isinstance(record, (Document, Deletion)):
                raise SourceError(f"source {source.name!r} yielded {record!r}, which is not a Document")
            if isinstance(record, Document):
                if limit is not None and papers >= limit:
                    return  # a source may ignore the limit it is passed: --limit holds all the same
                papers += 1
            yield record

    try:
        # As with files: a source that fails part-way leaves the database as it was.
        with db.atomic():
            run_id = store.start_run(db, "ingest", extraction.signature if extraction else {},
                                     pipeline=extraction.pipeline if extraction else None,
                                     baseline_id=current_baseline(db), source=source.name, query=query,
                                     options={**{k: str(v) for k, v in options.items()},
                                              # what the receipt's rerun needs to find the source again
                                              **({"plugins_dir": os.path.abspath(plugins_dir)} if plugins_dir else {}),
                                              **({"no_extract": True} if no_extract else {})})
            store_records(db, run_id, records(), extraction, counts)
    except EvidexError:
        raise
    except (Exception, SystemExit) as ex:  # a plugin's own source: one line naming it, not a traceback
        raise SourceError(f"source {source.name!r} failed: {type(ex).__name__}: {ex}") from None
    load_failures = _report_plugin_failures(db, run_id)
    _finish(db, run_id, counts, load_failures, "ingest", quiet)


def _ingest_source(db_path, no_extract, source_name, query, since, until, everything, limit, batch_size,
                   cache_dir, offline, email, quiet, workers, plugins_dir) -> None:
    "ingest --source: fetch a query into the database with a ledger and a watermark."
    from .http import check_environment

    check_environment()
    sources = get_sources(plugins_dir)
    source = sources.get(source_name)
    if source is None:
        raise UsageError(f"unknown source {source_name!r}; known: {', '.join(sorted(sources)) or 'none'}")
    if not hasattr(source, "plan"):
        if everything or cache_dir or offline or until:
            raise click.UsageError(f"source {source_name!r} takes --query, --since and --limit only "
                                   "(no ledger, watermark or cache)")
        _ingest_search(db_path, no_extract, source, query, since, limit, workers, plugins_dir, quiet)
        return
    if source_name == "pubmed" and not email:
        click.echo("Warning: no contact email for NCBI: pass --email or set EVIDEX_EMAIL "
                   "(NCBI asks every E-utilities client for one)", err=True)
    if offline and not cache_dir:
        raise click.UsageError("--offline needs --cache-dir")
    source.configure(email=email, cache_dir=cache_dir, offline=offline)
    source.check_base_url()
    extractors = [] if no_extract else _extractors(plugins_dir)
    hold_run_lock(db_path)
    extraction = None if no_extract else _extraction(extractors, workers)
    db = store.open_db(db_path)
    bar = None

    def progress(advance: int, total: int) -> None:
        nonlocal bar
        if quiet or not sys.stderr.isatty():
            return
        if bar is None:
            bar = click.progressbar(length=total, label=f"{source_name}: records", file=sys.stderr)
            bar.__enter__()
        bar.update(advance)

    options = {"since": since.date().isoformat() if since else None,
               "until": until.date().isoformat() if until else None, "all": everything, "limit": limit,
               "batch_size": batch_size, "cache_dir": cache_dir and os.path.abspath(cache_dir), "offline": offline,
               "no_extract": no_extract or None,
               "plugins_dir": os.path.abspath(plugins_dir) if plugins_dir else None}
    try:
        result = fetch_query(db, source, query, since=since.date() if since else None,
                             today=until.date() if until else None,
                             everything=everything, limit=limit, batch_size=batch_size,
                             extraction=extraction, progress=progress, options=options)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        source.close()
    load_failures = _report_plugin_failures(db, result.run_id)
    # Record the seed baseline and link the new claims; the fetch closed its run already, so a
    # link failure is added to it here.
    link_failed = not link_after_run(db, result.run_id)
    if link_failed:
        with db.atomic():
            db.execute("update runs set status = case status when 'ok' then 'errors' else status end, "
                       "errors = (select count(*) from run_errors where run_id = ?) where id = ?",
                       [result.run_id, result.run_id])
        click.echo(f"run {result.run_id}: linking to the seed review failed (see run_errors)", err=True)
    counts = result.counts
    for err in counts.errors[:10]:
        click.echo(f"plugin {err.plugin} failed on {err.doc_id}: {err.error}", err=True)
    if not quiet:
        click.echo(
            f"run {result.run_id} ingest {source_name}: {result.expected} expected, {result.stored} stored, "
            f"{result.skipped} skipped, {result.failed} failed in {result.windows} window(s); "
            f"{counts.documents_new} new documents, {new_claims(counts.claims_new, counts.claims_restored)}"
            + withdrawals_note(counts)
            + (f"; watermark {result.watermark}" if result.watermark else "")
            + (f"; {result.message}" if result.message else ""),
            err=True,
        )
    if counts.errors or load_failures or link_failed:
        sys.exit(1)


@cli.command()
@db_option
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Extract from this file instead of the database (JSON Lines or PubMed XML; '-' for stdin)")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="With --input: write claims here, one JSON object a line ('-' for stdout)")
@click.option("--extractor", "only", multiple=True, help="Run only this extractor (repeatable)")
@click.option("--all", "everything", is_flag=True,
              help="Re-extract every stored document, not only those the current plugins have not seen")
@click.option("--mentions/--no-mentions", default=True, show_default=True,
              help="With --output: also write entity mention lines")
@workers_option
@plugins_dir_option
def extract(db_path, input_path, output, only, everything, mentions, workers, plugins_dir):
    """Re-run extractors over stored documents, or over --input into --output without a database.

    Claims a changed plugin no longer produces are marked superseded, never deleted.
    """
    if bool(input_path) != bool(output):
        raise click.UsageError("--input and --output go together")
    input_path = STDIN if input_path == "-" else input_path
    if input_path:
        refuse_overwriting(output, input_path, f"the --input file {input_path}")
    extractors = _extractors(plugins_dir, only)
    extraction = _extraction(extractors, workers, only)
    if input_path:
        with _output_file(output) as out:
            _extract_offline(input_path, out, extraction, mentions)
        return
    if not Path(db_path).exists():  # extract reads stored documents: a new empty database has none
        raise UsageError(f"database {db_path} does not exist (evidex ingest or run creates it)")
    hold_run_lock(db_path)
    db = store.open_db(db_path, create=False)
    options = {"all": everything, "only": list(only) or None,
               "plugins_dir": os.path.abspath(plugins_dir) if plugins_dir else None}
    run_id = store.start_run(db, "extract", extraction.signature, options={k: v for k, v in options.items() if v},
                             pipeline=extraction.pipeline,
                             baseline_id=current_baseline(db))
    counts = Counts()

    try:
        extract_stored(db, run_id, extraction, counts, everything, commit_every=500)
    except EvidexError as ex:  # what was committed stays; the run says why it stopped
        store.drop_broken_transaction(db)
        store.finish_run(db, run_id, "failed", str(ex), **counts.as_run_fields())
        raise
    except KeyboardInterrupt:
        store.drop_broken_transaction(db)
        store.finish_run(db, run_id, "interrupted", "interrupted", **counts.as_run_fields())
        raise
    load_failures = _report_plugin_failures(db, run_id)
    _finish(db, run_id, counts, load_failures, "extract")


@contextlib.contextmanager
def _output_file(output: str):
    "Write to a temporary file beside output, moved into place only when the command gets to its end."
    if output == "-":
        # sys.stdout, not click.get_text_stream: Click 8.5 deprecated that, and Click 9 drops it.
        # UTF-8 as a file is written, whatever the locale says (click's stream did that for an
        # ASCII stdout): a claim's "β" was a UnicodeEncodeError traceback part-way through.
        if isinstance(sys.stdout, io.TextIOWrapper) and codecs.lookup(sys.stdout.encoding).name != "utf-8":
            sys.stdout.reconfigure(encoding="utf-8")
        yield sys.stdout
        return
    fd = _descriptor(output)
    if fd is not None:
        # /dev/stdout, /dev/fd/N: the descriptor the shell opened (appending, or a pipe), not a
        # reopened path (which would truncate the file, or not exist for a pipe).
        try:
            with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as f:
                yield f
        except BrokenPipeError:  # its reader stopped reading (`| head`): not a path that cannot be written
            raise
        except OSError as ex:
            raise UsageError(f"cannot write {output}: {ex.strerror or ex}") from None
        return
    # Through a symlink to its target; a FIFO or a device is written in place (a temporary file
    # would replace the node itself).
    target = Path(os.path.realpath(output))
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise UsageError(f"cannot write {output}: it is a directory")
        try:
            with open(target, "w", encoding="utf-8") as f:
                yield f
        except BrokenPipeError:  # a FIFO whose reader stopped reading
            raise
        except OSError as ex:
            raise UsageError(f"cannot write {output}: {ex.strerror or ex}") from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
    except OSError as ex:
        raise UsageError(f"cannot write {output}: {ex.strerror or ex}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            try:
                yield f
            except SystemExit as ex:  # plugin failures exit 1 after every document was written
                if ex.code not in (0, 1, None):
                    raise
                f.close()
                os.replace(tmp, target)
                raise
        os.replace(tmp, target)
    finally:
        # A failure part-way (bad input, an interrupt) leaves the previous output as it was.
        if os.path.exists(tmp):
            os.unlink(tmp)


def _descriptor(path: str) -> int | None:
    "The open file descriptor a path names (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N), if any."
    named = {"/dev/stdout": 1, "/dev/stderr": 2}
    if path in named:
        return named[path]
    for prefix in ("/dev/fd/", "/proc/self/fd/"):
        if path.startswith(prefix) and path[len(prefix):].isdigit():
            return int(path[len(prefix):])
    return None


def _extract_offline(input_path, output, extraction: Extraction, mentions) -> None:
    errors: list[ExtractionError] = []
    withdrawn = 0
    withdrawals = InputWithdrawals()

    def documents():
        nonlocal withdrawn
        # Decided in the input's order as records are read, so --workers (which reads ahead) writes the same.
        for record in read_file(input_path):
            if isinstance(record, Document):
                if withdrawals.extract(record):
                    yield record
                continue
            # A withdrawal (DeleteCitation, "deleted": true) asserts nothing: counted, not extracted.
            withdrawn += 1
            late = withdrawals.read(record)
            if late is not None:
                click.echo(f"warning: {input_path}: {late} is withdrawn after its claims were written; "
                           "they stay in the output", err=True)

    n_docs = n_claims = 0
    for document, items in extraction.extract(documents(), errors.append):
        n_docs += 1
        for item in items:
            if isinstance(item, Claim):
                n_claims += 1
                output.write(json.dumps(item.to_score_line(), ensure_ascii=False) + "\n")
            elif mentions and isinstance(item, Mention):
                line = {"type": "mention", "pmid": item.doc_id, "category": item.category,
                        "id": item.entity, "text": item.text, "field": item.field,
                        "start": item.start, "end": item.end, "plugin": item.plugin}
                output.write(json.dumps(line, ensure_ascii=False) + "\n")
    output.write("")  # the file exists afterwards even when nothing was found
    from .plugins import state

    failures = len(errors) + len(state.failures)
    click.echo(f"{n_docs} documents, {n_claims} claims"
               + (f", {withdrawn} withdrawn records skipped" if withdrawn else "")
               + (f"; {withdrawals.not_extracted} withdrawn papers not extracted" if withdrawals.not_extracted else "")
               + (f"; {len(withdrawals.late)} withdrawn after their claims were written" if withdrawals.late else "")
               # No run_errors to look in here: the count is all there is beyond the lines below.
               + (f"; {failures} plugin failures" if failures else ""),
               err=True)
    # A plugin that failed to import must not pass for one that found nothing.
    for name, error in state.failures:
        click.echo(f"plugin {name} failed to load: {error}", err=True)
    for e in errors[:20]:
        click.echo(f"plugin {e.plugin} failed on {e.doc_id}: {e.error}", err=True)
    if len(errors) > 20:
        click.echo(f"... and {len(errors) - 20} more plugin failures", err=True)
    if errors or state.failures:
        sys.exit(1)


@cli.command()
@db_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many recent runs to list (a scheduled run counts once, its fetches listed under it)")
@click.option("--json", "as_json", is_flag=True, help="Output JSON")
@click.option("--receipt", type=int, metavar="N", help="Print run N's reproducibility receipt as JSON")
def runs(db_path, limit, as_json, receipt):
    "List recent runs with their status, counts and ledgers, or one run's receipt."
    db = store.open_db(db_path, create=False, read_only=True)
    if receipt is not None:
        from .diff import receipt as make_receipt

        click.echo(json.dumps(make_receipt(db, receipt), indent=2, ensure_ascii=False))
        return
    # A scheduled run writes a run per query and source: --limit counts scheduled runs, not those,
    # and each is followed by its fetches.
    rows: list[dict] = []
    for top in list(db.query("select * from runs where parent_run is null order by id desc limit ?", [limit])):
        rows.append(top)
        rows += list(db.query("select * from runs where parent_run = ? order by id desc", [top["id"]]))
    for row in rows:
        row["plugins"] = json.loads(row["plugins"] or "{}")
        row["options"] = json.loads(row["options"] or "null")
        row["env_vars"] = json.loads(row.get("env_vars") or "null")
        row["ledger"] = list(db.query("select * from ledger where run_id = ? order by id", [row["id"]]))
        row["claims_restored"] = store.claims_restored(db, row["id"])
        row["withdrawn_on_arrival"] = store.withdrawn_on_arrival(db, row["id"])
        row["error_samples"] = list(db.query(
            "select stage, doc_id, plugin, error from run_errors where run_id = ? order by id limit 5",
            [row["id"]]))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    # The command column is as wide as its longest entry ("seed load"), so the columns after it line up.
    command_width = max([8, *(len(row["command"]) for row in rows)])
    for row in rows:
        click.echo(
            ("  " if row.get("parent_run") else "")
            + f"{row['id']:>4} {row['started_at']} {row['command']:<{command_width}} {row['status']:<8} "
            f"docs {row['documents_seen']} (+{row['documents_new']}) claims +{row['claims_new']} "
            + (f"({row['claims_restored']} restored) " if row["claims_restored"] else "")
            + (f"withdrawn {row['documents_withdrawn']} " if row.get("documents_withdrawn") else "")
            + (f"({row['withdrawn_on_arrival']} on arrival) " if row["withdrawn_on_arrival"] else "")
            + _skipped_withdrawals(row)
            + f"errors {row['errors']}" + (f"  {row['source']}: {row['query']}" if row["query"] else "")
        )
        changes = "" if row.get("parent_run") else _plugin_changes(db, row)
        if changes:
            click.echo(f"       plugins {changes}")
        for entry in row["ledger"]:
            click.echo(
                # expected is unknown (None) when the count itself failed: "?" is what a reader needs.
                f"       ledger {entry['window_start'] or ''}..{entry['window_end'] or ''} expected "
                f"{'?' if entry['expected'] is None else entry['expected']} fetched {entry['fetched']} parsed {entry['parsed']} stored "
                f"{entry['stored']} skipped {entry['skipped']} failed {entry['failed']} [{entry['status']}]"
            )
        for error in row["error_samples"][:3]:
            where = " ".join(str(error[k]) for k in ("plugin", "doc_id") if error[k])
            click.echo(f"       error {error['stage']}{' ' + where if where else ''}: {error['error'][:160]}")
        if row["errors"] and row["errors"] > 3:
            click.echo(f"       ... {row['errors'] - 3} more errors: evidex runs --json, or the run_errors table")
        if row["status"] in ("failed", "interrupted") and row["message"] not in (None, "", row["status"]):
            click.echo(f"       {row['status']}: {row['message'][:200]}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Output JSON")
@click.option("--check", is_flag=True,
              help="Also set up every extractor on the shared pipeline and run it on one document")
@plugins_dir_option
def plugins(as_json, check, plugins_dir):
    "List loaded plugins, their hooks and versions."
    from .plugins import get_plugins, state

    load_plugins(plugins_dir)
    listing = get_plugins()
    extractors = get_extractors(plugins_dir)
    if check:
        _check_extractors(list(extractors.values()))
    for entry in listing:
        entry["extractors"] = [
            {"name": e.name, "version": e.version, "categories": list(e.categories)}
            for e in extractors.values()
            if state.owners.get(e.name) == entry["name"]
        ]
    if as_json:
        click.echo(json.dumps({"plugins": listing, "failures": [
            {"name": n, "error": e} for n, e in state.failures]}, indent=2))
    else:
        for entry in listing:
            exts = ", ".join(f"{e['name']} {e['version']}" for e in entry["extractors"])
            click.echo(f"{entry['name']} {entry['version']}  hooks: {', '.join(entry['hooks'])}"
                       + (f"  extractors: {exts}" if exts else ""))
        for name, error in state.failures:
            click.echo(f"FAILED {name}: {error}")
    if state.failures:
        sys.exit(1)


cli.add_command(__import__("evidex.serve", fromlist=["serve"]).serve)  # evidex serve: Datasette
cli.add_command(__import__("evidex.report", fromlist=["report"]).report)  # evidex report: HTML
cli.add_command(__import__("evidex.run", fromlist=["run"]).run)  # evidex run: the scheduled job
__import__("evidex.scaffold", fromlist=["attach_to"]).attach_to(cli)  # evidex plugins new

try:
    load_plugins()
except EvidexError:
    pass  # reported by the command that needs the plugins, inside EvidexGroup's error handling
add_commands(cli)  # evidex seed load|status|link, evidex diff


def add_plugin_commands(group: click.Group) -> None:
    "Each plugin's register_commands; one that raises or would replace an existing command is reported, not obeyed."
    from .plugins import state

    for impl in pm.hook.register_commands.get_hookimpls():
        before = dict(group.commands)
        try:
            impl.function(cli=group)
        except (Exception, SystemExit) as ex:  # at import time: a traceback here would break every command
            state.failures.append((impl.plugin_name, f"register_commands raised {type(ex).__name__}: {ex}"))
        for name, command in before.items():
            if group.commands.get(name) is not command:
                group.commands[name] = command
                state.failures.append((impl.plugin_name, f"register_commands would replace the command {name!r}; "
                                                          "the existing one is kept"))


add_plugin_commands(cli)
