"""SQL views over the evidence store, created by a migration and documented for SQL users."""

from __future__ import annotations

from sqlite_utils import Database

# Claims a current plugin still produces, on documents that were not withdrawn.
CURRENT_CLAIMS = """
select
  c.id, c.doc_id, d.pmid, d.doi, d.title, d.journal, d.year, d.pub_date, d.entry_date,
  c.category, c.plugin, c.plugin_version, c.subject, c.predicate, c.object, c.direction,
  c.negated, c.negation_cues, c.hedged, c.hedge_cues, c.role, c.entities, c.section,
  c.study_system, c.cancer_type, c.sentence, c.field, c.start, c."end", c.confidence, c.first_seen_run, c.last_seen_run,
  c.rowid as claim_rowid
from claims c
join documents d on d.id = c.doc_id
where c.superseded_run is null and coalesce(d.deleted, 0) = 0
"""

# One row per (entity, current claim): "everything said about STING1".
CLAIMS_BY_ENTITY = """
select
  ce.entity, ce.category as entity_category, cc.id as claim_id, cc.doc_id, cc.pmid, cc.year,
  cc.journal, cc.category, cc.plugin, cc.direction, cc.negated, cc.hedged, cc.study_system,
  cc.cancer_type, cc.sentence, cc.first_seen_run
from claim_entities ce
join current_claims cc on cc.id = ce.claim_id
"""

# Current claims and the documents they come from, per publication year and category.
EVIDENCE_BY_YEAR = """
select
  year, category, count(*) as claims, count(distinct doc_id) as documents,
  sum(direction = 'up') as up, sum(direction = 'down') as down,
  sum(direction = 'assoc') as assoc, sum(negated) as negated, sum(hedged) as hedged
from current_claims
group by year, category
"""

# Each entity with how much current evidence names it and over which years.
ENTITY_COUNTS = """
select
  entity, entity_category, count(*) as claims, count(distinct doc_id) as documents,
  min(year) as first_year, max(year) as last_year
from claims_by_entity
group by entity, entity_category
"""

# What each run added: new claims by run, plugin and category (a scheduled run's fetches,
# runs of their own, count under it).
RUN_ADDITIONS = """
select
  r.id as run_id, r.command, r.started_at, r.status, c.plugin, c.category,
  count(*) as claims_added, count(distinct c.doc_id) as documents
from claims c
join runs f on f.id = c.first_seen_run
join runs r on r.id = coalesce(f.parent_run, f.id)
group by r.id, c.plugin, c.category
"""

VIEWS: dict[str, str] = {
    "current_claims": CURRENT_CLAIMS,
    "claims_by_entity": CLAIMS_BY_ENTITY,
    "evidence_by_year": EVIDENCE_BY_YEAR,
    "entity_counts": ENTITY_COUNTS,
    "run_additions": RUN_ADDITIONS,
}


# Per seed claim of the current baseline: seed_status plus one status word to facet on.
SEED_OVERVIEW = """
select
  case
    when supporting + contradicting + extending = 0 then 'no evidence'
    when supporting > 0 and contradicting > 0 then 'contested'
    when contradicting > 0 then 'contradicted'
    when supporting > 0 then 'supported'
    else 'extended'
  end as status,
  *
from seed_status
"""

# Linked claims per seed claim (current baseline) and publication year; year null = unknown.
SEED_EVIDENCE_BY_YEAR = """
select
  l.baseline_id, l.seed_id, cc.year,
  sum(l.relation = 'supports') as supporting, sum(l.relation = 'contradicts') as contradicting,
  sum(l.relation = 'extends') as extending, count(distinct cc.doc_id) as documents
from claim_links l
join current_claims cc on cc.id = l.claim_id
where l.relation != 'novel'
  and l.baseline_id = (select id from baselines order by loaded_at desc, rowid desc limit 1)
group by l.baseline_id, l.seed_id, cc.year
"""

SEED_VIEWS: dict[str, str] = {
    "seed_overview": SEED_OVERVIEW,
    "seed_evidence_by_year": SEED_EVIDENCE_BY_YEAR,
}


def create_views(db: Database, views: dict[str, str] | None = None) -> None:
    "Create (or replace) the evidex views, in dependency order."
    for name, sql in (views or VIEWS).items():
        db.create_view(name, sql.strip(), replace=True)
