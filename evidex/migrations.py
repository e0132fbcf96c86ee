"""The schema's history as named migrations, applied whenever a database is opened."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("evidex")


@migrations()
def m001_initial(db: Database) -> None:
    db["runs"].create(
        {
            "id": int, "command": str, "started_at": str, "finished_at": str, "status": str,
            "evidex_version": str, "plugins": str, "baseline_id": str, "source": str,
            "query": str, "window_start": str, "window_end": str, "options": str,
            "documents_seen": int, "documents_new": int, "documents_changed": int,
            "claims_new": int, "claims_superseded": int, "errors": int, "pid": int,
            "message": str,
        },
        pk="id",
        not_null={"command", "started_at", "status"},
    )
    db["documents"].create(
        {
            "id": str, "pmid": str, "doi": str, "pmcid": str, "source": str, "source_ids": str,
            "title": str, "abstract": str, "journal": str, "pub_date": str, "year": int,
            "entry_date": str, "language": str, "pub_types": str, "sections": str,
            "vernacular_title": str, "deleted": int, "content_key": str, "extracted_with": str,
            "first_seen_run": int, "last_seen_run": int,
        },
        pk="id",
        foreign_keys=[("first_seen_run", "runs", "id"), ("last_seen_run", "runs", "id")],
        defaults={"deleted": 0},
    )
    # Every identifier a document was seen under, for cross-source de-duplication.
    db["document_ids"].create(
        {"scheme": str, "value": str, "doc_id": str, "run_id": int},
        pk=("scheme", "value"),
        foreign_keys=[("doc_id", "documents", "id"), ("run_id", "runs", "id")],
    )
    db["claims"].create(
        {
            "id": str, "doc_id": str, "plugin": str, "plugin_version": str, "category": str,
            "subject": str, "predicate": str, "object": str, "direction": str,
            "negated": int, "negation_cues": str, "hedged": int, "hedge_cues": str,
            "role": str, "entities": str, "section": str, "study_system": str,
            "cancer_type": str, "sentence": str, "field": str, "start": int, "end": int,
            "confidence": float, "extra": str,
            "first_seen_run": int, "last_seen_run": int, "superseded_run": int,
        },
        pk="id",
        foreign_keys=[
            ("doc_id", "documents", "id"), ("first_seen_run", "runs", "id"),
            ("last_seen_run", "runs", "id"), ("superseded_run", "runs", "id"),
        ],
    )
    # One row per (claim, entity): "claims naming STING1" is an indexed lookup.
    db["claim_entities"].create(
        {"claim_id": str, "entity": str, "category": str},
        pk=("claim_id", "entity"),
        foreign_keys=[("claim_id", "claims", "id")],
    )
    db["mentions"].create(
        {
            "id": str, "doc_id": str, "plugin": str, "plugin_version": str, "category": str,
            "entity": str, "field": str, "start": int, "end": int, "text": str,
            "first_seen_run": int, "last_seen_run": int, "superseded_run": int,
        },
        pk="id",
        foreign_keys=[("doc_id", "documents", "id"), ("first_seen_run", "runs", "id"),
                      ("last_seen_run", "runs", "id"), ("superseded_run", "runs", "id")],
    )
    db["run_errors"].create(
        {"id": int, "run_id": int, "stage": str, "doc_id": str, "plugin": str,
         "error": str, "detail": str, "at": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    # Coverage ledger: one row per run, source, query and date window.
    db["ledger"].create(
        {"id": int, "run_id": int, "source": str, "query": str, "window_start": str,
         "window_end": str, "expected": int, "fetched": int, "parsed": int, "stored": int,
         "skipped": int, "skipped_reasons": str, "failed": int, "status": str, "detail": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    # The incremental cursor, per source and query; only a balanced ledger moves it.
    db["watermarks"].create(
        {"source": str, "query": str, "last_complete": str, "run_id": int, "updated_at": str},
        pk=("source", "query"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    for table, columns in [
        ("documents", ["pmid"]), ("documents", ["doi"]), ("documents", ["year"]),
        ("documents", ["last_seen_run"]), ("claims", ["doc_id"]), ("claims", ["category"]),
        ("claims", ["plugin"]), ("claims", ["subject"]), ("claims", ["direction"]),
        ("claims", ["first_seen_run"]), ("claims", ["superseded_run"]),
        ("claim_entities", ["entity"]), ("mentions", ["doc_id"]), ("mentions", ["entity"]),
        ("run_errors", ["run_id"]), ("ledger", ["run_id"]), ("document_ids", ["doc_id"]),
    ]:
        db[table].create_index(columns)


@migrations()
def m002_search(db: Database) -> None:
    db["documents"].enable_fts(["title", "abstract"], create_triggers=True, tokenize="porter")
    db["claims"].enable_fts(["sentence"], create_triggers=True, tokenize="porter")


@migrations()
def m004_views(db: Database) -> None:
    # The SQL lives in evidex/views.py, where it is documented for SQL and Datasette users.
    from .views import create_views

    create_views(db)
