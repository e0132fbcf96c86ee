"""Therapy claims: effects, outcomes, mechanisms, response and resistance of treatments."""

from __future__ import annotations

from evidex import hookimpl

from .common import GENERIC_THERAPY_RE, HERE, LexiconExtractor


class TherapyExtractor(LexiconExtractor):
    "Sentences asserting an effect or outcome of a therapy, from drug names, INN stems and classes."

    name = "therapy"
    version = "0.1"
    categories = ("therapy",)
    lexicon = HERE / "therapy.jsonl"
    # In a treatment paper, "the regimen was well tolerated" is a therapy claim without a drug name.
    require_entity = False
    fallback = GENERIC_THERAPY_RE


@hookimpl
def register_extractors(register) -> None:
    register(TherapyExtractor())
