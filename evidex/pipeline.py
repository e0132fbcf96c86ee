"""Parse each document once and hand the parsed fields to every extractor."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # spaCy loads in ~0.5 s: only commands that extract should pay for it
    from spacy.language import Language

from .models import FIELDS, Claim, Document, Extractor, Mention, plain_json


DIRECTIONS = ("up", "down", "assoc", "none")


class PluginOutputError(Exception):
    "An extractor yielded something that cannot be stored as evidence."


@dataclass
class ExtractionError:
    "One extractor raised on one document; recorded, never fatal to the run."

    doc_id: str
    plugin: str
    error: str
    detail: str


def parse(nlp: Language, documents: Iterable[Document], batch_size: int = 256,
          on_error: Callable[[ExtractionError], None] | None = None) -> Iterator[tuple[Document, dict]]:
    """Yield each document with its non-empty fields parsed once by the shared pipeline.

    A field longer than the pipeline's max_length (spaCy's guard, a million characters: a whole
    book, not an abstract) is left unparsed and reported through on_error, not raised.
    """

    def fits(document: Document, name: str) -> bool:
        size = len(getattr(document, name))
        if size <= nlp.max_length:
            return True
        if on_error is not None:
            on_error(ExtractionError(document.id, "evidex", f"{name} of {size:,} characters is longer than the "
                                     f"parse limit of {nlp.max_length:,}; not extracted", ""))
        return False

    def texts() -> Iterator[tuple[str, tuple[Document, str, bool]]]:
        for document in documents:
            fields = [f for f in FIELDS if getattr(document, f) and fits(document, f)]
            if not fields:
                # Still yield it so the caller sees every document (e.g. no abstract).
                yield "", (document, "", True)
                continue
            for i, name in enumerate(fields):
                yield getattr(document, name), (document, name, i == len(fields) - 1)

    parsed: dict = {}
    for doc, (document, name, last) in nlp.pipe(texts(), as_tuples=True, batch_size=batch_size):
        if name:
            parsed[name] = doc
        if last:
            yield document, parsed
            parsed = {}


def _text(value: object) -> bool:
    return isinstance(value, str)


def _texts(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _flag(value: object) -> bool:
    return isinstance(value, int) and value in (0, 1)  # stored as int(value): 0 and 1 are as good


# Field -> (test, what it must be). A wrong type would be stored as it is and read back wrong:
# entities "ABC" as a string lists A, B and C in claims_by_entity.
CLAIM_TYPES: dict[str, tuple[Callable[[object], bool], str]] = {
    **{k: (lambda v: v is None or isinstance(v, str), "text or None")
       for k in ("subject", "predicate", "object", "section", "study_system", "cancer_type")},
    "category": (_text, "text"), "role": (_text, "text"),
    "negated": (_flag, "True or False"), "hedged": (_flag, "True or False"),
    "entities": (_texts, "a list of texts"), "negation_cues": (_texts, "a list of texts"),
    "hedge_cues": (_texts, "a list of texts"), "extra": (lambda v: isinstance(v, dict), "a dict"),
}
MENTION_TYPES: dict[str, tuple[Callable[[object], bool], str]] = {
    "category": (_text, "text"), "entity": (lambda v: isinstance(v, str) and v != "", "non-empty text"),
}


def wrong_numbers(item: Claim | Mention) -> str | None:
    "Offsets that are no whole numbers or a confidence that is no number, in a few words, or None."
    for key in ("start", "end", "confidence"):
        value = getattr(item, key, 0)
        whole = isinstance(value, int) or (key == "confidence" and isinstance(value, float))
        if not whole or isinstance(value, bool):
            return f"whose {key} is {value!r}, not a {'number' if key == 'confidence' else 'whole number'}"
    return None


def wrong_extra(extra: dict) -> str | None:
    "Why a claim's extra cannot be stored as the same JSON in every run, in a few words, or None."
    for value in extra.values():
        kind = type(value)
        # Most values are plain (the built-in plugins' are): no need to serialise them twice.
        if kind is str or kind is int or kind is bool or value is None or (kind is float and value - value == 0) \
                or (kind is list and all(type(v) is str for v in value)):
            continue
        try:
            json.dumps(extra, sort_keys=True, allow_nan=False, default=plain_json)
        except (TypeError, ValueError) as ex:  # NaN or infinity, an object without stable text, mixed key types
            return f"whose extra cannot be stored as JSON: {ex}"
        return None
    return None


def wrong_types(item: Claim | Mention, text: str) -> str | None:
    "What is wrong with a yielded item's other fields, in a few words, or None: checked before anything is stored."
    for key, (test, kind) in (CLAIM_TYPES if isinstance(item, Claim) else MENTION_TYPES).items():
        value = getattr(item, key)
        if not test(value):
            return f"whose {key} is {value!r}, not {kind}"
    if isinstance(item, Claim) and item.extra:
        problem = wrong_extra(item.extra)
        if problem:
            return problem
    # Evidence is the sentence at its offsets: another text there would be stored as if the paper said it.
    said = item.sentence if isinstance(item, Claim) else item.text
    if said != text[item.start:item.end]:
        kind = "sentence" if isinstance(item, Claim) else "text"
        return f"whose {kind} {said!r:.60} is not the text at {item.field}[{item.start}:{item.end}]"
    return None


def iterate(produced: object) -> Iterator[Claim | Mention]:
    "What extract() gave, to iterate over; a value that holds no items is a PluginOutputError saying what it was."
    # Iterating a str or a dict would blame a character or a key; None or a lone Claim would give
    # Python's "'NoneType' object is not iterable", which names neither extract() nor the remedy.
    if produced is not None and not isinstance(produced, (str, bytes, dict, Claim, Mention)):
        try:
            return iter(cast(Iterable[Claim | Mention], produced))
        except TypeError:
            pass
    kind = type(produced).__name__
    what = "None" if produced is None else f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"
    raise PluginOutputError(f"extract() returned {what}, not Claims and Mentions to iterate over: "
                            "yield each one, or return a list ([] for none)")


def extract_one(
    document: Document,
    parsed: dict,
    extractors: Iterable[Extractor],
    on_error: Callable[[ExtractionError], None],
) -> list[Claim | Mention]:
    "Run every extractor on one parsed document; an extractor that raises is reported and skipped."
    out: list[Claim | Mention] = []
    for extractor in extractors:
        categories = extractor.categories
        try:
            found = []
            for name, doc in parsed.items():
                text = getattr(document, name)
                limit = len(text)
                for item in iterate(extractor.extract(document, name, doc)):
                    is_claim = type(item) is Claim or isinstance(item, Claim)
                    if not is_claim and not isinstance(item, Mention):
                        raise PluginOutputError(f"yielded {item!r}, which is neither a Claim nor a Mention")
                    problem = wrong_numbers(item)
                    if problem:
                        raise PluginOutputError(f"yielded a {type(item).__name__} {problem}")
                    # What a plugin yields is stored as evidence: it must point into the text it was given.
                    if item.field != name or not 0 <= item.start <= item.end <= limit:
                        raise PluginOutputError(
                            f"yielded a {type(item).__name__} at {item.field}[{item.start}:{item.end}], outside the "
                            f"{name} it was given ({limit} characters)")
                    if categories and item.category not in categories:
                        raise PluginOutputError(f"yielded category {item.category!r}, not one of its categories "
                                                f"({', '.join(categories)})")
                    claim = cast(Claim, item)  # read only where is_claim holds
                    if is_claim and (claim.direction not in DIRECTIONS or not 0 <= claim.confidence <= 1):
                        raise PluginOutputError(f"yielded a claim with direction {claim.direction!r} and confidence "
                                                f"{claim.confidence!r}: directions are {', '.join(DIRECTIONS)}, "
                                                "confidence is 0 to 1")
                    problem = wrong_types(item, text)
                    if problem:
                        raise PluginOutputError(f"yielded a {type(item).__name__} {problem}")
                    item.doc_id = document.id
                    item.plugin = extractor.name
                    item.plugin_version = extractor.version
                    if is_claim and claim.section is None and name == "abstract":
                        # Lower case, as the built-in plugins write theirs: "RESULTS" (a PubMed
                        # category) and "Results" (a Europe PMC heading) are one facet value.
                        label = document.section_at(item.start)
                        claim.section = label.lower() if label else None
                    found.append(item)
        # SystemExit too: a plugin (or a library it calls) exiting must not end the run as a success.
        except (Exception, SystemExit) as ex:  # one plugin's bug must not lose the other plugins' claims
            on_error(
                ExtractionError(
                    document.id, extractor.name, f"{type(ex).__name__}: {ex}", traceback.format_exc(limit=5)
                )
            )
            continue
        out.extend(found)
    return out


def extract(
    nlp: Language,
    documents: Iterable[Document],
    extractors: Iterable[Extractor],
    on_error: Callable[[ExtractionError], None],
) -> Iterator[tuple[Document, list[Claim | Mention]]]:
    "Stream (document, claims and mentions) over documents."
    extractors = list(extractors)
    for document, parsed in parse(nlp, documents, on_error=on_error):
        yield document, extract_one(document, parsed, extractors, on_error)
