"""The one shared spaCy pipeline every extractor receives."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

import numpy
import spacy
from spacy.attrs import ORTH, SENT_START, SPACY
from spacy.language import Language
from spacy.strings import StringStore, hash_string
from spacy.tokens import Doc
from spacy.util import minibatch

from .errors import ConfigError
from .models import Extractor

SENTENCE_PIPE = "evidex_sentences"

# Words whose trailing period is an abbreviation in scientific prose, not a sentence end
# (spaCy keeps "e.g.", "i.e.", "vs." and decimals as one token already).
_ABBREVIATIONS = frozenset("""
    al Fig Figs fig figs approx ca cf resp No no Nos Dr Prof Ref Eq Eqs Suppl Tab vol Vol pp St Ltd Inc Co
    Corp sp spp subsp var ed eds min max Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec viz vs v e.g i.e
    p.o i.v i.p s.c b.i.d t.i.d q.d
""".split())  # noqa: SIM905 - a word list reads better than a 60-item literal
# What may open a sentence: a capital, a digit, a Greek letter, a bracket or quote, or a
# lower-case symbol such as "p53", "pDCs" or "c-Myc".
_START_RE = re.compile(r"[A-Z0-9\u0370-\u03ff(\[\"'“‘]|[a-z]{1,3}[A-Z0-9-]")


# Hashes of the abbreviations and of the sentence-final marks (spaCy string hashes do not depend
# on the vocabulary), and a per-word cache of _START_RE: the splitter then reads only the ORTH
# column and never builds a Token.
_ABBREVIATION_HASHES = frozenset(hash_string(w) for w in _ABBREVIATIONS)
_END_HASHES = tuple(numpy.uint64(hash_string(p)) for p in ".!?")
_OPENS: dict[int, bool] = {}


def _opens_sentence(strings: StringStore, orth: int) -> bool:
    "Can this word open a sentence (capital, digit, Greek, bracket, lower-case symbol)?"
    ok = _OPENS.get(orth)
    if ok is None:
        ok = _OPENS[orth] = _START_RE.match(strings[orth]) is not None
    return ok


_NOT_START = numpy.uint64(2**64 - 1)  # SENT_START -1 ("not a start") as the uint64 spaCy stores
# Docs per vectorised step in pipe(): enough to spread numpy's fixed cost per call over many
# docs, few enough to keep the joined columns small (memory stays flat).
_BATCH = 32


def split_sentences(doc: Doc) -> Doc:
    "Mark sentence starts after . ! ? followed by white space, written as one SENT_START column."
    _mark_sentences([doc])
    return doc


def _mark_sentences(docs: list[Doc]) -> None:
    "split_sentences for several docs of one vocabulary, vectorised over their joined columns."
    docs = [doc for doc in docs if len(doc)]
    if not docs:
        return
    # Vectorised: a Python loop over every token (or a token setter per boundary, which
    # re-checks the doc's annotations) would cost more than the tokenizer itself.
    arrays = [doc.to_array([ORTH, SPACY]) for doc in docs]
    arr = numpy.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    orth = arr[:, 0]
    dot, bang, question = _END_HASHES
    ends = (orth == dot) | (orth == bang) | (orth == question)
    ends &= arr[:, 1] == 1
    bounds = numpy.cumsum([0] + [len(a) for a in arrays]).tolist()  # each doc's first row, then the end
    ends[[b - 1 for b in bounds[1:]]] = False  # a doc's last token has no next token to open a sentence
    column = numpy.full(len(orth), _NOT_START, dtype="uint64")
    column[bounds[:-1]] = 1
    firsts = set(bounds)
    strings = docs[0].vocab.strings
    for i in ends.nonzero()[0].tolist():
        # .item() reads the two neighbours; orth.tolist() would convert every token.
        if _opens_sentence(strings, orth.item(i + 1)) and (
                i in firsts or orth.item(i - 1) not in _ABBREVIATION_HASHES):
            column[i + 1] = 1
    for doc, start, stop in zip(docs, bounds, bounds[1:]):
        doc.from_array([SENT_START], column[start:stop])


class SentenceSplitter:
    "The evidex_sentences pipe: split_sentences per doc, or per batch of docs in nlp.pipe()."

    def __call__(self, doc: Doc) -> Doc:
        return split_sentences(doc)

    def pipe(self, docs: Iterable[Doc], batch_size: int = _BATCH) -> Iterator[Doc]:
        "Yield the docs with sentences marked, a batch of one vocabulary at a time."
        for batch in minibatch(docs, min(batch_size, _BATCH)):
            vocab = batch[0].vocab
            if all(doc.vocab is vocab for doc in batch):
                _mark_sentences(batch)
            else:
                for doc in batch:
                    split_sentences(doc)
            yield from batch


@Language.factory(SENTENCE_PIPE)
def make_sentence_splitter(nlp: Language, name: str) -> SentenceSplitter:
    "spaCy factory for the sentence splitter."
    return SentenceSplitter()


def make_nlp(extractors: Iterable[Extractor] = (), model: str | None = None) -> Language:
    "Blank English with sentence splitting (or an installed model), then each extractor's pipes."
    model = model or os.environ.get("EVIDEX_SPACY_MODEL") or None
    if model:
        try:
            nlp = spacy.load(model)
        except OSError as ex:
            raise ConfigError(f"spaCy model {model!r} is not installed: {ex}") from None
    else:
        nlp = spacy.blank("en")
    if not nlp.has_pipe("sentencizer") and not nlp.has_pipe("parser") and not nlp.has_pipe("senter"):
        nlp.add_pipe(SENTENCE_PIPE)
    for extractor in extractors:
        extractor.setup(nlp)
    _flush_tokenizer_cache(nlp)
    return nlp


def _flush_tokenizer_cache(nlp: Language) -> None:
    "Drop the tokenizer cache entries that building pattern docs left behind."
    # Extractors tokenise thousands of one-off lexicon strings in setup(); measured on spaCy 3.8,
    # a cache full of them makes every later tokenizer call several times slower.
    tokenizer = nlp.tokenizer
    if hasattr(tokenizer, "rules"):
        tokenizer.rules = tokenizer.rules  # the setter flushes the cache and reloads special cases
