"""The one shared spaCy pipeline every extractor receives."""

from __future__ import annotations

import os
from collections.abc import Iterable

import spacy
from spacy.language import Language

from .errors import ConfigError
from .models import Extractor


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
        nlp.add_pipe("sentencizer")
    for extractor in extractors:
        extractor.setup(nlp)
    return nlp
