"""Age claims: ageing, aged hosts, older patients, immunosenescence, inflammaging, age as a factor."""

from __future__ import annotations

from evidex import hookimpl

from .common import HERE, LexiconExtractor


class AgeExtractor(LexiconExtractor):
    "Sentences asserting an age-related effect; cohort age descriptors and cell senescence excluded."

    name = "age"
    version = "0.1"
    categories = ("age",)
    lexicon = HERE / "age.jsonl"


@hookimpl
def register_extractors(register) -> None:
    register(AgeExtractor())
