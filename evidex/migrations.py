"""The schema's history as named migrations, applied whenever a database is opened."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("evidex")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("runs").create(
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
    db.table("documents").create(
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
    db.table("document_ids").create(
        {"scheme": str, "value": str, "doc_id": str, "run_id": int},
        pk=("scheme", "value"),
        foreign_keys=[("doc_id", "documents", "id"), ("run_id", "runs", "id")],
    )
    db.table("claims").create(
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
    db.table("claim_entities").create(
        {"claim_id": str, "entity": str, "category": str},
        pk=("claim_id", "entity"),
        foreign_keys=[("claim_id", "claims", "id")],
    )
    db.table("mentions").create(
        {
            "id": str, "doc_id": str, "plugin": str, "plugin_version": str, "category": str,
            "entity": str, "field": str, "start": int, "end": int, "text": str,
            "first_seen_run": int, "last_seen_run": int, "superseded_run": int,
        },
        pk="id",
        foreign_keys=[("doc_id", "documents", "id"), ("first_seen_run", "runs", "id"),
                      ("last_seen_run", "runs", "id"), ("superseded_run", "runs", "id")],
    )
    db.table("run_errors").create(
        {"id": int, "run_id": int, "stage": str, "doc_id": str, "plugin": str,
         "error": str, "detail": str, "at": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    # Coverage ledger: one row per run, source, query and date window.
    db.table("ledger").create(
        {"id": int, "run_id": int, "source": str, "query": str, "window_start": str,
         "window_end": str, "expected": int, "fetched": int, "parsed": int, "stored": int,
         "skipped": int, "skipped_reasons": str, "failed": int, "status": str, "detail": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    # The incremental cursor, per source and query; only a balanced ledger moves it.
    db.table("watermarks").create(
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
        db.table(table).create_index(columns)


@migrations()
def m002_search(db: Database) -> None:
    db.table("documents").enable_fts(["title", "abstract"], create_triggers=True, tokenize="porter")
    db.table("claims").enable_fts(["sentence"], create_triggers=True, tokenize="porter")


@migrations()
def m004_views(db: Database) -> None:
    # The SQL lives in evidex/views.py, where it is documented for SQL and Datasette users.
    from .views import create_views

    create_views(db)


# Per seed claim of the current (most recently loaded) baseline: the current claims linked to
# it, the documents they come from, the newest evidence date and how much of it is dated after
# the review. "After" compares at the precision of the review's date: with only a year known,
# only evidence from a later year counts.
SEED_STATUS = """
with current as (
  select id, review_date from baselines order by loaded_at desc, rowid desc limit 1
),
evidence as (
  select l.seed_id, l.relation, c.doc_id, d.pmid,
    coalesce(d.pub_date, d.entry_date, cast(d.year as text)) as evidence_date,
    (cur.review_date is not null and
     substr(coalesce(d.pub_date, d.entry_date, cast(d.year as text)), 1, length(cur.review_date))
       > cur.review_date) as after_review
  from claim_links l
  join current cur on cur.id = l.baseline_id
  join claims c on c.id = l.claim_id
  join documents d on d.id = c.doc_id
  where c.superseded_run is null and coalesce(d.deleted, 0) = 0 and l.relation != 'novel'
)
select
  s.baseline_id, s.seed_id, s.position, s.kind, s.category, s.direction, s.text,
  count(case when e.relation = 'supports' then 1 end) as supporting,
  count(case when e.relation = 'contradicts' then 1 end) as contradicting,
  count(case when e.relation = 'extends' then 1 end) as extending,
  count(distinct e.doc_id) as documents,
  count(distinct e.pmid) as pmids,
  count(distinct case when e.relation = 'supports' then e.doc_id end) as supporting_documents,
  count(distinct case when e.relation = 'contradicts' then e.doc_id end) as contradicting_documents,
  count(distinct case when e.relation = 'extends' then e.doc_id end) as extending_documents,
  max(e.evidence_date) as newest_evidence,
  count(case when e.after_review then 1 end) as claims_after_review,
  count(distinct case when e.after_review then e.doc_id end) as documents_after_review
from seed_claims s
join current cur on cur.id = s.baseline_id
left join evidence e on e.seed_id = s.seed_id
group by s.baseline_id, s.seed_id
order by s.position
"""


@migrations()
def m003_seed(db: Database) -> None:
    # A seed version: the review's record and claims under a content hash; never overwritten.
    db.table("baselines").create(
        {"id": str, "doi": str, "title": str, "record": str, "review_date": str, "loaded_at": str,
         "first_loaded_at": str, "claims_count": int, "path": str},
        pk="id",
    )
    db.table("seed_claims").create(
        {"baseline_id": str, "seed_id": str, "position": int, "kind": str, "category": str,
         "categories": str, "subject": str, "predicate": str, "object": str, "direction": str,
         "relations": str, "hedged": int, "entities": str, "context": str, "text": str},
        pk=("baseline_id", "seed_id"),
        foreign_keys=[("baseline_id", "baselines", "id")],
    )
    # One classification per claim and baseline: old baselines keep theirs.
    db.table("claim_links").create(
        {"claim_id": str, "baseline_id": str, "seed_id": str, "relation": str, "score": float,
         "shared_entities": str, "plugin_version": str, "run_id": int, "linked_at": str},
        pk=("claim_id", "baseline_id"),
        foreign_keys=[("claim_id", "claims", "id"), ("baseline_id", "baselines", "id"),
                      ("run_id", "runs", "id")],
    )
    for table, columns in [
        ("baselines", ["loaded_at"]), ("claim_links", ["baseline_id", "seed_id", "relation"]),
        ("claim_links", ["baseline_id", "relation"]), ("claim_links", ["run_id"]),
    ]:
        db.table(table).create_index(columns)
    db.create_view("seed_status", SEED_STATUS.strip(), replace=True)


@migrations()
def m005_seed_views(db: Database) -> None:
    # After m003_seed: views over seed_status and claim_links, SQL in evidex/views.py.
    from .views import SEED_VIEWS, create_views

    create_views(db, SEED_VIEWS)


@migrations()
def m006_seed_claim_record(db: Database) -> None:
    # Each seed claim's whole line (references, direction notation, confidence) beside its columns.
    db.table("seed_claims").add_column("record", str)


# sqlite-utils' update triggers re-index a row on any change; runs touch last_seen_run,
# extracted_with and superseded_run on every row they see, so re-index only when the text changes.
DOCUMENTS_AU = """CREATE TRIGGER "documents_au" AFTER UPDATE OF "title", "abstract" ON "documents" BEGIN
  INSERT INTO "documents_fts" ("documents_fts", rowid, "title", "abstract") VALUES('delete', old.rowid, old."title", old."abstract");
  INSERT INTO "documents_fts" (rowid, "title", "abstract") VALUES (new.rowid, new."title", new."abstract");
END"""
CLAIMS_AU = """CREATE TRIGGER "claims_au" AFTER UPDATE OF "sentence" ON "claims" BEGIN
  INSERT INTO "claims_fts" ("claims_fts", rowid, "sentence") VALUES('delete', old.rowid, old."sentence");
  INSERT INTO "claims_fts" (rowid, "sentence") VALUES (new.rowid, new."sentence");
END"""


@migrations()
def m007_fts_on_text_updates(db: Database) -> None:
    db.execute('DROP TRIGGER IF EXISTS "documents_au"')
    db.execute(DOCUMENTS_AU)
    db.execute('DROP TRIGGER IF EXISTS "claims_au"')
    db.execute(CLAIMS_AU)


@migrations()
def m008_fts_indexed_by_the_writer(db: Database) -> None:
    # An AFTER INSERT trigger makes every INSERT a statement with its own savepoint, and FTS5
    # flushes its pending index at each savepoint: storing a document took twice as long. The
    # code that inserts documents and claims (evidex/db.py) indexes them itself instead.
    db.execute('DROP TRIGGER IF EXISTS "documents_ai"')
    db.execute('DROP TRIGGER IF EXISTS "claims_ai"')


@migrations()
def m009_link_rules(db: Database) -> None:
    # Which version of the linking rules made a link: rows from older rules (null) are relinked.
    db.table("claim_links").add_column("rules", str)


@migrations()
def m010_claim_gaps(db: Database) -> None:
    # A superseded claim that a later run produces again becomes current again; the interval in
    # which it was not is kept here, so what a past run held (and a diff of past runs) never changes.
    db.table("claim_gaps").create({"claim_id": str, "superseded_run": int, "restored_run": int})
    db.table("claim_gaps").create_index(["claim_id"])


@migrations()
def m011_run_pipeline(db: Database) -> None:
    # What the shared parse depended on (tokenizer rules, model), beside the plugins' versions.
    db.table("runs").add_column("pipeline", str)


@migrations()
def m012_document_deleted_run(db: Database) -> None:
    # The run whose DeleteCitation withdrew a document: its claims stop being current from then
    # on, and a diff or receipt of an earlier run still counts them.
    db.table("documents").add_column("deleted_run", int)
    db.execute("update documents set deleted_run = last_seen_run where deleted = 1")


@migrations()
def m013_claim_ids_cover_every_field(db: Database) -> None:
    # Claim ids now hash every field a plugin produces (role, section, study system, cancer type,
    # confidence, cues, extra), so that a plugin version changing only those supersedes the old
    # claim instead of leaving its values under the new version. Stored claims are rekeyed in
    # place (the rowid, and so the full-text index, stays); old ids were unique, so new ones are.
    from .models import Claim

    if not db["claims"].exists():
        return
    mapping = []
    for row in db.query("select * from claims"):
        new = Claim.from_row(row).id
        if new != row["id"]:
            mapping.append((new, row["id"]))
    db.conn.executemany("update claims set id = ? where id = ?", mapping)
    db.conn.executemany("update claim_entities set claim_id = ? where claim_id = ?", mapping)
    if db["claim_links"].exists():
        db.conn.executemany("update claim_links set claim_id = ? where claim_id = ?", mapping)
    if db["claim_gaps"].exists():
        db.conn.executemany("update claim_gaps set claim_id = ? where claim_id = ?", mapping)


@migrations()
def m014_run_parent(db: Database) -> None:
    # `evidex run` stores each query's fetch as a run of its own under the scheduled run: the
    # parent's state (diff, receipt) is the one after its last child.
    db.table("runs").add_column("parent_run", int)
    db.execute("update runs set parent_run = json_extract(options, '$.run') "
               "where command = 'ingest' and json_valid(options) and json_type(options, '$.run') = 'integer'")
    db.table("runs").create_index(["parent_run"])
    # run_additions now counts a scheduled run's fetches under it: db.refresh_views replaces it.


@migrations()
def m015_claim_link_history(db: Database) -> None:
    # A link replaced by a relink (new linking rules, a claim's new plugin version) is kept with
    # the run that replaced it: the seed status a diff gives for a past run stays what it was.
    db.table("claim_link_history").create(
        {"claim_id": str, "baseline_id": str, "seed_id": str, "relation": str, "score": float,
         "shared_entities": str, "plugin_version": str, "rules": str, "run_id": int, "linked_at": str,
         "replaced_run": int},
        pk=("claim_id", "baseline_id", "replaced_run"),
    )


@migrations()
def m016_lookup_indexes(db: Database) -> None:
    # Lookups that grew with the table: claims restored by a run (per-run relinking), entity
    # search without case (claims_for_entity), documents first stored by a run (run recounts).
    db.execute("create index if not exists idx_claim_gaps_restored_run on claim_gaps (restored_run)")
    db.execute("create index if not exists idx_claim_entities_entity_nocase on claim_entities (entity collate nocase)")
    db.execute("create index if not exists idx_documents_first_seen_run on documents (first_seen_run)")


@migrations()
def m017_document_pmid_version(db: Database) -> None:
    # Versioned PubMed citations (<PMID Version="2">): the version stored, so an earlier one
    # arriving later does not replace it. Rows stored before have none (any version replaces them).
    db.table("documents").add_column("pmid_version", int)


@migrations()
def m018_run_withdrawals(db: Database) -> None:
    # What a run's withdrawals did, as its summary says: papers withdrawn, and withdrawals that
    # changed nothing (of no stored paper, another version, a paper already withdrawn). Earlier
    # runs' withdrawn papers are known from documents.deleted_run (a scheduled run's through its
    # fetches); their skipped withdrawals were never kept, so those stay null (unknown).
    for column in ("documents_withdrawn", "withdrawals_not_stored", "withdrawals_other_version",
                   "withdrawals_already_withdrawn"):
        db.table("runs").add_column(column, int)
    # Also what a crash recount (db.RECOUNT) reads.
    db.execute("create index if not exists idx_documents_deleted_run on documents (deleted_run)")
    db.execute("update runs set documents_withdrawn = (select count(*) from documents d where d.deleted_run in "
               "(select r.id from runs r where r.id = runs.id or r.parent_run = runs.id))")


@migrations()
def m019_withdrawal_history(db: Database) -> None:
    # Every withdrawal read, with what it did: one that named no stored paper (or another version)
    # is remembered, and a record of that paper arriving later is stored withdrawn (withdrawn_run);
    # a later version of a paper withdrawn in one version is a new record, stored live (revived_run
    # ends the withdrawal). diff.CURRENT_AT reads the intervals, so past runs keep what they held.
    db.table("withdrawals").create(
        {"id": int, "run_id": int, "at": str, "scheme": str, "value": str, "doi": str, "version": int,
         "outcome": str, "doc_id": str, "withdrawn_run": int, "revived_run": int},
        pk="id",
    )
    db.table("withdrawals").create_index(["scheme", "value"])
    db.table("withdrawals").create_index(["doc_id"])
    db.table("withdrawals").create_index(["withdrawn_run"])
    # Papers withdrawn before, read by the run that withdrew them, at an unknown time. Of every
    # version (null): which version the withdrawal named was not kept (a JSON Lines line without
    # one names them all), and a later version stayed withdrawn before this migration; it still does.
    db.execute("""insert into withdrawals (run_id, scheme, value, doi, version, outcome, doc_id, withdrawn_run)
                  select deleted_run, case when pmid is not null and pmid != '' then 'pmid' else 'id' end,
                         coalesce(nullif(pmid, ''), id), null, null, 'withdrawn', id, deleted_run
                  from documents where deleted = 1 order by deleted_run, id""")


@migrations()
def m020_withdrawal_doi_index(db: Database) -> None:
    # A remembered withdrawal may name its paper by DOI alone (db.withdraw_on_arrival looks for it
    # by the arriving paper's DOI, as by its ids): an indexed lookup, not a scan of every withdrawal.
    db.execute("create index if not exists idx_withdrawals_doi on withdrawals (doi)")


@migrations()
def m021_withdrawal_ids(db: Database) -> None:
    # Every identifier a remembered withdrawal names its paper by, as db.find_existing matches a
    # stored paper (id, PMID, DOI, PMC id, source ids, title+year): db.withdraw_on_arrival looks
    # them up by the arriving paper's, so a withdrawal read first withdraws what one read after would.
    db.table("withdrawal_ids").create({"withdrawal_id": int, "scheme": str, "value": str},
                                      pk=("withdrawal_id", "scheme", "value"))
    db.table("withdrawal_ids").create_index(["scheme", "value"])
    # Those still waiting keep their PMID or id and their DOI; any other id they named was never kept.
    # (m020's DOI index is no longer what the arrival lookup reads.)
    db.execute("""insert or ignore into withdrawal_ids
                  select id, scheme, value from withdrawals
                  where doc_id is null and outcome in ('not stored', 'other version') and value is not null
                  union all
                  select id, 'doi', doi from withdrawals
                  where doc_id is null and outcome in ('not stored', 'other version') and doi is not null""")


@migrations()
def m022_run_env_vars(db: Database) -> None:
    # The environment variables that change a run (runenv.recorded), so its receipt's rerun sets them.
    db.table("runs").add_column("env_vars", str)


@migrations()
def m023_run_environment(db: Database) -> None:
    # The Python, spaCy and SQLite a run ran on (db.run_environment): a receipt printed later, on
    # another machine or after an upgrade, must say what the run had, not what prints it.
    db.table("runs").add_column("environment", str)
