"""The one shared spaCy pipeline every extractor receives."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .errors import ConfigError
from .models import Extractor

SENTENCE_PIPE = "evidex_sentences"

# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by white space.
_END_RE = re.compile(r"[.!?][\"'”’)\]]*\s+")
# Words whose trailing period is an abbreviation in scientific prose, not a sentence end.
_ABBREV_RE = re.compile(
    r"(?:\b(?:e\.g|i\.e|et al|al|vs|v|Fig|Figs|fig|figs|approx|ca|cf|resp|No|no|Nos|Dr|Prof|Ref|Eq|Eqs"
    r"|Suppl|Tab|vol|Vol|pp|St|Ltd|Inc|Co|Corp|sp|spp|subsp|var|ed|eds|min|max|Jan|Feb|Mar|Apr|Jun"
    r"|Jul|Aug|Sep|Sept|Oct|Nov|Dec|viz|p\.o|i\.v|i\.p|s\.c|b\.i\.d|t\.i\.d|q\.d)\.|\b[a-z]\.[a-z]\.)"
    r"[\"'”’)\]]*\s+$"
)
# What may open a sentence: a capital, a digit, a Greek letter, a bracket or quote, or a
# lower-case gene-like symbol such as "p53" or "c-Myc".
_START_RE = re.compile(r"[A-Z0-9\u0370-\u03ff(\[\"'“‘]|[a-z]{1,3}[A-Z0-9-]")


def sentence_starts(text: str) -> list[int]:
    "Character offsets where a new sentence starts (after the first), for scientific text."
    starts = []
    for m in _END_RE.finditer(text):
        end = m.end()
        if end >= len(text) or not _START_RE.match(text, end):
            continue
        if _ABBREV_RE.search(text, max(0, m.start() - 12), end):
            continue
        starts.append(end)
    return starts


@Language.component(SENTENCE_PIPE)
def split_sentences(doc: Doc) -> Doc:
    "Mark sentence starts found on the text; touches only the boundary tokens."
    if not len(doc):
        return doc
    doc[0].is_sent_start = True
    if len(doc) > 1:
        doc[1].is_sent_start = False  # token 0 alone does not mark the doc as split
    starts = sentence_starts(doc.text)
    if starts:
        idx = doc.to_array("IDX").tolist()
        from bisect import bisect_left

        n = len(idx)
        for offset in starts:
            i = bisect_left(idx, offset)
            if 0 < i < n and idx[i] == offset:
                doc[i].is_sent_start = True
    return doc


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
    return nlp
