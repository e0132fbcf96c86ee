"""Type I interferon claims: ligands, receptor, JAK-STAT/ISGF3 signalling and ISG signatures."""

from __future__ import annotations

from evidex import hookimpl

from .base import HERE, LexiconExtractor


class IfnExtractor(LexiconExtractor):
    "Sentences asserting something about type I IFN (not IFN-γ or IFN-λ)."

    name = "ifn"
    version = "0.17"
    categories = ("ifn",)
    lexicon = HERE / "ifn.jsonl"


@hookimpl
def register_extractors(register) -> None:
    register(IfnExtractor())
