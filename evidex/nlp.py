"""The one shared spaCy pipeline every extractor receives."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import numpy
import spacy
from spacy.attrs import ORTH, SENT_START, SPACY
from spacy.language import Language
from spacy.strings import hash_string  # type: ignore[attr-defined]  # in strings.pyx, not spaCy's strings.pyi
from spacy.tokens import Doc

from .errors import ConfigError, EvidexError, PluginError
from .models import Extractor

SENTENCE_PIPE = "evidex_sentences"
# Bump whenever a tokenizer or sentence rule here changes what extractors see: documents stored
# under other rules are extracted again on the next run, as after a plugin's version changes.
PIPELINE_RULES = "3"  # 3: the section a claim falls back to is lower case

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
_CAPITALS: dict[int, bool] = {}
_AFTER_INITIAL = frozenset(hash_string(p) for p in ".!?,;")


def _opens_sentence(doc: Doc, orth: int) -> bool:
    "Can this word open a sentence (capital, digit, Greek, bracket, lower-case symbol)?"
    ok = _OPENS.get(orth)
    if ok is None:
        ok = _OPENS[orth] = _START_RE.match(doc.vocab.strings[orth]) is not None
    return ok


def _is_capital(doc: Doc, orth: int) -> bool:
    "Is this word one capital letter (an initial, or 'hepatitis C', 'cyclin E', 'group B')?"
    ok = _CAPITALS.get(orth)
    if ok is None:
        text = doc.vocab.strings[orth]
        ok = _CAPITALS[orth] = len(text) == 1 and "A" <= text <= "Z"
    return ok


def _is_start(doc: Doc, orth: numpy.ndarray, i: int) -> bool:
    "Does the token after sentence-final punctuation at i-1 open a new sentence?"
    # .item() reads the neighbours; orth.tolist() would convert every token of the field.
    nxt = orth.item(i)
    if not _opens_sentence(doc, nxt):
        return False
    if i < 2:
        return True
    before = orth.item(i - 2)
    if before in _ABBREVIATION_HASHES:
        return False
    if _is_capital(doc, before):
        # "hepatitis C. Then" ends a sentence; an initial does not: one that opens a sentence or
        # follows a comma ("Smith, J. Then"), or one followed by another ("A. J. Smith").
        return not (i < 3 or orth.item(i - 3) in _AFTER_INITIAL or _is_capital(doc, nxt))
    return True


_NOT_START = numpy.uint64(2**64 - 1)  # SENT_START -1 ("not a start") as the uint64 spaCy stores


@Language.component(SENTENCE_PIPE)
def split_sentences(doc: Doc) -> Doc:
    "Mark sentence starts after . ! ? followed by white space, written as one SENT_START column."
    n = len(doc)
    if not n:
        return doc
    # Vectorised: a Python loop over every token (or a token setter per boundary, which
    # re-checks the doc's annotations) would cost more than the tokenizer itself.
    arr = doc.to_array([ORTH, SPACY])
    orth = arr[:, 0]
    dot, bang, question = _END_HASHES
    ends = (orth == dot) | (orth == bang) | (orth == question)
    ends &= arr[:, 1] == 1
    column = numpy.full((n, 1), _NOT_START, dtype="uint64")
    column[0, 0] = 1
    for i in ends[:-1].nonzero()[0].tolist():
        if _is_start(doc, orth, i + 1):
            column[i + 1, 0] = 1
    doc.from_array([SENT_START], column)  # type: ignore[arg-type]  # spaCy types it as thinc's Ints2d, not a numpy array
    return doc


def pipeline_signature(model: str | None = None) -> dict[str, str]:
    "What the shared parse depends on besides the extractors: the pipeline's rules and the model."
    return {"rules": PIPELINE_RULES, "model": model or os.environ.get("EVIDEX_SPACY_MODEL") or "blank:en"}


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
    _split_letter_stops(nlp)
    _add_to_pattern(nlp, "suffix_search", HANGING_HYPHEN)
    _add_to_pattern(nlp, "infix_finditer", JOINING_SEMICOLON)
    _add_to_pattern(nlp, "infix_finditer", GLUED_PARENTHESIS)
    _add_to_pattern(nlp, "suffix_search", CAPITAL_STOP)
    for extractor in extractors:
        try:
            extractor.setup(nlp)
        except EvidexError:
            raise
        except (Exception, SystemExit) as ex:  # a bad lexicon or pipe (or a sys.exit): one line naming the extractor
            raise PluginError(f"extractor {extractor.name!r} failed to set up: {type(ex).__name__}: {ex}") from None
    _flush_tokenizer_cache(nlp)
    return nlp


def _split_letter_stops(nlp: Language) -> None:
    "Tokenise 'b.' as 'b' and '.': a lower-case letter before a stop ends a word in papers, not an initial."
    # spaCy's English exceptions keep "a." to "z." whole (list items, initials); in abstracts the
    # letter is a panel ("Fig. 2b."), a unit ("2.8 g."), a variant ("type b.", "HLA-b.") or a symbol,
    # and the glued stop both hides the sentence end and stops the letter from matching a term.
    tokenizer: Any = nlp.tokenizer  # a model's own tokenizer need not be spaCy's Tokenizer
    rules = getattr(tokenizer, "rules", None)
    if rules:
        tokenizer.rules = {k: v for k, v in rules.items() if not (len(k) == 2 and k[1] == "." and k[0].islower())}


# A hyphen left hanging before a space shares the next word's ending: "CD4- and CD8-positive",
# "Ras- or stress-induced". Without the split the word never matches its own name. Only after a
# letter (Latin or Greek) or a digit, so "Trp53-/-" keeps its knockout notation.
HANGING_HYPHEN = "(?<=[A-Za-z0-9\u0370-\u03ff])-$"
# Genotypes join their alleles with a bare semicolon: "Vil-Cre;Kras" is "Vil-Cre", ";", "Kras".
JOINING_SEMICOLON = "(?<=[A-Za-z0-9]);(?=[A-Za-z])"
# A parenthesis glued to the word before it opens an aside, as after a space: "p38(HOG)",
# "IFN-alpha(2b)", "interferon(IFN)". Only before a letter or digit, so knockout and charge
# notation ("Ifnar1(-/-)", "CD8(+)") stays one word.
GLUED_PARENTHESIS = "(?<=[A-Za-z0-9\u0370-\u03ff])\\((?=[A-Za-z0-9\u0370-\u03ff])"
# A stop after a capital that follows a digit or a small letter, or after a lone capital, ends the
# word as it does after two capitals: "NF-kB.", "E1A.", "KRAS G12C.", "Fig. 2B.", "hepatitis C."
# (spaCy keeps these glued, hiding both the name and the sentence end; initials are the
# splitter's to tell apart).
CAPITAL_STOP = "(?<=[0-9a-z][A-Z])\\.$|(?<=(?<![.\\w])[A-Z])\\.$"


def _add_to_pattern(nlp: Language, attribute: str, alternative: str) -> None:
    "Add an alternative to the tokenizer's own suffix or infix pattern, so a model's rules are kept."
    method: Any = getattr(nlp.tokenizer, attribute, None)
    current = getattr(method, "__self__", None)
    if not isinstance(current, re.Pattern):
        return
    extended = re.compile(f"{current.pattern}|{alternative}", current.flags)
    setattr(nlp.tokenizer, attribute, getattr(extended, method.__name__))


def _flush_tokenizer_cache(nlp: Language) -> None:
    "Drop the tokenizer cache entries that building pattern docs left behind."
    # Extractors tokenise thousands of one-off lexicon strings in setup(); measured on spaCy 3.8,
    # a cache full of them makes every later tokenizer call several times slower.
    tokenizer = nlp.tokenizer
    if hasattr(tokenizer, "rules"):
        tokenizer.rules = tokenizer.rules  # the setter flushes the cache and reloads special cases
