"""Pathway claims: innate sensing, JAK-STAT, NF-κB, oncogenic, epigenetic and metabolic regulators."""

from __future__ import annotations

from evidex import hookimpl

from .base import HERE, LexiconExtractor


class PathwayExtractor(LexiconExtractor):
    "Sentences asserting a relation that involves a lexicon pathway or regulator."

    name = "pathway"
    version = "0.17"
    categories = ("pathway",)
    lexicon = HERE / "pathway.jsonl"
    # A named gene is not enough: the sentence must relate it to something.
    require_trigger = True


@hookimpl
def register_extractors(register) -> None:
    register(PathwayExtractor())
