"""The evidence store: open with migrations, record runs, save documents and claims idempotently."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .errors import UsageError
from .migrations import migrations
from .models import Claim, Document, Extractor, Mention


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_db_path(path: Path) -> None:
    "Refuse an unusable database path before anything (the lock file included) is created."
    if path.is_dir():
        raise UsageError(f"database path {path} is a directory")
    if path.exists():
        try:  # os.access says yes to root on a read-only mount; opening for update tells the truth
            with open(path, "r+b") as f:
                head = f.read(16)
        except OSError as ex:
            raise UsageError(f"database {path} is not writable: {ex.strerror or ex}") from None
        # SQLite silently turns a short non-database file into a database: check the magic first.
        if head and head != b"SQLite format 3\x00":
            raise UsageError(f"{path} is not a usable SQLite database (it is some other file)")
        return
    if not path.parent.is_dir():
        raise UsageError(f"cannot create database {path}: directory {path.parent} does not exist")
    try:  # an anonymous temporary file: nothing is left behind whatever happens
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as ex:
        raise UsageError(f"cannot create database {path}: directory {path.parent} is not writable "
                         f"({ex.strerror or ex})") from None


def open_db(path: str | os.PathLike, *, create: bool = True) -> Database:
    "Open (or create) a database in WAL mode with every migration applied."
    path = Path(path)
    if not path.exists() and not create:
        raise UsageError(f"database {path} does not exist")
    check_db_path(path)
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db = Database(conn)
        db.execute("pragma foreign_keys = off")  # rows arrive in batches; FKs are for readers
        if db.journal_mode != "wal":
            db.enable_wal()
        db.execute("pragma synchronous = normal")
        migrations.apply(db)
    except sqlite3.DatabaseError as ex:
        raise UsageError(f"{path} is not a usable SQLite database: {ex}") from None
    return db


def plugin_signature(extractors: Iterable[Extractor]) -> dict[str, dict[str, str]]:
    "name -> version and data hash, stored on every run and compared to skip work."
    return {e.name: {"version": e.version, "data_hash": e.data_hash()} for e in extractors}


def signature_key(signature: dict) -> str:
    return json.dumps(signature, sort_keys=True)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_interrupted_runs(db: Database) -> int:
    "Mark runs left 'running' by a process that no longer exists (killed, crashed) as interrupted."
    stale = [r["id"] for r in db.query("select id, pid from runs where status = 'running'")
             if r["pid"] != os.getpid() and not _alive(r["pid"])]
    if stale:
        with db.atomic():
            for run_id in stale:
                db["runs"].update(run_id, {"status": "interrupted", "message": "process ended before the run finished"})
                db.execute("update ledger set status = 'interrupted' where run_id = ? and status = 'running'", [run_id])
    return len(stale)


def start_run(db: Database, command: str, plugins: dict | None = None, **fields: Any) -> int:
    "Insert a run row with status 'running' and return its id (committed at once)."
    from . import __version__

    close_interrupted_runs(db)

    row = {
        "command": command, "started_at": now(), "status": "running",
        "evidex_version": __version__, "plugins": json.dumps(plugins or {}, sort_keys=True),
        "documents_seen": 0, "documents_new": 0, "documents_changed": 0, "claims_new": 0,
        "claims_superseded": 0, "errors": 0, "pid": os.getpid(),
    }
    for key, value in fields.items():
        row[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    with db.atomic():
        return db["runs"].insert(row).last_pk  # type: ignore[return-value]


def finish_run(db: Database, run_id: int, status: str, message: str | None = None, **counts: int) -> None:
    "Close a run with its final status and counts."
    errors = db.execute("select count(*) from run_errors where run_id = ?", [run_id]).fetchone()[0]
    with db.atomic():
        db["runs"].update(run_id, {"finished_at": now(), "status": status, "message": message,
                                   "errors": errors, **counts})


def record_error(db: Database, run_id: int, stage: str, error: str, *, doc_id: str | None = None,
                 plugin: str | None = None, detail: str | None = None) -> None:
    "Store one failure of a run (a plugin raising, a fetch failing, a bad file)."
    db["run_errors"].insert({"run_id": run_id, "stage": stage, "doc_id": doc_id, "plugin": plugin,
                             "error": error, "detail": detail, "at": now()})


def find_existing(db: Database, document: Document) -> str | None:
    "The stored id of this document under any identifier: PMID, then DOI, then source id."
    candidates = [("id", document.id)]
    if document.pmid:
        candidates.append(("pmid", document.pmid))
    if document.doi:
        candidates.append(("doi", document.doi.lower()))
    candidates += [(f"src:{k}", v) for k, v in sorted(document.source_ids.items())]
    if document.title and document.year:
        candidates.append(("title-year", title_key(document.title, document.year)))
    for scheme, value in candidates:
        row = db.execute("select doc_id from document_ids where scheme = ? and value = ?",
                         [scheme, value]).fetchone()
        if row:
            return row[0]
    return None


def title_key(title: str, year: int) -> str:
    "Normalised title + year: the last resort for matching records across sources."
    return "".join(ch for ch in title.lower() if ch.isalnum())[:200] + f"|{year}"


def save_document(db: Database, document: Document, run_id: int) -> str:
    "Insert or refresh one document; returns 'new', 'changed' or 'same'. Call inside a transaction."
    existing_id = find_existing(db, document)
    if existing_id and existing_id != document.id:
        # Seen under another id (e.g. a preprint key, now with a PMID): keep the first id.
        document.id = existing_id
    row = document.to_row()
    row["content_key"] = document.content_key()
    old = db.execute("select content_key, source_ids from documents where id = ?", [document.id]).fetchone()
    if old is None:
        row.update(first_seen_run=run_id, last_seen_run=run_id)
        db["documents"].insert(row)
        status = "new"
    else:
        merged = json.loads(old[1] or "{}")
        merged.update(document.source_ids)
        row["source_ids"] = json.dumps(merged, ensure_ascii=False)
        row["last_seen_run"] = run_id
        row.pop("extracted_with", None)
        status = "same" if old[0] == row["content_key"] else "changed"
        if status == "changed":
            row["extracted_with"] = None
        db["documents"].update(document.id, row)
    ids = [("id", document.id)]
    if document.pmid:
        ids.append(("pmid", document.pmid))
    if document.doi:
        ids.append(("doi", document.doi.lower()))
    ids += [(f"src:{k}", v) for k, v in document.source_ids.items()]
    if document.title and document.year:
        ids.append(("title-year", title_key(document.title, document.year)))
    db["document_ids"].insert_all(
        [{"scheme": s, "value": v, "doc_id": document.id, "run_id": run_id} for s, v in ids],
        ignore=True,
    )
    return status


def mark_deleted(db: Database, pmid: str, run_id: int) -> bool:
    "Mark a withdrawn PubMed record as deleted (kept, never dropped); True if it was stored."
    row = db.execute("select doc_id from document_ids where scheme = 'pmid' and value = ?", [pmid]).fetchone()
    if not row:
        return False
    db["documents"].update(row[0], {"deleted": 1, "last_seen_run": run_id})
    return True


def save_extraction(db: Database, document: Document, plugins: Iterable[str],
                    items: Iterable[Claim | Mention], run_id: int, extracted_with: str | None) -> tuple[int, int]:
    """Store what plugins produced for one document; supersede what they no longer produce.

    Returns (new claims, superseded claims). Call inside a transaction.
    """
    plugins = list(plugins)
    claims = [i for i in items if isinstance(i, Claim)]
    mentions = [i for i in items if isinstance(i, Mention)]
    new = superseded = 0
    claim_ids = {c.id for c in claims}
    marks = ",".join("?" * len(plugins))
    if plugins:
        current = db.execute(
            f"select id from claims where doc_id = ? and plugin in ({marks}) and superseded_run is null",
            [document.id, *plugins],
        ).fetchall()
        gone = [r[0] for r in current if r[0] not in claim_ids]
        if gone:
            superseded = len(gone)
            db.execute(
                f"update claims set superseded_run = ? where id in ({','.join('?' * len(gone))})",
                [run_id, *gone],
            )
        mention_ids = {m.id for m in mentions}
        for (mid,) in db.execute(
            f"select id from mentions where doc_id = ? and plugin in ({marks}) and superseded_run is null",
            [document.id, *plugins],
        ).fetchall():
            if mid not in mention_ids:
                db.execute("update mentions set superseded_run = ? where id = ?", [run_id, mid])
    for claim in claims:
        row = claim.to_row()
        seen = db.execute("select 1 from claims where id = ?", [row["id"]]).fetchone()
        if seen:
            db.execute(
                "update claims set last_seen_run = ?, superseded_run = null, plugin_version = ? where id = ?",
                [run_id, claim.plugin_version, row["id"]],
            )
            continue
        row.update(first_seen_run=run_id, last_seen_run=run_id, superseded_run=None)
        db["claims"].insert(row)
        db["claim_entities"].insert_all(
            [{"claim_id": row["id"], "entity": e, "category": claim.category} for e in set(claim.entities)],
            ignore=True,
        )
        new += 1
    for mention in mentions:
        mid = mention.id
        if db.execute("select 1 from mentions where id = ?", [mid]).fetchone():
            db.execute("update mentions set last_seen_run = ?, superseded_run = null where id = ?", [run_id, mid])
            continue
        db["mentions"].insert({
            "id": mid, "doc_id": mention.doc_id, "plugin": mention.plugin,
            "plugin_version": mention.plugin_version, "category": mention.category,
            "entity": mention.entity, "field": mention.field, "start": mention.start,
            "end": mention.end, "text": mention.text, "first_seen_run": run_id,
            "last_seen_run": run_id, "superseded_run": None,
        })
    if extracted_with is not None:
        db["documents"].update(document.id, {"extracted_with": extracted_with})
    return new, superseded


def table_counts(db: Database) -> dict[str, int]:
    "Row counts of the data tables, for summaries and tests."
    return {t: db[t].count for t in ("documents", "claims", "mentions", "runs", "run_errors", "ledger")}
