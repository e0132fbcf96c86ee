"""The evidence store: open with migrations, record runs, save documents and claims idempotently."""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import re
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from . import runenv
from .errors import LockedError, StorageError, UsageError
from .migrations import migrations
from .models import Claim, Deletion, Document, Extractor, Mention


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_db_path(path: Path) -> None:
    "Refuse an unusable database path before anything (the lock file included) is created."
    if _check_path(path):
        # Another application's database, or a newer evidex's, is refused here too: the run lock
        # taken next would otherwise leave a <db>.lock beside a file evidex will not touch.
        # A short wait: a writer holding the file (another run) must not delay that run's exit 3.
        conn = sqlite3.connect(str(path), timeout=1, isolation_level=None)
        try:
            db = Database(conn)
            _refuse_newer(db, path)
            _refuse_foreign(db, path)
        except sqlite3.OperationalError as ex:
            if "locked" not in str(ex) and "busy" not in str(ex):
                raise UsageError(f"{path} is not a usable SQLite database: {ex}") from None
            # Busy: open_db checks again under the run lock, on the connection that writes.
        except sqlite3.DatabaseError as ex:
            raise UsageError(f"{path} is not a usable SQLite database: {ex}") from None
        finally:
            # Read-write and closed at once: the last connection to a WAL file removes its
            # -wal and -shm (a read-only one would leave them behind).
            conn.close()


# SQLite's codes for a file that cannot be written whatever the command does: the disk, not the data.
_STORAGE_CODES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def storage_error(ex: BaseException, path: str | os.PathLike | None) -> StorageError | None:
    "A one-line StorageError for a disk full, I/O or read-only failure writing the database; else None."
    name = getattr(ex, "sqlite_errorname", "") or ""
    if not isinstance(ex, sqlite3.OperationalError) or not name.startswith(_STORAGE_CODES):
        return None
    where = f"database {path}" if path else "the database"
    return StorageError(f"cannot write {where}: {ex} ({name}); what was committed stays: "
                        "free disk space or fix the file system, then rerun")


def locked_error(ex: BaseException) -> LockedError | None:
    "A one-line LockedError for SQLite refusing a write another program's transaction holds; else None."
    # Not an evidex run, which the run lock keeps out: the open transaction rolled back, so only
    # what was committed before stays.
    if not isinstance(ex, sqlite3.OperationalError) or not str(ex).startswith(("database is locked",
                                                                                "database is busy")):
        return None
    return LockedError(f"the database is locked by another program ({ex}); what was committed stays, "
                       "rerun when it has finished")


@contextlib.contextmanager
def run_lock(db_path: str | os.PathLike) -> Iterator[None]:
    "Hold the database's run lock for a command (exit 3 if taken), after refusing an unusable path."
    # A command that ends having stored nothing (a refusal: bad config or input, a plugin that cannot
    # set up, a bad seed) leaves the directory as it found it: the lock file it created is removed,
    # and so is a database it created that holds no run and no seed baseline. Once it has stored
    # something, the lock file stays, as after every run (lock.RunLock).
    from .lock import RunLock

    path = Path(db_path)
    check_db_path(path)
    existed = path.exists()
    lock = RunLock(path)
    lock.acquire()
    before: Any = None
    try:
        # Under the lock: no other evidex process stores anything until it is released.
        before = _stored_state(path) if existed and lock.created else None
    except sqlite3.Error:
        before = "unreadable"  # never equal to a state read later: the lock file stays
    try:
        yield
    finally:
        try:
            if existed:
                untouched = lock.created and _stored_state(path) == before
            else:
                after = _stored_state(path)
                untouched = after is None or after[1:] == (None, 0)
        except sqlite3.Error:
            untouched = False  # unreadable now: keep what is there
        if untouched and not existed:
            # The command's own connection may still be open: SQLite leaves nothing behind when
            # it closes on files removed beneath it.
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")
        lock.release(discard=untouched and lock.created)


def _stored_state(path: Path) -> tuple[int | None, int | None, int] | None:
    "What a command changes when it stores anything (migrations applied, last run, baselines); None: no file."
    if not path.exists():
        return None
    conn = sqlite3.connect(str(path), timeout=1, isolation_level=None)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}

        def value(table: str, sql: str) -> Any:
            return conn.execute(sql).fetchone()[0] if table in tables else None

        return (value("_sqlite_migrations", "select count(*) from _sqlite_migrations"),
                value("runs", "select max(id) from runs"),
                value("baselines", "select count(*) from baselines") or 0)
    finally:
        conn.close()  # read-write and closed: the last connection to close removes the -wal and -shm


def _check_path(path: Path) -> bool:
    "Refuse a path no database can be opened or created at; True if it holds a SQLite file already."
    if path.is_dir():
        raise UsageError(f"database path {path} is a directory")
    if path.exists():
        try:
            head = _head_for_update(path)
        except OSError as ex:
            raise UsageError(f"database {path} is not writable: {ex.strerror or ex}") from None
        # SQLite silently turns a short non-database file into a database: check the magic first.
        if head and head != b"SQLite format 3\x00":
            raise UsageError(f"{path} is not a usable SQLite database (it is some other file)")
        return bool(head)
    if not path.parent.is_dir():
        raise UsageError(f"cannot create database {path}: directory {path.parent} does not exist")
    try:  # an anonymous temporary file: nothing is left behind whatever happens
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as ex:
        raise UsageError(f"cannot create database {path}: directory {path.parent} is not writable "
                         f"({ex.strerror or ex})") from None
    return False


def read_only_uri(path: Path) -> str:
    "A URI that reads the file without writing to it (immutable where SQLite cannot make the WAL index)."
    path = path.resolve()
    # mode=ro on a WAL database still creates <db>-shm; in a directory we cannot write to, only
    # immutable reads work (a one-shot read: no writer can be mid-transaction there either).
    writable = os.access(path.parent, os.W_OK) or path.with_name(path.name + "-shm").exists()
    wal = path.with_name(path.name + "-wal")
    if not writable and wal.exists() and wal.stat().st_size:
        # immutable=1 ignores the write-ahead log: committed runs would be silently missing.
        raise UsageError(f"{path} has a write-ahead log ({wal.name}) but no {path.name}-shm index, and its "
                         "directory is not writable, so it cannot be read whole; open it once with write "
                         "access, or copy the database with its -wal file somewhere writable")
    return f"file:{urllib.parse.quote(str(path))}?{'mode=ro' if writable else 'immutable=1'}"


def _head_for_update(path: Path) -> bytes:
    "The file's first 16 bytes, read through a handle opened for update (OSError if it cannot be)."
    # os.access says yes to root on a read-only mount; opening for update tells the truth.
    with open(path, "r+b") as f:
        return f.read(16)


def _writable(path: Path) -> bool:
    "Can this process write the database file and create its -wal and -shm beside it?"
    try:
        _head_for_update(path)
    except OSError:
        return False
    return os.access(path.parent, os.W_OK)


def open_db(path: str | os.PathLike, *, create: bool = True, read_only: bool = False) -> Database:
    """Open (or create) a database in WAL mode with every migration applied.

    read_only: a command that only reads may open a file it cannot write (a read-only mount or
    directory), provided the file needs no migration.
    """
    path = Path(path)
    if not path.exists() and not create:
        raise UsageError(f"database {path} does not exist")
    if read_only and path.is_file() and not _writable(path):
        return _open_read_only(path)
    _check_path(path)  # the schema is checked below, on the connection that will write
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db = Database(conn)
        # Before anything is written (WAL mode included): not ours, or not for this version.
        _refuse_newer(db, path)
        _refuse_foreign(db, path)
        db.execute("pragma foreign_keys = off")  # rows arrive in batches; FKs are for readers
        if db.journal_mode != "wal":
            db.enable_wal()
        db.execute("pragma synchronous = normal")
        db.execute("pragma cache_size = -65536")  # 64 MiB: a batch's FTS and index pages stay in memory
        migrations.apply(db)
        refresh_views(db)
    except sqlite3.DatabaseError as ex:
        # A full disk while creating or upgrading the file is the disk's fault, not the file's.
        raise storage_error(ex, path) or UsageError(f"{path} is not a usable SQLite database: {ex}") from None
    return db


def _open_read_only(path: Path) -> Database:
    "A database this process may not write, opened for reading if its schema is this version's."
    head = path.read_bytes()[:16] if path.stat().st_size else b""
    if head != b"SQLite format 3\x00":
        raise UsageError(f"{path} is not a usable SQLite database (it is some other file)")
    try:
        db = Database(sqlite3.connect(read_only_uri(path), uri=True, timeout=30, isolation_level=None))
        _refuse_newer(db, path)
        _refuse_foreign(db, path)
        pending = migrations.pending(db)
    except sqlite3.DatabaseError as ex:
        raise UsageError(f"{path} is not a usable SQLite database: {ex}") from None
    if pending:
        raise UsageError(f"database {path} is not writable and needs upgrading to this evidex "
                         f"({len(pending)} migrations, from {pending[0].name}); open it once with write access")
    return db


def _refuse_foreign(db: Database, path: Path) -> None:
    "A SQLite file of some other application is not taken over (migrations would add our tables to it)."
    if migrations.applied(db):
        return
    tables = [r[0] for r in db.execute("select name from sqlite_master where type in ('table', 'view') "
                                       "and name not like 'sqlite_%'")]
    if tables:
        raise UsageError(f"{path} is a SQLite database of something else (tables {', '.join(tables[:3])}"
                         f"{', ...' if len(tables) > 3 else ''}), not an evidex database")


def _refuse_newer(db: Database, path: Path) -> None:
    "A database a newer evidex has migrated is not written by this one: its schema means more than we know."
    known = {m.name for m in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        from . import __version__

        raise UsageError(f"{path} was written by a newer evidex (migration {unknown[-1]} is unknown to "
                         f"evidex {__version__}); upgrade evidex to use it")


def refresh_views(db: Database) -> None:
    "Recreate every view whose stored SQL is not this version's: a view is code, not data."
    from .migrations import SEED_STATUS
    from .views import SEED_VIEWS, VIEWS

    stored = dict(db.execute("select name, sql from sqlite_master where type = 'view'").fetchall())
    seed = {"seed_status": SEED_STATUS, **SEED_VIEWS} if db["seed_claims"].exists() else {}
    wanted = {**VIEWS, **seed}  # in dependency order
    stale = {name: sql for name, sql in wanted.items()
             if name not in stored or sql.strip() not in stored[name]}
    if stale:
        with db.atomic():
            for name, sql in stale.items():
                db.create_view(name, sql.strip(), replace=True)


def plugin_signature(extractors: Iterable[Extractor]) -> dict[str, dict[str, str]]:
    "name -> version and data hash, stored on every run and compared to skip work."
    return {e.name: {"version": e.version, "data_hash": e.data_hash()} for e in extractors}


def signature_key(signature: dict) -> str:
    return json.dumps(signature, sort_keys=True)


# (database file, run id) of the runs this process started: a row with our pid that is not
# among them was left by an earlier process that had the same pid (PID 1 in a container).
_started: set[tuple[str, int]] = set()


def _db_file(db: Database) -> str:
    return db.execute("pragma database_list").fetchone()[2]


def close_interrupted_runs(db: Database) -> int:
    "Mark runs left 'running' by a process that no longer exists (killed, crashed) as interrupted."
    from .lock import holds, running

    path = _db_file(db)
    # Under the run lock no other evidex process can be writing: every run not ours is over,
    # even if its pid now names some other live process.
    locked = bool(path) and holds(path)

    def over(row: dict) -> bool:
        if (path, row["id"]) in _started:
            return False
        return locked or row["pid"] == os.getpid() or not running(row["pid"])

    stale = [r["id"] for r in db.query("select id, pid from runs where status = 'running'") if over(r)]
    if stale:
        with db.atomic():
            for run_id in stale:
                db.table("runs").update(run_id, {"status": "interrupted", "message": "process ended before the run finished"})
                db.execute("update ledger set status = 'interrupted' where run_id = ? and status = 'running'", [run_id])
            for run_id in stale:  # children first closed above, so a parent's sums see their rows
                db.execute(RECOUNT, {"run": run_id})
    return len(stale)


# A killed process never wrote its counts: take them from the rows the run (and, for a scheduled
# run, its fetches) stored, so `evidex runs` and the next summary do not show +0 for stored work.
RECOUNT = """
with ids as (select id from runs where id = :run or parent_run = :run)
update runs set
  documents_new = (select count(*) from documents where first_seen_run in (select id from ids)),
  documents_seen = max(coalesce(documents_seen, 0),
                       (select count(*) from documents where last_seen_run in (select id from ids)),
                       -- extract does not touch documents.last_seen_run: its claims say what it read
                       (select count(distinct doc_id) from claims where last_seen_run in (select id from ids))),
  claims_new = (select count(*) from claims where first_seen_run in (select id from ids)),
  -- not the claims a revival superseded (db._revive): of earlier runs, of a paper withdrawn since
  -- before the run, they were not current before it (unseen in it: a withdrawn paper is not extracted)
  claims_superseded = (select count(*) from claims c where c.superseded_run in (select id from ids)
                       and not (c.last_seen_run < c.superseded_run and exists (
                           select 1 from withdrawals w where w.doc_id = c.doc_id
                           and w.revived_run = c.superseded_run and w.withdrawn_run < w.revived_run))),
  -- withdrawals keeps one row per paper a withdrawal withdrew (on arrival too, kept after a
  -- revival), and one per withdrawal read, with what it did
  documents_withdrawn = max(coalesce(documents_withdrawn, 0),
                            (select count(*) from withdrawals where withdrawn_run in (select id from ids))),
  withdrawals_not_stored = max(coalesce(withdrawals_not_stored, 0), (select count(*) from withdrawals
                               where run_id in (select id from ids) and outcome = 'not stored')),
  withdrawals_other_version = max(coalesce(withdrawals_other_version, 0), (select count(*) from withdrawals
                                  where run_id in (select id from ids) and outcome = 'other version')),
  withdrawals_already_withdrawn = max(coalesce(withdrawals_already_withdrawn, 0), (select count(*) from withdrawals
                                      where run_id in (select id from ids) and outcome = 'already withdrawn')),
  errors = (select count(*) from run_errors where run_id = :run)
where id = :run
"""


# Per table with a full-text index: its row count beside the index's, and the rebuild statement.
FULL_TEXT = (
    ("documents", "select (select count(*) from documents), (select count(*) from documents_fts_docsize)",
     "insert into documents_fts(documents_fts) values('rebuild')"),
    ("claims", "select (select count(*) from claims), (select count(*) from claims_fts_docsize)",
     "insert into claims_fts(claims_fts) values('rebuild')"),
)


def index_unindexed_rows(db: Database) -> list[str]:
    "Rebuild a full-text index whose row count differs from its table's; return the tables rebuilt."
    # evidex indexes what it inserts itself (migration m008): rows another tool inserted are
    # caught up here, at the start of the next run. Counting both b-trees costs milliseconds.
    rebuilt = []
    for table, counts, rebuild in FULL_TEXT:
        rows, indexed = db.execute(counts).fetchone()
        if rows != indexed:
            with db.atomic():
                db.execute(rebuild)
            rebuilt.append(table)
    return rebuilt


def run_environment() -> dict[str, str | None]:
    "The Python, spaCy and SQLite versions this process runs on (spaCy read from its metadata: not imported)."
    try:
        spacy_version: str | None = importlib.metadata.version("spacy")
    except importlib.metadata.PackageNotFoundError:
        spacy_version = None
    return {"python": platform.python_version(), "spacy": spacy_version, "sqlite": sqlite3.sqlite_version}


def start_run(db: Database, command: str, plugins: dict | None = None, **fields: Any) -> int:
    "Insert a run row with status 'running' and return its id (committed at once)."
    from . import __version__

    close_interrupted_runs(db)
    index_unindexed_rows(db)

    row = {
        "command": command, "started_at": now(), "status": "running",
        "evidex_version": __version__, "plugins": json.dumps(plugins or {}, sort_keys=True),
        "documents_seen": 0, "documents_new": 0, "documents_changed": 0, "claims_new": 0,
        "claims_superseded": 0, "documents_withdrawn": 0, "withdrawals_not_stored": 0,
        "withdrawals_other_version": 0, "withdrawals_already_withdrawn": 0, "errors": 0, "pid": os.getpid(),
        "env_vars": json.dumps(runenv.recorded(), sort_keys=True),
        "environment": json.dumps(run_environment(), sort_keys=True),
    }
    for key, value in fields.items():
        row[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    with db.atomic():
        run_id: int = db.table("runs").insert(row).last_pk  # type: ignore[assignment]
    _started.add((_db_file(db), run_id))
    return run_id


def drop_broken_transaction(db: Database) -> None:
    """Roll back a transaction an exception left open, before a failed or interrupted run is closed.

    sqlite-utils' atomic() runs BEGIN before its try, so a signal landing just after BEGIN (or
    during COMMIT) leaves the transaction open: the run's closing row would nest in it, as a
    savepoint, and be lost with it when the process exits.
    """
    if db.conn.in_transaction:
        db.conn.rollback()


def finish_run(db: Database, run_id: int, status: str, message: str | None = None, **counts: int) -> None:
    "Close a run with its final status and counts."
    errors = db.execute("select count(*) from run_errors where run_id = ?", [run_id]).fetchone()[0]
    with db.atomic():
        db.table("runs").update(run_id, {"finished_at": now(), "status": status, "message": message,
                                   "errors": errors, **counts})


def record_error(db: Database, run_id: int, stage: str, error: str, *, doc_id: str | None = None,
                 plugin: str | None = None, detail: str | None = None) -> None:
    "Store one failure of a run (a plugin raising, a fetch failing, a bad file)."
    db.table("run_errors").insert({"run_id": run_id, "stage": stage, "doc_id": doc_id, "plugin": plugin,
                             "error": error, "detail": detail, "at": now()})


def _insert_sql(table: str, columns: tuple[str, ...], verb: str = "insert") -> str:
    "An INSERT with one placeholder per column; names come from the schema, values are parameters."
    return "%s into [%s] (%s) values (%s)" % (verb, table, ", ".join(f"[{c}]" for c in columns),
                                              ", ".join("?" * len(columns)))


# Prepared once: sqlite-utils' insert() re-reads the table schema on every call, which
# dominated the time to store a document.
DOCUMENT_COLUMNS = tuple(Document.__dataclass_fields__) + ("content_key", "first_seen_run", "last_seen_run")
INSERT_DOCUMENT = _insert_sql("documents", DOCUMENT_COLUMNS)
# extracted_with too: a changed text stored without extraction (ingest --no-extract) must leave
# the document for the next extract, not marked done with its old text's claims.
UPDATED_COLUMNS = tuple(c for c in DOCUMENT_COLUMNS if c not in ("id", "first_seen_run")) + ("extracted_with",)
UPDATE_DOCUMENT = "update documents set %s where id = ?" % ", ".join(f"[{c}] = ?" for c in UPDATED_COLUMNS)
# A document seen again unchanged: its text columns stay out of the SET list, so the
# full-text update trigger (AFTER UPDATE OF title, abstract) does not fire.
SEEN_COLUMNS = tuple(c for c in UPDATED_COLUMNS if c not in ("title", "abstract"))
UPDATE_SEEN_DOCUMENT = "update documents set %s where id = ?" % ", ".join(f"[{c}] = ?" for c in SEEN_COLUMNS)
# Inserts are indexed here, not by a trigger (see migration m008); updates and deletes by triggers.
INDEX_DOCUMENT = "insert into documents_fts (rowid, title, abstract) values (?, ?, ?)"
INDEX_CLAIMS = ("insert into claims_fts (rowid, sentence) select rowid, sentence from claims "
                "where id in (select value from json_each(?))")
# Identifiers and metadata a later record without them leaves as they were.
KEPT_COLUMNS = ("pmid", "doi", "pmcid", "journal", "pub_date", "year", "entry_date", "language", "vernacular_title",
                "pub_types", "pmid_version")
INSERT_DOCUMENT_ID = _insert_sql("document_ids", ("scheme", "value", "doc_id", "run_id"), "insert or ignore")
CLAIM_COLUMNS = ("id",) + tuple(Claim.__dataclass_fields__) + ("first_seen_run", "last_seen_run", "superseded_run")
INSERT_CLAIM = _insert_sql("claims", CLAIM_COLUMNS)
INSERT_CLAIM_ENTITY = _insert_sql("claim_entities", ("claim_id", "entity", "category"), "insert or ignore")
MENTION_COLUMNS = ("id", "doc_id", "plugin", "plugin_version", "category", "entity", "field", "start", "end",
                   "text", "first_seen_run", "last_seen_run", "superseded_run")
INSERT_MENTION = _insert_sql("mentions", MENTION_COLUMNS)


def document_keys(document: Document) -> list[tuple[str, str]]:
    "Every (scheme, value) a document is known by, in the order matching trusts them."
    keys = [("id", document.id)]
    if document.pmid:
        keys.append(("pmid", document.pmid))
    doi = normal_doi(document.doi or "")
    if doi:
        keys.append(("doi", doi))
    pmcid = normal_pmcid(document.pmcid or "")
    if pmcid:
        keys.append(("pmcid", pmcid))
    keys += [(f"src:{k}", str(v)) for k, v in sorted(document.source_ids.items())]
    if document.title and document.year:
        key = title_key(document.title, document.year)
        # "Editorial", "[Not Available]." or "Correction" name no one paper: too short to match on.
        if len(key.split("|")[0]) >= MIN_TITLE_KEY:
            keys.append(("title-year", key))
    return keys


MIN_TITLE_KEY = 30  # letters and digits of a title before title+year may identify a paper
DOI_PREFIX_RE = re.compile(r"^\s*(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def normal_doi(doi: str) -> str:
    "A DOI as one key: no resolver prefix ('https://doi.org/', 'doi:'), no spaces, lower case."
    return DOI_PREFIX_RE.sub("", doi).strip().lower()


def normal_pmcid(pmcid: str) -> str:
    "A PMC id as one key: 'PMC' and its digits."
    digits = pmcid.strip().upper().removeprefix("PMC")
    return f"PMC{digits}" if digits.isdigit() else ""


def prefixed_id(document: Document) -> str:
    "The id a record is stored under when its own id belongs to another paper ('jsonl:1' beside PMID 1)."
    return f"{document.source or 'record'}:{document.id}"


def find_existing(db: Database, document: Document, keys: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """The stored id of this paper under any identifier (id, PMID, DOI, PMC id, source ids, title+year),
    or None; and whether this record's own id belongs to another paper."""
    where = " or ".join(["(scheme = ? and value = ?)"] * len(keys))
    found = dict(db.execute(f"select scheme || char(31) || value, doc_id from document_ids where {where}",
                            [x for key in keys for x in key]).fetchall())
    id_taken = False
    for scheme, value in keys:
        doc_id = found.get(f"{scheme}\x1f{value}")
        if doc_id and not _conflicts(db, document, doc_id):
            return doc_id, False
        id_taken = id_taken or (doc_id is not None and scheme == "id")
    return None, id_taken


def _conflicts(db: Database, document: Document, doc_id: str) -> bool:
    "Does the stored document have another PMID or DOI than this record: two papers, not one?"
    # A shared DOI (a supplement's abstracts), a common title or a reused local id must never
    # merge two papers that PubMed keeps apart.
    row = db.execute("select pmid, doi from documents where id = ?", [doc_id]).fetchone()
    if row is None:
        return False
    pmid, doi = row
    if document.pmid and pmid and document.pmid != pmid:
        return True
    return bool(document.doi and doi and normal_doi(document.doi) != normal_doi(doi))


def title_key(title: str, year: int) -> str:
    "Normalised title + year: the last resort for matching records across sources."
    return "".join(ch for ch in title.lower() if ch.isalnum())[:200] + f"|{year}"


def save_document(db: Database, document: Document, run_id: int) -> str:
    "Insert or refresh one document; returns 'new', 'changed' or 'same'. Call inside a transaction."
    keys = document_keys(document)
    existing_id, id_taken = find_existing(db, document, keys)
    merged = bool(existing_id and existing_id != document.id)
    if merged:
        # Seen under another id (e.g. a preprint key, now with a PMID): keep the first id, and
        # record this one too, so it still finds the document.
        keys.append(("id", document.id))
        document.id = existing_id  # type: ignore[assignment]
    elif id_taken:
        # Its id is taken by another paper (a local file's "1" beside PMID 1): keep both.
        document.id = prefixed_id(document)
        keys.append(("id", document.id))
    row = document.to_row()
    row["content_key"] = document.content_key()
    old = db.execute(f"select content_key, source_ids, extracted_with, title, abstract, sections, "
                     f"{', '.join(KEPT_COLUMNS)}, deleted from documents where id = ?", [document.id]).fetchone()
    if old is None:
        row.update(first_seen_run=run_id, last_seen_run=run_id, extracted_with=None)
        rowid = db.execute(INSERT_DOCUMENT, [row.get(c) for c in DOCUMENT_COLUMNS]).lastrowid
        db.execute(INDEX_DOCUMENT, [rowid, row["title"], row["abstract"]])
        status = "new"
    else:
        stored_version = old[6 + KEPT_COLUMNS.index("pmid_version")]
        # An earlier version of a versioned PubMed citation, arriving after a later one (efetch
        # may return both, a file may hold either first): the later version's text and
        # metadata stay, as for another source's copy.
        earlier_version = bool(document.pmid_version and stored_version and document.pmid_version < stored_version)
        # A record with no title and no abstract (a metadata-only export line) says nothing of the
        # text: it adds what it knows, as a copy does, and never erases the stored text.
        textless = not (document.title or document.abstract)
        source_ids = json.loads(old[1] or "{}")
        for source, value in document.source_ids.items():
            # A merged copy does not overwrite the paper's id at a source (a Europe PMC preprint's
            # PPR id beside its MED id): document_ids keeps every id either way.
            if not (merged or earlier_version) or source not in source_ids:
                source_ids[source] = value
        row["source_ids"] = json.dumps(source_ids, ensure_ascii=False)
        # A record from another source may lack what the stored one has (a preprint has no
        # PMID): what it does not say never erases what is known. Merged from another source,
        # it only fills gaps.
        for column, value in zip(KEPT_COLUMNS, old[6:]):
            if (merged or earlier_version or row[column] in (None, "", "[]")) and value not in (None, "", "[]"):
                row[column] = value
        if (merged or earlier_version or textless) and (old[3] or old[4]):
            # Another source's copy of a stored paper (a preprint, a Europe PMC record) adds its
            # identifiers, not its text: otherwise the text, and the claims, would follow the
            # order in which the sources happened to arrive.
            row["title"], row["abstract"], row["sections"], row["content_key"] = old[3], old[4], old[5], old[0]
            # The caller extracts from this object: it must hold the stored text, or the claims
            # would be of the copy's text, stored against (and offset into) the paper's.
            document.title, document.abstract = old[3] or "", old[4] or ""
            document.sections = json.loads(old[5]) if old[5] else []
        revived = False
        if old[-1]:
            # A withdrawn paper stays withdrawn (a metadata-only line, a copy, the same record again),
            # unless this is a later version of a citation withdrawn in one version: a new record.
            revived = _revive(db, document, stored_version, run_id)
            row["deleted"] = 0 if revived else 1
        row["last_seen_run"] = run_id
        status = "same" if old[0] == row["content_key"] else "changed"
        # A revived paper is extracted again whatever its text (its withdrawn version's claims are superseded).
        row["extracted_with"] = old[2] if status == "same" and not revived else None
        if status == "same":
            db.execute(UPDATE_SEEN_DOCUMENT, [row.get(c) for c in SEEN_COLUMNS] + [document.id])
        else:
            db.execute(UPDATE_DOCUMENT, [row.get(c) for c in UPDATED_COLUMNS] + [document.id])
    keys[0] = ("id", document.id)
    db.conn.executemany(INSERT_DOCUMENT_ID, [(s, v, document.id, run_id) for s, v in keys])
    return status


# What a withdrawal did (db.mark_deleted): withdrew a stored paper, stored the paper it carried as
# withdrawn, or nothing, as it names no stored paper, another version of the stored one, or a paper
# already withdrawn (by an earlier run, or an earlier record of the same run).
WITHDRAWN, STORED_WITHDRAWN, NOT_STORED, OTHER_VERSION, ALREADY_WITHDRAWN = (
    "withdrawn", "stored withdrawn", "not stored", "other version", "already withdrawn")
# A paper stored withdrawn because a withdrawal read before it names it (withdraw_on_arrival).
ON_ARRIVAL = "withdrawn on arrival"
# The withdrawals that changed nothing when read but may later: their paper, or that version of it,
# may still arrive. The result of a run must not depend on which came first.
REMEMBERED = (NOT_STORED, OTHER_VERSION)


def mark_deleted(db: Database, deletion: Deletion, run_id: int) -> str:
    "Mark a withdrawn record as deleted (kept, never dropped) inside a transaction; return what it did."
    # By its PMID; a JSON Lines record (deletion.document) is found as saving it would find it: its id
    # may name another paper (another PMID or DOI), its copy then stored under a prefixed id. A record
    # that carries its paper (text or metadata) and names none stored is stored, withdrawn; one that
    # only names a paper (a DeleteCitation) stores nothing. With a version, only that version of the
    # citation is withdrawn (a stored record without one is version 1, as PubMed's DTD reads a PMID).
    document = deletion.document
    if document is None:
        row = db.execute("select doc_id from document_ids where scheme = 'pmid' and value = ?",
                         [deletion.pmid]).fetchone()
        doc_id = row[0] if row else None
    else:
        doc_id, id_taken = find_existing(db, document, document_keys(document))
        if doc_id is None and id_taken:
            doc_id = _known_id(db, prefixed_id(document))
            doc_id = None if doc_id and _conflicts(db, document, doc_id) else doc_id
    outcome = WITHDRAWN
    if doc_id is None:
        if document is None or not document.says_more_than_ids():
            return _remember(db, deletion, run_id, NOT_STORED)
        # An export re-imported: the withdrawn paper is kept as it would be had it been seen
        # before its withdrawal (its text, metadata and ids), and never extracted.
        save_document(db, document, run_id)
        doc_id, outcome = document.id, STORED_WITHDRAWN
    else:
        stored, deleted = db.execute("select pmid_version, deleted from documents where id = ?", [doc_id]).fetchone()
        if deletion.version is not None and (stored or 1) != deletion.version:
            return _remember(db, deletion, run_id, OTHER_VERSION)
        if deleted:
            # deleted_run stays the run that withdrew it. One without a version names every version:
            # kept against the paper (no withdrawn_run: it withdrew nothing), so a later version,
            # which would end a withdrawal of one version, stays withdrawn (_revive), as it would
            # had this withdrawal been read after it.
            return _remember(db, deletion, run_id, ALREADY_WITHDRAWN, doc_id if deletion.version is None else None)
    _withdraw(db, doc_id, run_id)
    return _remember(db, deletion, run_id, outcome, doc_id)


def _withdraw(db: Database, doc_id: str, run_id: int) -> None:
    "Mark a stored paper withdrawn from this run on."
    # last_seen_run is left alone: a withdrawal names the paper, it is no record of it read, and
    # the run's documents_seen (and its crash recount) counts records read.
    db.execute("update documents set deleted = 1, deleted_run = coalesce(deleted_run, ?) where id = ?",
               [run_id, doc_id])


def _remember(db: Database, deletion: Deletion, run_id: int, outcome: str, doc_id: str | None = None) -> str:
    "Keep a withdrawal read, with what it did (and the paper it withdrew); return the outcome."
    document = deletion.document
    # Found as mark_deleted finds a paper: by PMID, else (a JSON Lines line without one) by its id.
    scheme = "pmid" if document is None or document.pmid else "id"
    doi = normal_doi(document.doi) if document is not None and document.doi else None
    withdrew = outcome in (WITHDRAWN, STORED_WITHDRAWN)
    row = db.execute("insert into withdrawals (run_id, at, scheme, value, doi, version, outcome, doc_id, withdrawn_run) "
                     "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [run_id, now(), scheme, deletion.pmid, doi, deletion.version, outcome, doc_id,
                      run_id if withdrew else None]).lastrowid
    if outcome in REMEMBERED:
        # Every identifier mark_deleted looked the paper up by (a PMC id, a source id, its own id beside
        # its PMID), so that the paper arriving later is found by any of them (withdraw_on_arrival).
        keys = document_keys(document) if document is not None else []
        db.conn.executemany("insert or ignore into withdrawal_ids (withdrawal_id, scheme, value) values (?, ?, ?)",
                            [(row, s, v) for s, v in [(scheme, deletion.pmid), *keys]])
    return outcome


def withdraw_on_arrival(db: Database, document: Document, run_id: int) -> str | None:
    """After a record is saved: ON_ARRIVAL if a withdrawal read before it names its paper (now
    withdrawn from this run on), WITHDRAWN if the paper is withdrawn already, None if it is live."""
    pmid, doi, version, deleted = db.execute("select pmid, doi, pmid_version, deleted from documents where id = ?",
                                             [document.id]).fetchone()
    if deleted:
        return WITHDRAWN
    # Nearly always none is waiting (by the doc_id index): every record stored passes here.
    if db.execute(f"select 1 from withdrawals where doc_id is null and outcome in ({','.join('?' * len(REMEMBERED))}) "
                  "limit 1", REMEMBERED).fetchone() is None:
        return None
    # The remembered withdrawals that name this paper as mark_deleted would find it, had it been read
    # after the paper: by any identifier the paper is stored under (withdrawal_ids against document_ids:
    # its own id, PMID, DOI, PMC id, source ids, title+year, a merged copy's too), or the id whose taken
    # id gave it a prefixed one (see prefixed_id); never when they name another DOI or PMID
    # (_conflicts); of the version now stored (a record stored without a version is version 1; a
    # withdrawal without one names every version).
    names = {("id", document.id), *db.execute("select scheme, value from document_ids where doc_id = ?",
                                              [document.id])}
    taken = document.id.removeprefix(f"{document.source}:")
    if taken != document.id and _known_id(db, taken) not in (None, document.id):
        names.add(("id", taken))
    doi = doi and normal_doi(doi)
    # By the withdrawal_ids (scheme, value) index ("+": not by doc_id, which would read every waiting
    # withdrawal for every record, and an update file's DeleteCitations of papers never stored wait forever).
    where = " or ".join(["(i.scheme = ? and i.value = ?)"] * len(names))
    rows = [r[0] for r in db.execute(
        f"select distinct w.id from withdrawal_ids i join withdrawals w on w.id = i.withdrawal_id where ({where}) "
        f"and +w.doc_id is null and w.outcome in ({','.join('?' * len(REMEMBERED))}) "
        "and (w.version is null or w.version = ?) and (w.doi is null or ? is null or w.doi = ?) "
        "and not (w.scheme = 'pmid' and w.value != coalesce(?, w.value)) order by w.id",
        [*(x for name in sorted(names) for x in name), *REMEMBERED, version or 1, doi, doi, pmid or None])]
    if not rows:
        return None
    _withdraw(db, document.id, run_id)
    # The earliest withdraws it; every other is the paper's too (not applied again to a later
    # version, and one without a version keeps that version withdrawn too, see _revive), as it
    # would be had it been read after the paper: one paper withdrawn once, whatever the order.
    db.execute("update withdrawals set doc_id = ?, withdrawn_run = ? where id = ?", [document.id, run_id, rows[0]])
    db.conn.executemany("update withdrawals set doc_id = ? where id = ?", [(document.id, i) for i in rows[1:]])
    return ON_ARRIVAL


def _revive(db: Database, document: Document, stored_version: int | None, run_id: int) -> bool:
    "Store a later version of a paper withdrawn in an earlier one live (a new record); False if it stays withdrawn."
    if not document.pmid_version or document.pmid_version <= (stored_version or 1):
        return False
    # Every withdrawal in force must name an earlier version: one without a version names them all,
    # whether it withdrew the paper or found it withdrawn already.
    versions = [r[0] for r in db.execute("select version from withdrawals where doc_id = ? and withdrawn_run is not null "
                                         "and revived_run is null", [document.id])]
    if not versions or any(v is None or v >= document.pmid_version for v in versions):
        return False
    if db.execute("select 1 from withdrawals where doc_id = ? and version is null and revived_run is null",
                  [document.id]).fetchone():
        return False
    # Withdrawn since before this run, the paper's claims were not current when the run began.
    withdrawn_before = db.execute("select 1 from withdrawals where doc_id = ? and withdrawn_run < ? "
                                  "and revived_run is null", [document.id, run_id]).fetchone() is not None
    # The withdrawals stay, ended at this run (diff.CURRENT_AT): the runs before still see the paper
    # withdrawn. Nothing of the withdrawn version stays current by itself: its claims are superseded
    # here (not counted as this run's: they were not current before it), and those the new version
    # yields again come back as restored claims.
    db.execute("update withdrawals set revived_run = ? where doc_id = ? and withdrawn_run is not null "
               "and revived_run is null", [run_id, document.id])
    db.execute("update documents set deleted_run = null where id = ?", [document.id])
    if withdrawn_before:
        # Only claims of earlier runs: with --workers, this run's extraction of the withdrawn version
        # may land before or after this point, so the new version's extraction, not the revival,
        # supersedes what it yields (counted, as without a withdrawal). Withdrawn in this run too,
        # the paper was live when the run began: its new version's extraction alone decides.
        # "+": by the doc_id index (see _current_ids).
        db.execute("update claims set superseded_run = ? where doc_id = ? and +superseded_run is null "
                   "and first_seen_run < ?", [run_id, document.id, run_id])
        db.execute("update mentions set superseded_run = ? where doc_id = ? and +superseded_run is null "
                   "and first_seen_run < ?", [run_id, document.id, run_id])
    return True


def withdrawn_on_arrival(db: Database | sqlite3.Connection, run_id: int) -> int:
    "Papers a run (with a scheduled run's fetches) stored withdrawn because a withdrawal read before them named them."
    marks = ",".join("?" * len(REMEMBERED))
    return db.execute(f"select count(*) from withdrawals where outcome in ({marks}) and withdrawn_run in "
                      "(select id from runs where id = ? or parent_run = ?)", [*REMEMBERED, run_id, run_id]).fetchone()[0]


def _known_id(db: Database, doc_id: str) -> str | None:
    "The stored paper this id was recorded for, if any."
    row = db.execute("select doc_id from document_ids where scheme = 'id' and value = ?", [doc_id]).fetchone()
    return row[0] if row else None


def _current_ids(db: Database, table: str, doc_id: str, plugins: list[str]) -> list[str]:
    "Ids of the rows (claims or mentions) these plugins currently hold for a document."
    marks = ",".join("?" * len(plugins))
    sql = {
        # "+": by the doc_id index, never the superseded_run one (which walks every current row).
        "claims": f"select id from claims where doc_id = ? and plugin in ({marks}) and +superseded_run is null",
        "mentions": f"select id from mentions where doc_id = ? and plugin in ({marks}) and +superseded_run is null",
    }[table]
    return [r[0] for r in db.execute(sql, [doc_id, *plugins])]


def _known(db: Database, table: str, ids: list[str]) -> set[str]:
    "Which of ids are already stored in table (claims or mentions)."
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        sql = {"claims": f"select id from claims where id in ({marks})",
               "mentions": f"select id from mentions where id in ({marks})"}[table]
        known.update(r[0] for r in db.execute(sql, chunk))
    return known


def save_extraction(db: Database, document: Document, plugins: Iterable[str],
                    items: Iterable[Claim | Mention], run_id: int, extracted_with: str | None) -> tuple[int, int, int]:
    """Store what plugins produced for one document; supersede what they no longer produce.

    Returns (new claims, superseded claims, restored claims): a restored claim is one an earlier
    run superseded, produced again (current again, with no new row). Call inside a transaction.
    """
    plugins = list(plugins)
    items = list(items)
    claims = {c.id: c for c in items if isinstance(c, Claim)}
    mentions = {m.id: m for m in items if isinstance(m, Mention)}
    superseded = 0
    if plugins:
        gone = [i for i in _current_ids(db, "claims", document.id, plugins) if i not in claims]
        superseded = len(gone)
        db.conn.executemany("update claims set superseded_run = ? where id = ?", [(run_id, i) for i in gone])
        gone_mentions = [i for i in _current_ids(db, "mentions", document.id, plugins) if i not in mentions]
        db.conn.executemany("update mentions set superseded_run = ? where id = ?", [(run_id, i) for i in gone_mentions])
    seen = _known(db, "claims", list(claims))
    restored = 0
    if seen:
        # A superseded claim produced again: keep the interval it was not current (diff.CURRENT_AT).
        restored = db.execute("insert into claim_gaps (claim_id, superseded_run, restored_run) select id, superseded_run, ? "
                   "from claims where superseded_run is not null and id in (select value from json_each(?))",
                   [run_id, json.dumps(sorted(seen))]).rowcount
    # The same claim from a later plugin version keeps its row as it was (plugin_version is the
    # version that first produced it): a diff of two past runs never changes afterwards.
    db.conn.executemany(
        "update claims set last_seen_run = ?, superseded_run = null where id = ?",
        [(run_id, i) for i in seen],
    )
    fresh = [c for i, c in claims.items() if i not in seen]
    rows = []
    for claim in fresh:
        row = claim.to_row()
        row.update(first_seen_run=run_id, last_seen_run=run_id, superseded_run=None)
        rows.append([row.get(c) for c in CLAIM_COLUMNS])
    db.conn.executemany(INSERT_CLAIM, rows)
    if fresh:
        db.execute(INDEX_CLAIMS, [json.dumps([c.id for c in fresh])])
    db.conn.executemany(INSERT_CLAIM_ENTITY, [(c.id, e, c.category) for c in fresh for e in set(c.entities)])
    seen_mentions = _known(db, "mentions", list(mentions))
    db.conn.executemany("update mentions set last_seen_run = ?, superseded_run = null where id = ?",
                   [(run_id, i) for i in seen_mentions])
    db.conn.executemany(INSERT_MENTION, [
        (i, m.doc_id, m.plugin, m.plugin_version, m.category, m.entity, m.field, m.start, m.end, m.text,
         run_id, run_id, None)
        for i, m in mentions.items() if i not in seen_mentions
    ])
    if extracted_with is not None:
        db.execute("update documents set extracted_with = ? where id = ?", [extracted_with, document.id])
    return len(fresh), superseded, restored


def claims_restored(db: Database | sqlite3.Connection, run_id: int) -> int:
    "Claims a run (with a scheduled run's fetches) made current again after an earlier run superseded them."
    # claim_gaps has one row per restoration, written by save_extraction: no runs column needed.
    return db.execute("select count(*) from claim_gaps where restored_run in "
                      "(select id from runs where id = ? or parent_run = ?)", [run_id, run_id]).fetchone()[0]


def table_counts(db: Database) -> dict[str, int]:
    "Row counts of the data tables, for summaries and tests."
    return {t: db[t].count for t in ("documents", "claims", "mentions", "runs", "run_errors", "ledger")}
