"""Therapy claims: effects, outcomes, mechanisms, response and resistance of treatments."""

from __future__ import annotations

from evidex import hookimpl

from .base import HERE, LexiconExtractor


class TherapyExtractor(LexiconExtractor):
    "Sentences asserting an effect or outcome of a therapy, from drug names, INN stems and classes."

    name = "therapy"
    version = "0.17"
    categories = ("therapy",)
    lexicon = HERE / "therapy.jsonl"


@hookimpl
def register_extractors(register) -> None:
    register(TherapyExtractor())


@hookimpl
def register_queries(register) -> None:
    from evidex.serve import EVIDENCE_COLUMNS

    register(
        "therapy_evidence",
        sql=f"select {EVIDENCE_COLUMNS}, cc.entities from current_claims cc where cc.category = 'therapy' "
            "and (:therapy = '' or exists (select 1 from claim_entities ce where ce.claim_id = cc.id "
            "and instr(lower(ce.entity), lower(:therapy)) > 0)) order by cc.year desc, cc.doc_id, cc.id",
        title="Therapy evidence by therapy",
        description="Current therapy claims naming a therapy (part of its id, e.g. radiotherapy, pembrolizumab); "
                    "blank for all.",
    )
