"""Age claims: ageing, aged hosts, older patients, immunosenescence, inflammaging, age as a factor."""

from __future__ import annotations

from evidex import hookimpl

from .base import HERE, LexiconExtractor


class AgeExtractor(LexiconExtractor):
    "Sentences asserting an age-related effect; cohort age descriptors and cell senescence excluded."

    name = "age"
    version = "0.17"
    categories = ("age",)
    lexicon = HERE / "age.jsonl"


@hookimpl
def register_extractors(register) -> None:
    register(AgeExtractor())


@hookimpl
def register_queries(register) -> None:
    from evidex.serve import EVIDENCE_COLUMNS

    register(
        "age_evidence",
        sql=f"select {EVIDENCE_COLUMNS}, cc.entities from current_claims cc where cc.category = 'age' "
            "order by cc.year desc, cc.doc_id, cc.id",
        title="Age-related evidence",
        description="Current claims about ageing, older patients or immunosenescence.",
    )
