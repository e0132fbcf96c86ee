"""`evidex serve`: Datasette over the evidence store, with metadata and canned queries evidex writes."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from .errors import EvidexError, PluginError, UsageError

SEED_TABLES = ("baselines", "seed_claims", "claim_links")
# Canned queries over a large store need more than Datasette's default 1 s; --setting overrides.
DEFAULT_SETTINGS = {"sql_time_limit_ms": "5000", "facet_time_limit_ms": "500"}

CLAIM_FACETS = ["category", "plugin", "direction", "negated", "hedged", "study_system",
                "cancer_type", {"array": "entities"}]

CLAIM_COLUMNS = {
    "id": "Content hash of the claim: stable while plugin, text and reading stay the same",
    "doc_id": "The document the claim was read from (PMID, or source:id without one)",
    "category": "Claim category, as its plugin names it (evidex plugins lists them)",
    "plugin": "Extractor that produced the claim", "plugin_version": "Its version when it first produced the claim (a later version that gives the same claim leaves the row as it is)",
    "subject": "Normalised entity id the claim is about", "predicate": "Relation, e.g. activates",
    "object": "Normalised id of the other entity, if any",
    "direction": "up, down, assoc (association) or none",
    "negated": "1 if the sentence negates the claim", "hedged": "1 if the sentence hedges it",
    "negation_cues": "JSON list of the negation words found",
    "hedge_cues": "JSON list of the hedge words found",
    "role": "result (this study's finding) or background",
    "entities": "JSON list of the canonical entity ids the sentence names",
    "section": "Structured-abstract section, e.g. RESULTS",
    "study_system": "human, mouse, in vitro or clinical",
    "cancer_type": "Cancer type named in the sentence", "sentence": "The sentence, verbatim",
    "field": "title or abstract", "start": "Character offset of the sentence in its field",
    "end": "End offset of the sentence", "confidence": "Extractor confidence, 0-1",
    "first_seen_run": "Run that first stored the claim", "last_seen_run": "Latest run that produced it",
    "superseded_run": "Run whose plugin version no longer produces it (null = current; see claim_gaps)",
    "extra": "JSON the extractor adds: the built-ins' reason, trigger word, inversion and matched terms",
}

TABLES: dict[str, dict[str, Any]] = {
    "documents": {
        "description": "Abstracts: one row per publication, title and abstract kept apart.",
        "label_column": "title", "sort_desc": "year", "fts_table": "documents_fts",
        "facets": ["year", "journal", "source", "deleted"],
        "columns": {
            "id": "PMID, or source:id for records without one", "pmid": "PubMed id",
            "doi": "DOI", "pmcid": "PubMed Central id", "source": "Where it was fetched from",
            "title": "Article title", "abstract": "Abstract text, section labels kept",
            "journal": "Journal", "pub_date": "Publication date (ISO, as precise as known)",
            "year": "Publication year", "entry_date": "Date the record entered the source",
            "deleted": "1 if the source withdrew the record (kept, never dropped)",
            "content_key": "Hash of title + abstract: a change triggers re-extraction",
            "first_seen_run": "Run that first stored it", "last_seen_run": "Latest run that read a record of it (a withdrawal does not move it)",
            "deleted_run": "Run from which it is withdrawn: by a DeleteCitation (file or efetch) or withdrawn line, or on arrival by one read before it (null = live; history in withdrawals)",
            "extracted_with": "Plugin versions and parse its current claims came from (a change re-extracts)",
            "source_ids": "JSON: its id at each source (MED, PPR, ...)", "pub_types": "JSON list of publication types",
            "language": "Language code of the article", "vernacular_title": "Title in the original language",
            "sections": "JSON list of structured-abstract sections: label, category, start, end",
            "pmid_version": "PubMed's <PMID Version> of the stored record (an earlier version never replaces it)",
        },
    },
    "claims": {
        "description": "Every claim a plugin extracted, including superseded ones (see current_claims).",
        "label_column": "subject", "fts_table": "claims_fts", "facets": CLAIM_FACETS,
        "columns": CLAIM_COLUMNS,
    },
    "current_claims": {
        "description": "View: claims not superseded, on live documents, with year and journal.",
        "fts_table": "claims_fts", "fts_pk": "claim_rowid", "sort_desc": "year",
        "facets": CLAIM_FACETS + ["year"],  # column descriptions: see claims
    },
    "claims_by_entity": {
        "description": "View: one row per (entity, current claim). Filter entity=STING1.",
        "facets": ["entity", "category", "direction", "study_system"], "sort_desc": "year",
    },
    "evidence_by_year": {"description": "View: current claims and documents per publication year and category.",
                         "facets": ["category"]},
    "entity_counts": {"description": "View: how many current claims and documents name each entity.",
                      "sort_desc": "claims", "facets": ["entity_category"]},
    "run_additions": {"description": "View: claims each run added, by plugin and category.",
                      "facets": ["plugin", "category"]},
    "claim_entities": {"description": "One row per (claim, entity) for indexed entity lookups.",
                       "facets": ["category", "entity"]},
    "mentions": {"description": "Every canonical entity named in a document, claim or not.",
                 "facets": ["category", "plugin", "entity"]},
    "runs": {"description": "One row per ingest, extract or run: versions, plugins, window and counts.",
             "label_column": "started_at", "sort_desc": "id", "facets": ["command", "status", "source"],
             "columns": {
                 "documents_withdrawn": "Papers the run withdrew, on arrival too (withdrawals rows whose withdrawn_run is this run, or one of its fetches)",
                 "withdrawals_not_stored": "Withdrawals of no stored paper: nothing to withdraw (null: before m018)",
                 "withdrawals_other_version": "Withdrawals of another PMID version than the stored one (null: before m018)",
                 "withdrawals_already_withdrawn": "Withdrawals of a paper already withdrawn, by an earlier run or earlier in this one (null: before m018)",
             }},
    "ledger": {"description": "Coverage ledger: expected, fetched, parsed, stored per run, query and window.",
               "facets": ["status", "source"]},
    "run_errors": {"description": "Failures of a run: a plugin raising, a fetch failing, a bad file.",
                   "facets": ["stage", "plugin"]},
    "document_ids": {"description": "Every identifier a document was seen under (PMID, DOI, source ids).",
                     "facets": ["scheme"]},
    "watermarks": {"description": "The incremental cursor per source and query."},
    "withdrawals": {"description": "Every withdrawal read (DeleteCitation, withdrawn line) and what it did; one that "
                                   "found no stored paper (or another version) is kept, and withdraws the paper when "
                                   "it arrives (withdrawn_run). A later version ends a withdrawal (revived_run).",
                    "facets": ["outcome", "scheme", "run_id"],
                    "columns": {
                        "run_id": "Run that read the withdrawal", "at": "When it was read (null: withdrawn before m019)",
                        "scheme": "pmid, or id for a withdrawn JSON Lines line without a PMID",
                        "value": "The PMID (or id) withdrawn", "doi": "The withdrawn line's DOI, if any",
                        "version": "PMID version withdrawn (null: every version)",
                        "outcome": "What it did when read: withdrawn, stored withdrawn, not stored, other version, "
                                   "already withdrawn",
                        "doc_id": "The paper it withdrew, or (already withdrawn, no version) found withdrawn; null: none, or not yet arrived",
                        "withdrawn_run": "Run from which that paper is withdrawn by it: its own, or the run that stored "
                                         "the paper later",
                        "revived_run": "Run that stored a later version live, ending this withdrawal (null: in force)",
                    }},
    "withdrawal_ids": {"description": "Every identifier a kept withdrawal (not stored, other version) names its "
                                      "paper by (PMID, id, DOI, PMC id, source ids, title+year): the paper arriving is found by any.",
                       "facets": ["scheme"]},
    "claim_gaps": {"description": "Runs in which a claim was not current: superseded, then produced again "
                                  "(restored_run). Keeps past runs' diffs and receipts as they were."},
    "baselines": {"description": "Versions of the seed review's claims, keyed by content hash.",
                  "label_column": "title"},
    "seed_claims": {"description": "The seed review's claims (SR-*) and the findings it builds on (LF-*).",
                    "label_column": "text", "facets": ["kind", "category", "direction", "baseline_id"]},
    "claim_links": {"description": "Each extracted claim read against a seed claim: supports, contradicts, extends or novel.",
                    "facets": ["relation", "seed_id", "baseline_id"]},
    "claim_link_history": {"description": "Links a relink replaced (new linking rules or plugin version), with the "
                                          "run that replaced them (replaced_run): past runs' seed status as it was.",
                           "facets": ["relation", "seed_id", "replaced_run"]},
    "seed_status": {"description": "View: per seed claim, supporting, contradicting and extending evidence.",
                    "facets": ["kind", "category", "direction"]},
    "seed_overview": {"description": "View: seed_status with a status word: supported, contradicted, contested, "
                                     "extended or no evidence.", "facets": ["status", "kind", "category", "direction"]},
    "seed_evidence_by_year": {"description": "View: claims supporting, contradicting or extending each seed claim, "
                                             "by publication year.", "facets": ["seed_id", "year"]},
    "_sqlite_migrations": {"hidden": True},
}

LINK_COLUMNS = "l.relation, l.score, l.shared_entities, l.baseline_id, l.seed_id"
EVIDENCE_COLUMNS = ("cc.id as claim_id, cc.doc_id, cc.year, cc.pub_date, cc.journal, cc.category, "
                    "cc.direction, cc.negated, cc.hedged, cc.study_system, cc.cancer_type, cc.sentence")
CURRENT_BASELINE = "(select id from baselines order by loaded_at desc, rowid desc limit 1)"
REVIEW = "(select review_date from baselines order by loaded_at desc, rowid desc limit 1)"
EVIDENCE_DATE = "coalesce(cc.pub_date, cc.entry_date, cast(cc.year as text))"
# Same rule as the seed_status view: compare at the precision of the date given ('2026' = year).
AFTER = "substr({date}, 1, length({since})) > {since}"

QUERIES: dict[str, dict[str, Any]] = {
    "claims_for_entity": {
        "title": "Claims by entity",
        "description": "Current claims naming an entity id (a canonical id, as the claims' entities list them).",
        "sql": "select claim_id, doc_id, year, journal, category, direction, negated, hedged, "
               "study_system, cancer_type, sentence from claims_by_entity "
               "where entity = :entity collate nocase order by year desc, doc_id, claim_id",
    },
    "hedged_only": {
        "title": "Hedged claims only",
        "description": "Current claims stated with a hedge (may, suggests, ...); optional category.",
        "sql": f"select {EVIDENCE_COLUMNS}, cc.hedge_cues from current_claims cc "
               "where cc.hedged = 1 and (:category = '' or cc.category = :category) "
               "order by cc.year desc, cc.doc_id, cc.id",
    },
    "claims_added_by_run": {
        "title": "Claims added by a run",
        "description": "Claims first stored by a run and, for a scheduled run, its fetches (blank: the latest "
                       "run that stored any), superseded ones included.",
        "sql": "select c.id as claim_id, c.doc_id, c.category, c.plugin, c.plugin_version, c.subject, "
               "c.predicate, c.object, c.direction, c.superseded_run, c.sentence from claims c "
               # Datasette passes :run_id as text: cast, or 4 never equals '4'.
               "where c.first_seen_run in (select id from runs where cast(coalesce(nullif(:run_id, ''), "
               "(select max(coalesce(r.parent_run, r.id)) from runs r where exists "
               "(select 1 from claims x where x.first_seen_run = r.id))) as integer) in (id, parent_run)) "
               "order by c.doc_id, c.id",
    },
    "new_evidence_since": {
        "title": "New evidence since a date",
        "description": "Current claims from papers published after :since (2024, 2024-06 or 2024-06-30).",
        "sql": f"select {EVIDENCE_COLUMNS} from current_claims cc "
               f"where :since != '' and {AFTER.format(date=EVIDENCE_DATE, since=':since')} "
               "order by cc.pub_date desc, cc.doc_id, cc.id",
    },
}

SEED_QUERIES: dict[str, dict[str, Any]] = {
    "evidence_for_seed_claim": {
        "title": "Evidence for a seed claim",
        "description": "Current claims linked to one seed claim (e.g. SR-09) of the current baseline.",
        "sql": f"select {LINK_COLUMNS}, {EVIDENCE_COLUMNS} from claim_links l "
               "join current_claims cc on cc.id = l.claim_id "
               f"where l.baseline_id = {CURRENT_BASELINE} and l.seed_id = upper(trim(:seed_id)) "
               "and l.relation != 'novel' order by l.relation, cc.year desc, cc.id",
    },
    "new_evidence_since_review": {
        "title": "New evidence since the review",
        "description": "Claims supporting, contradicting or extending a seed claim, published after the review "
                       "(its date in the baseline record; :since when given overrides it).",
        "sql": f"select {LINK_COLUMNS}, {EVIDENCE_COLUMNS} from claim_links l "
               "join current_claims cc on cc.id = l.claim_id "
               f"where l.baseline_id = {CURRENT_BASELINE} and l.relation != 'novel' "
               "and " + AFTER.format(date=EVIDENCE_DATE, since=f"coalesce(nullif(:since, ''), {REVIEW})")
               + " order by cc.pub_date desc, l.seed_id, cc.id",
    },
    "contradictions_of_review": {
        "title": "Contradictions of the review",
        "description": "Current claims that contradict a seed claim of the current baseline (opposite direction or negated).",
        "sql": f"select {LINK_COLUMNS}, s.text as seed_text, {EVIDENCE_COLUMNS} from claim_links l "
               "join current_claims cc on cc.id = l.claim_id "
               "join seed_claims s on s.baseline_id = l.baseline_id and s.seed_id = l.seed_id "
               f"where l.baseline_id = {CURRENT_BASELINE} and l.relation = 'contradicts' "
               "order by l.seed_id, cc.year desc, cc.id",
    },
}


def table_names(db_path: str | Path) -> set[str]:
    "Tables and views in the file, read without writing to it."
    from .db import read_only_uri

    conn = sqlite3.connect(read_only_uri(Path(db_path)), uri=True)
    try:
        return {r[0] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
    finally:
        conn.close()


def current_review(db_path: str | Path, names: set[str]) -> dict[str, Any]:
    "The seed review's record from the current baseline ({} before any seed load), read without writing."
    if "baselines" not in names:
        return {}
    from .db import read_only_uri

    conn = sqlite3.connect(read_only_uri(Path(db_path)), uri=True)
    try:
        row = conn.execute("select record from baselines order by loaded_at desc, rowid desc limit 1").fetchone()
    finally:
        conn.close()
    try:
        record = json.loads(row[0]) if row and row[0] else {}
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def collect_queries(names: set[str]) -> tuple[dict[str, dict], dict[str, list], dict[tuple[str, str], str]]:
    "Built-in canned queries the file can answer plus those plugins register; plugin facets, and their plugins."
    from .plugins import load_plugins, pm

    queries: dict[str, dict] = {}
    owners: dict[str, str] = {}
    found_facets: dict[str, list] = {}
    facet_owners: dict[tuple[str, str], str] = {}  # (table, facet as JSON) -> the plugin that registered it

    def registrar(owner: str):
        def register(name: str | None = None, sql: str | None = None, *, table: str | None = None,
                     facets: Iterable[str | dict] = (), **options: Any) -> None:
            if sql is not None:
                if not name:
                    raise PluginError(f"plugin {owner!r} registered a canned query without a name")
                if name in queries:
                    raise PluginError(f"two canned queries are named {name!r}: from {owners[name]!r} and {owner!r}")
                queries[name], owners[name] = {"sql": sql, **options}, owner
            elif table and facets:
                known = found_facets.setdefault(table, [])
                known.extend(f for f in facets if f not in known)
                for facet in facets:
                    facet_owners.setdefault((table, json.dumps(facet, sort_keys=True, default=str)), owner)
            else:
                raise PluginError(f"plugin {owner!r}: register(name, sql=...) a query or register(table=..., facets=[...])")
        return register

    builtin = registrar("evidex")
    for name, query in QUERIES.items():
        builtin(name, **query)
    if all(t in names for t in SEED_TABLES):
        for name, query in SEED_QUERIES.items():
            builtin(name, **query)
    load_plugins()
    for impl in pm.hook.register_queries.get_hookimpls():
        try:
            impl.function(register=registrar(impl.plugin_name))
        except PluginError:
            raise
        except (Exception, SystemExit) as ex:  # one line naming the plugin, not a traceback
            raise PluginError(f"plugin {impl.plugin_name!r}: register_queries raised {type(ex).__name__}: {ex}") from None
    return queries, found_facets, facet_owners


def check_facets(db_path: str | Path, facets: dict[str, list], owners: dict[tuple[str, str], str]) -> None:
    "A plugin facet on a column its table lacks is an error naming the plugin: Datasette would refuse the whole page."
    from .db import read_only_uri

    conn = sqlite3.connect(read_only_uri(Path(db_path)), uri=True)
    try:
        for table, listed in facets.items():
            columns = {r[0] for r in conn.execute("select name from pragma_table_info(?)", [table])}
            for facet in listed:
                # A facet is a column name or a one-key dict such as {"array": "entities"}.
                column = facet if isinstance(facet, str) else (
                    next(iter(facet.values())) if isinstance(facet, dict) and len(facet) == 1 else None)
                if column not in columns:
                    owner = owners[(table, json.dumps(facet, sort_keys=True, default=str))]
                    raise PluginError(
                        f"plugin {owner!r} registered a facet on {table}.{column}, a column {table} does not have"
                        if isinstance(column, str) else
                        f"plugin {owner!r} registered the facet {facet!r} on {table}: a facet is a column name "
                        "or a one-key dict such as {'array': 'entities'}")
    finally:
        conn.close()


def build_metadata(db_path: str | Path) -> dict[str, Any]:
    "Datasette metadata for one evidex database: descriptions, sources, licences, facets, queries."
    from . import __version__

    names = table_names(db_path)
    queries, plugin_facets, facet_owners = collect_queries(names)
    # Tables not in the database are skipped below; facets of those that are must name their columns.
    check_facets(db_path, {t: f for t, f in plugin_facets.items() if t in names}, facet_owners)
    tables: dict[str, dict] = {}
    for name, meta in TABLES.items():
        if name not in names:
            continue
        meta = json.loads(json.dumps(meta))  # a copy: plugin facets must not leak between calls
        if "fts_table" in meta and meta["fts_table"] not in names:
            del meta["fts_table"]
        tables[name] = meta
    for name, extra in plugin_facets.items():
        if name in names:
            known = tables.setdefault(name, {}).setdefault("facets", [])
            known.extend(f for f in extra if f not in known)
    # The seed review is data: its citation comes from the current baseline's record.
    review = current_review(db_path, names)
    description = f"Claims extracted from abstracts by evidex {__version__} plugins"
    about: dict[str, str] = {}
    if review.get("title"):
        authors = ", ".join(a for a in review.get("authors", []) if a != "et al.")
        cited = "; ".join(str(p) for p in (authors and f"{authors} et al.", review.get("journal"), review.get("year")) if p)
        description += f", read against the seed review \"{review['title']}\" ({cited})"
    if review.get("doi"):
        about = {"about": f"Seed review: doi:{review['doi']}", "about_url": f"https://doi.org/{review['doi']}"}
    return {
        "title": "evidex: a living evidence table",
        "description": description + ".",
        "source": "PubMed and Europe PMC abstracts",
        "source_url": "https://pubmed.ncbi.nlm.nih.gov/",
        "license": "Abstracts: copyright of their publishers (NLM and Europe PMC terms); evidex: Apache-2.0",
        "license_url": "https://www.nlm.nih.gov/databases/download/terms_and_conditions.html",
        **about,
        "databases": {Path(db_path).stem: {
            "description": "Documents, claims, runs and ledgers; views current_claims, claims_by_entity, evidence_by_year.",
            "tables": tables, "queries": queries,
        }},
    }


# Columns of query results and views that name a row of another table: rendered as links.
LINKS = {"claim_id": "claims", "doc_id": "documents", "run_id": "runs", "first_seen_run": "runs",
         "last_seen_run": "runs", "superseded_run": "runs", "replaced_run": "runs", "parent_run": "runs",
         "baseline_id": "baselines"}


def datasette_plugin() -> ModuleType:
    "A Datasette plugin linking claim, document, run and seed claim ids where no foreign key can."
    from datasette import hookimpl as datasette_hookimpl
    from datasette.utils import tilde_encode
    from markupsafe import Markup, escape

    @datasette_hookimpl
    def render_cell(row, value, column, table, database, datasette):
        # Datasette links a foreign key it has expanded (a dict) itself, but not on row pages,
        # in views or in query results: link those here.
        if value in (None, "") or isinstance(value, dict):
            return None
        target = LINKS.get(column) or ("claims" if column == "id" and table == "current_claims" else None)
        key = tilde_encode(str(value))
        if column == "seed_id" and table != "seed_claims" and "baseline_id" in row.keys() and row["baseline_id"]:
            target, key = "seed_claims", f"{tilde_encode(str(row['baseline_id']))},{key}"
        if not target:
            return None
        url = datasette.urls.table(database, target) + "/" + key
        return Markup(f'<a href="{escape(url)}">{escape(value)}</a>')

    module = ModuleType("evidex_datasette_links")
    module.render_cell = render_cell  # type: ignore[attr-defined]
    return module


def check_listen(host: str, port: int) -> None:
    "Refuse, in one line, an address the server could not listen on (uvicorn would log it and exit 3, the lock's code)."
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as ex:
        raise UsageError(f"cannot listen on {host}:{port}: {ex.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as ex:
            raise UsageError(f"cannot listen on {host}:{port}: {ex.strerror or ex}") from None


def prepare(db_path: Path) -> None:
    "Fold the WAL into the file, so an immutable reader sees everything committed."
    conn = sqlite3.connect(str(db_path), timeout=5)
    try:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError as ex:
        raise UsageError(str(ex)) from None
    finally:
        conn.close()


@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default="evidex.db", envvar="EVIDEX_DB",
              show_default=True, help="SQLite database file (env EVIDEX_DB)")
@click.option("--port", "-p", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 picks a free one)")
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to listen on")
@click.option("--immutable", is_flag=True,
              help="Treat the file as never changing (faster; for a copy no run writes to)")
@click.option("--writable", "legacy_writable", is_flag=True, hidden=True,
              help="Accepted for older scripts: live serving is the default now")
@click.option("--metadata-json", is_flag=True, help="Print the generated Datasette metadata and exit")
@click.option("--setting", "settings", type=(str, str), multiple=True, help="Datasette setting NAME VALUE")
def serve(db_path: str, port: int, host: str, immutable: bool, legacy_writable: bool, metadata_json: bool,
          settings: tuple[tuple[str, str], ...]) -> None:
    """Browse and query the evidence table with Datasette: read-only, following what runs write.

    Example: evidex serve --db evidex.db --port 8001
    """
    from .db import open_db

    path = Path(db_path)
    if not path.is_file():
        raise UsageError(f"database {path} does not exist")
    # Refuses other files, other applications' databases and a newer evidex's, in one line;
    # applies migrations where it may write, else checks none is due.
    open_db(path, create=False, read_only=True).conn.close()
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if not writable and not immutable:
        # Datasette reads a live file with mode=ro, which must create <db>-shm beside it.
        immutable = not path.with_name(path.name + "-shm").exists()
    if immutable and writable:
        try:
            prepare(path)
        except EvidexError as ex:  # e.g. a run holds the write lock: serve what is there
            click.echo(f"Warning: could not fold the write-ahead log into the file: {ex}", err=True)
    try:
        metadata = build_metadata(path)
    except sqlite3.DatabaseError as ex:
        raise UsageError(f"{path} is not a usable SQLite database: {ex}") from None
    from .plugins import state

    for name, error in state.failures:  # else its canned queries and facets are just missing
        click.echo(f"Warning: plugin {name} failed to load: {error}", err=True)
    if metadata_json:
        click.echo(json.dumps(metadata, indent=2))
        return
    try:
        from datasette.app import SETTINGS
        from datasette.cli import serve as datasette_serve
    except ImportError:
        raise UsageError("Datasette is not installed: pip install -e '.[serve]' in the evidex checkout") from None
    known = sorted(s.name for s in SETTINGS)
    unknown = [name for name, _ in settings if name not in known]
    if unknown:
        raise UsageError(f"unknown Datasette setting {unknown[0]!r}; known: {', '.join(known)}")
    check_listen(host, port)
    with tempfile.TemporaryDirectory(prefix="evidex-serve-") as tmp:
        meta_path = Path(tmp) / "metadata.json"
        meta_path.write_text(json.dumps(metadata), encoding="utf-8")
        # Live by default: Datasette reads the file with mode=ro, so a run writing meanwhile is
        # seen commit by commit; immutable=1 would assume the file never changes, and then reads
        # during a run return wrong rows or "database disk image is malformed".
        args = ["-i", str(path)] if immutable else [str(path)]
        args += ["--metadata", str(meta_path), "--host", host, "--port", str(port)]
        for name, value in {**DEFAULT_SETTINGS, **dict(settings)}.items():
            args += ["--setting", name, value]
        where = f"http://{host}:{port}/" if port else f"a free port of {host} (Datasette names it below)"
        click.echo(f"evidex serve: {path} (read-only, {'immutable' if immutable else 'live'}) on {where}", err=True)
        sys.stdout.flush()
        import datasette.handle_exception
        from datasette.plugins import pm as datasette_pm

        # With rich installed (spaCy brings it), Datasette prints every 404 and every rejected SQL
        # statement as a full traceback with locals; the access log line says enough. A real
        # server error (500) still gets its plain traceback.
        datasette.handle_exception.rich = None
        if datasette_pm.get_plugin("evidex-links") is None:
            datasette_pm.register(datasette_plugin(), name="evidex-links")
        datasette_serve.main(args, prog_name="evidex serve", standalone_mode=True)

