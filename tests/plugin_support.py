"""Helpers shared by the built-in plugin tests."""

from __future__ import annotations

from evidex import Claim, Document, Mention
from evidex.pipeline import extract


def run(nlp_and_extractors, abstract: str, title: str = "") -> list:
    "Claims and mentions of every installed extractor on one made-up document."
    nlp, extractors = nlp_and_extractors
    errors: list = []
    document = Document(id="t", title=title, abstract=abstract)
    out = [item for _, items in extract(nlp, [document], extractors, errors.append) for item in items]
    assert not errors, errors
    return out


def ids(items, category: str) -> set[str]:
    return {i.entity for i in items if isinstance(i, Mention) and i.category == category}


def claims(items, category: str) -> list[Claim]:
    return [i for i in items if isinstance(i, Claim) and i.category == category]


def extractor_plugin(name: str, body: str, imports: str = "") -> str:
    "The source of a one-off plugin file whose extractor runs body (indented 8 spaces) on each field."
    return (f"{imports}\nfrom evidex import Extractor, hookimpl\n\n\n"
            f"class Plugin(Extractor):\n    name = {name!r}\n    version = \"0.0\"\n\n"
            f"    def extract(self, document, field, doc):\n{body}\n        return []\n\n\n"
            "@hookimpl\ndef register_extractors(register):\n    register(Plugin())\n")
