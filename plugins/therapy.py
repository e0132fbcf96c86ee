"""Therapy claims: effects, outcomes, mechanisms, response and resistance of treatments."""

from __future__ import annotations

from evidex import hookimpl

from .common import HERE, LexiconExtractor


class TherapyExtractor(LexiconExtractor):
    "Sentences asserting an effect or outcome of a therapy, from drug names, INN stems and classes."

    name = "therapy"
    version = "0.1"
    categories = ("therapy",)
    lexicon = HERE / "therapy.jsonl"


@hookimpl
def register_extractors(register) -> None:
    register(TherapyExtractor())
