"""Runs: store records, extract claims from what is new, and keep the run's books."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlite_utils import Database

from . import db as store
from .models import Deletion, Document, Extractor
from .pipeline import ExtractionError, extract


# The counters a run row keeps (see the runs table), shared by every command that writes runs.
RUN_FIELDS = ("documents_seen", "documents_new", "documents_changed", "claims_new", "claims_superseded",
              "documents_withdrawn", "withdrawals_not_stored", "withdrawals_other_version",
              "withdrawals_already_withdrawn")


@dataclass
class Counts:
    "What a run did, added up as it goes."

    documents_seen: int = 0
    documents_new: int = 0
    documents_changed: int = 0
    documents_withdrawn: int = 0
    # Withdrawals that changed nothing: of no stored paper, of another version of the stored one,
    # or of a paper an earlier withdrawal withdrew (its deleted_run stays that one's).
    withdrawals_not_stored: int = 0
    withdrawals_other_version: int = 0
    withdrawals_already_withdrawn: int = 0
    claims_new: int = 0
    claims_superseded: int = 0
    # Not a runs column: claim_gaps holds one row per restoration (db.claims_restored reads it).
    claims_restored: int = 0
    # Of documents_withdrawn, papers stored withdrawn as they arrived, named by a withdrawal read
    # before them. Not a runs column: the withdrawals table says it (db.withdrawn_on_arrival).
    withdrawn_on_arrival: int = 0
    errors: list[ExtractionError] = field(default_factory=list)

    def as_run_fields(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RUN_FIELDS}

    def add_withdrawal(self, outcome: str) -> None:
        "Count what one withdrawal did (db.mark_deleted's outcome)."
        # Only a withdrawal that carried its paper is a document read (seen, new): one that names a
        # stored paper is not, as documents.last_seen_run says (the crash recount reads it).
        if outcome == store.STORED_WITHDRAWN:
            self.documents_seen += 1
            self.documents_new += 1
        if outcome in (store.WITHDRAWN, store.STORED_WITHDRAWN):
            self.documents_withdrawn += 1
        elif outcome == store.NOT_STORED:
            self.withdrawals_not_stored += 1
        elif outcome == store.ALREADY_WITHDRAWN:
            self.withdrawals_already_withdrawn += 1
        elif outcome == store.OTHER_VERSION:
            self.withdrawals_other_version += 1
        else:  # a new outcome of mark_deleted must be counted somewhere on purpose, not as another's
            raise ValueError(f"unknown withdrawal outcome {outcome!r}")


def new_claims(new: int, restored: int) -> str:
    "'3 new claims, 2 restored' for a summary line: restored claims (superseded once, current again) only when there are any."
    # Without them a run that only brought claims back reads "0 new claims" while diff lists them.
    return f"{new} new claims" + (f", {restored} restored" if restored else "")


def withdrawals_skipped(not_stored: int | None, other_version: int | None, already: int | None) -> str:
    "'withdrawals skipped: 1 of no stored paper, ...' from a run's counts (None: not recorded), or nothing."
    parts = [f"{n} of {what}" for n, what in ((not_stored, "no stored paper"), (other_version, "another version"),
                                               (already, "a paper already withdrawn")) if n]
    return f"withdrawals skipped: {', '.join(parts)}" if parts else ""


def withdrawals_note(counts: Any) -> str:
    "'; 2 withdrawn (1 on arrival); withdrawals skipped: ...' to end a summary line (Counts or run totals), or nothing."
    # Out of the documents' brackets: a withdrawal names a paper, it is no record of it read (only
    # one carrying a paper never stored is, and that paper is counted there as well).
    arrived = counts.withdrawn_on_arrival
    withdrawn = (f"{counts.documents_withdrawn} withdrawn" + (f" ({arrived} on arrival)" if arrived else "")
                 if counts.documents_withdrawn else "")
    skipped = withdrawals_skipped(counts.withdrawals_not_stored, counts.withdrawals_other_version,
                                  counts.withdrawals_already_withdrawn)
    return "".join(f"; {part}" for part in (withdrawn, skipped) if part)


class Extraction:
    "The extractors of a run with their one shared pipeline, built once; optionally in worker processes."

    def __init__(self, extractors: Iterable[Extractor], model: str | None = None, workers: int = 1,
                 only: Iterable[str] | None = None):
        everyone = list(extractors)
        wanted = set(only) if only else None
        # `--extractor NAME` runs a few, but every extractor still sets up its pipes: the shared
        # parse (and so what the few find) must not depend on which others run.
        self.extractors = [e for e in everyone if wanted is None or e.name in wanted]
        self.names = [e.name for e in self.extractors]
        self.partial = len(self.extractors) < len(everyone)
        self.signature = store.plugin_signature(self.extractors)
        from .nlp import make_nlp, pipeline_signature  # spaCy loads only when a command extracts

        # A document is up to date when both all its extractors and the parse they read are
        # unchanged; a partial run works on the documents that are not, and marks none of them.
        self.pipeline = pipeline_signature(model)
        self.key = store.signature_key({**store.plugin_signature(everyone), "(pipeline)": self.pipeline})

        self.nlp = make_nlp(everyone, model)
        # Documents a plugin raised on in this command: unchanged, they would fail the same way again
        # (a run's later query returning the same paper); left unextracted, the next command retries them.
        self.failed: set[str] = set()
        self.workers = None
        if workers > 1 and self.extractors:
            from .workers import Workers

            self.workers = Workers(self.nlp, self.extractors, workers)

    def extract(self, documents: Iterable[Document],
                on_error: Callable[[ExtractionError], None]) -> Iterator[tuple[Document, list]]:
        "Stream (document, claims and mentions), here or in the worker processes; same output either way."
        if self.workers is not None:
            return self.workers.extract(documents, on_error)
        return extract(self.nlp, documents, self.extractors, on_error)

    def close(self) -> None:
        "Stop the worker processes, if any."
        if self.workers is not None:
            self.workers.close()
            self.workers = None


def store_records(
    db: Database,
    run_id: int,
    records: Iterable[Document | Deletion],
    extraction: Extraction | None,
    counts: Counts,
    on_stored: Callable[[Document], None] | None = None,
    force: bool = False,
) -> None:
    """Save records and extract claims from new or changed documents, streaming.

    The caller owns the transaction: one per file, or one per fetched batch.
    """

    def saved() -> Iterator[Document]:
        for record in records:
            if isinstance(record, Deletion):
                counts.add_withdrawal(store.mark_deleted(db, record, run_id))
                continue
            counts.documents_seen += 1
            status = store.save_document(db, record, run_id)
            if on_stored:
                on_stored(record)
            if status == "new":
                counts.documents_new += 1
            elif status == "changed":
                counts.documents_changed += 1
            withdrawn = store.withdraw_on_arrival(db, record, run_id)
            if withdrawn == store.ON_ARRIVAL:
                counts.documents_withdrawn += 1
                counts.withdrawn_on_arrival += 1
            if extraction is None or withdrawn:  # a withdrawn paper is never extracted
                continue
            if status == "same" and not force:
                done = db.execute("select extracted_with from documents where id = ?", [record.id]).fetchone()
                if (done and done[0] == extraction.key) or record.id in extraction.failed:
                    continue
            yield record

    if extraction is None:
        for _ in saved():
            pass
        return
    save_found(db, run_id, extraction, saved(), counts)


def save_found(db: Database, run_id: int, extraction: Extraction, documents: Iterable[Document],
               counts: Counts, commit_every: int | None = None, count_seen: bool = False) -> None:
    """Extract from documents and store the claims; failures go to run_errors.

    The caller owns the transaction, or with commit_every one commits after each that many
    documents (the stream keeps flowing between them, so worker processes never sit idle); then
    counts take in a chunk only once it is committed (and count_seen adds its documents), so an
    interrupted run's row counts what it stored, not what was rolled back.
    """
    failed: set[tuple[str, str]] = set()

    def on_error(err: ExtractionError) -> None:
        counts.errors.append(err)
        failed.add((err.doc_id, err.plugin))
        extraction.failed.add(err.doc_id)
        store.record_error(db, run_id, "extract", err.error, doc_id=err.doc_id, plugin=err.plugin,
                           detail=err.detail)

    found = extraction.extract(documents, on_error)
    if commit_every is None:
        _store_found(db, run_id, extraction, found, failed, counts)
        return
    while True:
        chunk = Counts()
        with db.atomic():
            stored = _store_found(db, run_id, extraction, islice(found, commit_every), failed, chunk)
        counts.claims_new += chunk.claims_new
        counts.claims_superseded += chunk.claims_superseded
        counts.claims_restored += chunk.claims_restored
        if count_seen:
            counts.documents_seen += stored
        if stored < commit_every:
            return


def _store_found(db: Database, run_id: int, extraction: Extraction,
                 found: Iterable[tuple[Document, list]], failed: set[tuple[str, str]], counts: Counts) -> int:
    "Store what each document gave; return how many documents."
    stored = 0
    for document, items in found:
        stored += 1
        ok_plugins = [n for n in extraction.names if (document.id, n) not in failed]
        # A document a plugin failed on is not marked done, so the next run retries it;
        # that plugin's earlier claims stay current rather than being superseded.
        key = extraction.key if len(ok_plugins) == len(extraction.names) and not extraction.partial else None
        new, superseded, restored = store.save_extraction(db, document, ok_plugins, items, run_id, key)
        counts.claims_new += new
        counts.claims_superseded += superseded
        counts.claims_restored += restored
    return stored


def stored_documents(db: Database, extraction_key: str | None, everything: bool) -> Iterator[Document]:
    "Stored, non-deleted documents not yet extracted with this plugin set (or all of them)."
    sql = "select * from documents where deleted = 0"
    params: list = []
    if not everything and extraction_key is not None:
        sql += " and (extracted_with is null or extracted_with != ?)"
        params.append(extraction_key)
    # Ids first: the loop below writes to the rows it reads.
    ids = [r[0] for r in db.execute(sql.replace("select *", "select id") + " order by id", params)]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = db.query(f"select * from documents where id in ({','.join('?' * len(chunk))}) order by id", chunk)
        for row in rows:
            yield Document.from_row(row)


def extract_stored(db: Database, run_id: int, extraction: Extraction, counts: Counts, everything: bool,
                   commit_every: int, skip: frozenset[str] = frozenset()) -> None:
    """Extract from stored documents the plugins have not seen (or all), committing every commit_every documents.

    Documents whose ids are in skip are left as they are.
    """
    documents = (d for d in stored_documents(db, extraction.key, everything) if d.id not in skip)
    save_found(db, run_id, extraction, documents, counts, commit_every=commit_every, count_seen=True)
