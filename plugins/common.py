"""Shared lexicon matching, cue detection and sentence analysis for the built-in evidex plugins."""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the simple lower-case mapping re itself uses
import heapq
import itertools
import json
import re
import re._parser as _sre_parser  # type: ignore[import-not-found]  # to read a context regex's first characters
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from re._casefix import _EXTRA_CASES  # type: ignore[import-not-found]  # re's extra case equivalences
from typing import Any, cast

import numpy
from spacy.attrs import IDX, LENGTH, SENT_START
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from evidex import Claim, Document, Extractor, Mention

from .base import CUES_PATH

PIPE_NAME = "evidex_lexicon"
CATEGORIES = ("ifn", "pathway", "therapy", "age")

# Spelling variants the lexicon files leave implicit: each Greek letter and each dash is
# expanded at load time so the JSONL stays one readable line per concept.
GREEK = {
    "α": ("α", "alpha", "ɑ"), "β": ("β", "beta", "ß"), "γ": ("γ", "gamma"),
    "ε": ("ε", "epsilon", "ϵ"), "κ": ("κ", "kappa"), "ω": ("ω", "omega"), "λ": ("λ", "lambda"),
}
DASH_FORMS = ("-", "", " ", "–", "‐")
# Text converted without Greek letters writes "IFN-γ" as "IFN-g": a Latin letter after a dash.
# Only after a dash: "ERα" as "ERa" would be the word "era".
LATIN_AFTER_DASH = re.compile(r"-([αβγλ])(?![^\W\d_])")
LATIN = {"α": "a", "β": "b", "γ": "g", "λ": "l"}
KNOCKOUT_SUFFIXES = ("-/-", "−/−", "–/–", "(-/-)", "-KO", " KO", "-null")
# Title-case forms of these symbols are ordinary English words; only their knockout forms count.
ENGLISH_TITLES = {"Sting", "Visa", "Ras", "Neu", "Ros", "Ido", "Age", "Chop", "Lam", "Dox"}


def _expand_greek(term: str) -> list[str]:
    slots = [GREEK.get(ch, (ch,)) for ch in term]
    if all(len(s) == 1 for s in slots):
        return [term]
    return ["".join(p) for p in itertools.product(*slots)]


def _expand_dashes(term: str) -> list[str]:
    # Knockout marks and slashes are notation, not word joins: leave them alone.
    if "/-" in term or term.count("-") > 3:
        return [term]
    parts = term.split("-")
    if len(parts) == 1:
        return [term]
    out = []
    for joins in itertools.product(DASH_FORMS, repeat=len(parts) - 1):
        s = parts[0]
        for j, p in zip(joins, parts[1:]):
            if j == "" and p[:1].isdigit() and s[-1:].isdigit():
                j = "-"  # "1-2" must not become "12"
            s += j + p
        out.append(s)
    return out


# "interferon alfa-2b" is also written "interferon-alfa-2b": the space before a Greek letter (or
# its name) is a join like a dash, and takes every dash form.
GREEK_JOIN_RE = re.compile(r" (?=[αβγεκωλ]|(?:alpha|alfa|beta|gamma|epsilon|kappa|omega|lambda)\b)")


def term_variants(term: str, gene: bool = False, plural: bool = True) -> set[str]:
    "Greek (and Latin-letter), dash, plural, mouse-case and knockout variants of one lexicon term."
    out: set[str] = set()
    for base in {term, GREEK_JOIN_RE.sub("-", term)}:
        for g in _expand_greek(base):
            out.update(_expand_dashes(g))
    latin = LATIN_AFTER_DASH.sub(lambda m: "-" + LATIN[m.group(1)], term)
    if latin != term:
        out.add(latin)
    if plural:
        for v in list(out):
            if v[-1:].isalpha() and v[-1:] not in "sS" and len(v) > 2:
                out.add(v + "s")
    if gene:
        one_word = {v for v in out if " " not in v}
        for v in one_word:
            titles = {v}
            if v.isupper() or any(c.isdigit() for c in v):
                titles.add(v[:1].upper() + v[1:].lower())
            for t in titles:
                if t != v and t not in ENGLISH_TITLES:
                    out.add(t)
                for suffix in KNOCKOUT_SUFFIXES:
                    out.add(t + suffix)
    return out


@dataclass(slots=True)
class Entry:
    "One lexicon line: a canonical id, its label, and when the id counts."

    category: str
    id: str
    label: str
    emit: bool = True  # False: a concept that supports a claim but has no canonical id
    weak: bool = False  # True: counted as an entity only inside a claim sentence
    context: re.Pattern | None = None  # the document must match this for the entry to count
    block_context: re.Pattern | None = None  # ... and must not match this
    exclude: bool = False
    generic: bool = False  # True: a generic word ("treatment") that counts only in a paper on the topic
    # True: downstream evidence (an ISG, a shared signalling gene) that makes a claim only in a
    # document naming the category's topic, and not in a sentence naming only a look-alike of it.
    downstream: bool = False
    lookalike: bool = False  # on an exclusion: what it excludes is a look-alike of the category (IFN-γ)
    # True: each term's last word only anchors it ("radio- and", "radio- or") and is not part of the name.
    anchor_last: bool = False
    # Derived once at load time so the per-match loop reads a flag instead of testing strings.
    fact: bool = field(init=False, default=False)  # a context qualifier (study system, cancer), not a hit
    conditional: bool = field(init=False, default=False)  # has a context or block_context to check
    # The two regexes with a literal finder, for the per-document checks.
    context_finder: GatedPattern | None = field(init=False, default=None)
    block_finder: GatedPattern | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.fact = self.category.startswith("fact:")
        self.conditional = self.context is not None or self.block_context is not None
        self.context_finder = gated(self.context) if self.context is not None else None
        self.block_finder = gated(self.block_context) if self.block_context is not None else None


@dataclass(slots=True)
class Hit:
    "One lexicon match in a parsed field, in character offsets."

    category: str
    entity: str
    label: str
    start: int
    end: int
    text: str
    emit: bool = True
    weak: bool = False
    generic: bool = False
    downstream: bool = False
    anaphor: bool = False  # "It" or "This agent" standing for the drug the sentence before opened with


@dataclass(slots=True)
class Cue:
    "One cue word (negation, hedge, trigger, ...) in character offsets."

    kind: str
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Sentence:
    "One sentence of a field with its lexicon hits and cue words."

    start: int
    end: int
    text: str
    hits: list[Hit] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    index: int = 0
    total: int = 1
    # Per-sentence judgements shared by all four plugins, computed on first use.
    verdict: Verdict | None = None
    # (cue, where the clause it alone denies begins, or -1): see negations().
    negation_cues: list[tuple[str, int]] | None = None
    hedge_cues: list[str] | None = None
    aside_hedges: list[tuple[str, int, int]] = field(default_factory=list)  # (cue, its trailing aside's start, end)
    role: str | None = None
    context: tuple[str | None, str | None] | None = None  # (study system, cancer type)
    kinds: frozenset[str] | None = None  # the kinds of its cues
    section: str | None = None  # the structured-abstract label in force, opened here or earlier
    downstream: bool = False  # does a hit name another category's downstream gene (see _owned_elsewhere)?


def cue_kinds(sent: Sentence) -> frozenset[str]:
    "The kinds of the sentence's cues, collected on first use (every plugin asks)."
    kinds = sent.kinds
    if kinds is None:
        kinds = sent.kinds = frozenset(c.kind for c in sent.cues)
    return kinds


def _load_cues() -> dict[str, Any]:
    "The shared cue words; a broken file names itself and its line (all four built-ins read it)."
    try:
        return json.loads(CUES_PATH.read_text(encoding="utf-8"))
    except json.JSONDecodeError as ex:
        raise ValueError(f"{CUES_PATH} line {ex.lineno}: not valid JSON ({ex.msg})") from None


CUES: dict[str, Any] = _load_cues()  # cue kind -> words; "_systems" and "_cancers" hold tables
# Cue kinds in priority order: where two cues overlap the longer wins, then the earlier kind.
CUE_KINDS = [k for k in CUES if not k.startswith("_")]
DIRECTION_KINDS = {"up": "up", "down": "down", "assoc": "assoc", "dep": "up"}
BACKGROUND_RANK = CUE_KINDS.index("background")
RELATION_RANKS = frozenset(CUE_KINDS.index(k) for k in DIRECTION_KINDS)
TRIGGER_KINDS = frozenset(DIRECTION_KINDS) | {"neg"}  # what a plugin with require_trigger needs

# Patient-age descriptors and young-animal ages are cohort facts, not ageing claims.
# A number in digits or words ("8-week-old", "Six-week-old", "twenty-year-old").
_AMOUNT = (r"(?:\d+(?:\.\d+)?|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s]?(?:one|two|three|four|five"
           r"|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
           r"|fifteen|sixteen|seventeen|eighteen|nineteen)")
AGE_DESCRIPTOR_RE = re.compile(
    r"\baged?\s*(?:[<>≥≤=]|\d|over\b|under\b|between\b|from\b|\(|above\b|below\b|older than|younger than)"
    rf"|\b{_AMOUNT}\s*(?:[-–]\s*{_AMOUNT}\s*)?[-\s]*(?:years?|yrs?|y|weeks?|wk|days?|d)[-\s]*(?:old|of age)\b"
    r"|\bAged\[mh\]|\bAged, 80 and over\b|\bage\s*[:=,]?\s*(?:[<>≥≤]|\d)"
    r"|\b\d+\s*months?\s+of\s+age\b"  # an animal's or a child's age; "20-month-old mice" is OLD_ANIMAL_RE's
    # A covariate: "after adjusting for the confounding variables gender, age and BMI".
    r"|\b(?:adjust|control|correct|match|stratif)\w*\s+(?:for|by|on)\s+(?:[\w-]+,?\s+){0,6}?age\b",
    re.IGNORECASE,
)
# Every descriptor holds "age" or "old" and none runs further than this before that word.
_DESCRIPTOR_ANCHOR_RE = re.compile(r"\b(?:age|old)", re.IGNORECASE)
_DESCRIPTOR_REACH = 160
# AGE_DESCRIPTOR_RE behind a lookahead on the characters its alternatives open with (a digit, or
# "aged", the number words and "adjusted", "controlled", "corrected", "matched", "stratified"): the
# same matches, but re rejects most offsets of a window without trying every alternative.
_DESCRIPTOR_WINDOW_RE = re.compile(rf"(?=[\dacefmnost])(?:{AGE_DESCRIPTOR_RE.pattern})", re.IGNORECASE)


def age_descriptors(text: str) -> list[tuple[int, int]]:
    "Spans of AGE_DESCRIPTOR_RE in text, the regex run only in windows around 'age' and 'old'."
    # Over a whole abstract the regex tries its number words at every word boundary (about
    # 140 µs); a field has one to three anchors, so the windows hold a fraction of the text.
    spans: list[tuple[int, int]] = []
    start = end = -1
    lower = text.lower()
    for m in _DESCRIPTOR_ANCHOR_FINDER.finditer(text, lower):
        lo, hi = max(0, m.start() - _DESCRIPTOR_REACH), m.end() + 16
        if lo <= end:
            end = hi
            continue
        if end >= 0:
            spans.extend(_descriptors_in(text, start, end))
        start, end = lo, hi
    if end >= 0:
        spans.extend(_descriptors_in(text, start, end))
    return spans


def _descriptors_in(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    "Descriptor spans in text[lo:hi], the window widened to white space so no word is cut."
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and not text[hi].isspace():
        hi += 1
    # A slice, not pos/endpos: the regex's look-behinds must not see outside the window either way.
    window = text[lo:hi]
    return [(lo + m.start(), lo + m.end()) for m in _DESCRIPTOR_WINDOW_RE.finditer(window)]


# Old-animal ages (>= 12 months) are ageing terms even when written as numbers; an
# "18-month-old boy" is a toddler.
OLD_ANIMAL_RE = re.compile(
    r"\b(?:1[2-9]|2\d|3\d)\s*[-\s]?(?:months?|mo)[-\s]*old\b"
    r"(?![-\s]+(?:boys?|girls?|child|children|infants?|bab(?:y|ies)|toddlers?|sons?|daughters?|twins?|siblings?"
    r"|patients?|human)\b)",
    re.IGNORECASE,
)
# An age threshold of 60 or more names older patients ("patients ≥60 years old", "aged over 65",
# "70 years and older"); a cohort's range ("aged 45–70 years") stays a descriptor.
OLDER_THRESHOLD_RE = re.compile(
    r"(?:\baged?\s+)?(?:>\s*or\s*=\s*|[>≥]\s*=?\s*|\b(?:over|above|older\s+than)\s+)(?:6\d|[7-9]\d)\s*(?:years?|yrs?|y)\b(?:[-\s]*old\b)?"
    r"|\b(?:6\d|[7-9]\d)\s*(?:years?|yrs?)(?:[-\s]*old)?\s+(?:and|or)\s+(?:older|over|above)\b",
    re.IGNORECASE,
)
YEAR_WORD_RE = re.compile(r"[6-9]\d\s*(?:years?|yrs?|y)\b")  # where a threshold can end
# Drug names recognised by INN stems when no lexicon line names them ("-vastatin", not "-statin",
# which also ends somatostatin, endostatin and oncostatin). The test runs once per
# word of the vocabulary, as a lexeme flag (see drug_flag), so a field reads it as one column.
DRUG_STEMS = (
    "mab", "tinib", "rafenib", "metinib", "ciclib", "parib", "lisib", "zomib", "platin", "rubicin", "taxel",
    "tecan", "floxacin", "mycin", "vastatin", "citabine", "vudine", "fovir", "previr", "asvir", "buvir", "navir",
    "trexate", "fosfamide", "mustine", "sertib", "olimus", "dronate", "rozole", "lutamide", "relix",
    "gliptin", "prazole",
    # Drugs of other fields that cancer patients take or trials repurpose (beta blockers, ACE
    # inhibitors and sartans, heparins, statins, steroids, benzodiazepines, antifungals, ...).
    "olol", "pril", "sartan", "dipine", "parin", "sone", "solone", "azepam", "azolam", "oxetine", "triptyline",
    "cillin", "profen", "conazole", "barbital", "semide", "thiazide", "setron", "afil", "formin", "tropium",
)
# Vinca alkaloids share a prefix, not a suffix: their "-ine" alone would take in "intestine".
VINCA_PREFIX, VINCA_SUFFIX = "vin", "ine"
DRUG_WORD_RE = re.compile(r"[A-Za-z][a-z]{2,}")
# "CD40 agonists", "PD-L1 blockade": found from the keyword, then the word before it.
TARGET_KEYWORD_RE = re.compile(r"(?:inhibitors?|agonists?|agonism|antagonists?|blockade)\b")
TARGET_OF_RE = re.compile(r"\s+of\s+(?:the\s+)?(?=[A-Za-z0-9-]*[A-Z0-9])[A-Za-z][A-Za-z0-9/-]{1,15}\b")
TARGET_WORD_RE = re.compile(r"[A-Z0-9]|(?:ase|ases|some|point)$")
TARGET_NAME_RE = re.compile(r"([A-Za-z][A-Za-z0-9-]{1,15})(?:\s+G12[CDV])?[\s-]+$")
# "KRAS G12C inhibitors", "STING agonist": the gene names a drug's target, not a pathway relation.
DRUG_TARGET_RE = re.compile(r"[\s-]*(?:G12[CDV]\s+)?(?:inhibitors?|agonists?|agonism|antagonists?|blocking antibod(?:y|ies)|-?targeted)\b", re.IGNORECASE)
# Protein names holding a relation word: "signal transducer and activator of transcription",
# "colony-stimulating factor", "inhibitor of kappa B kinase", "leukemia inhibitory factor", "the CDK
# inhibitors p21 and p27". The word states no relation there, and its "inhibitor" names no drug.
NAME_CUE_WORDS = frozenset({"activator", "activators", "activating", "stimulating", "inhibitor", "inhibitors",
                            "inhibitory", "suppressor", "suppressors", "inducible", "inducing"})
RELATION_NAME_RE = re.compile(
    r"signal\s+transducers?\s+and\s+activators?\s+of\s+transcription|colony[\s-]+stimulating\s+factors?"
    r"|inhibitors?\s+of\s+(?:nuclear\s+factor[\s-]+)?(?:kappa|κ)[\s-]?B|activating\s+transcription\s+factors?"
    r"|plasminogen\s+activators?(?:\s+inhibitors?)?|tissue\s+inhibitors?\s+of\s+metalloproteinases?"
    r"|inhibitors?\s+of\s+apoptosis|suppressors?\s+of\s+cytokine\s+signall?ing|inhibitors?\s+of\s+DNA\s+binding"
    r"|BAX\s+inhibitor|(?:leuka?emia|migration)\s+inhibitory\s+factor|inducible\s+nitric\s+oxide\s+synthase"
    r"|apoptosis[\s-]+inducing\s+factor|death[\s-]+inducing\s+signall?ing|activator\s+protein[\s-]*1"
    r"|(?:cyclin[\s-]+dependent\s+kinase|CDK)\s+inhibitors?(?=\s*[(,]?\s*(?:p1[5-9]|p2[0-9]|p57|\d[A-D]\b))",
    re.IGNORECASE)


def inside_relation_name(text: str, start: int, end: int) -> bool:
    "Does text[start:end] (a relation word) lie inside a protein name like 'colony-stimulating factor'?"
    # The window as a slice, searched from the names' first words (RELATION_NAME_FINDER): the plain
    # case-insensitive alternation, tried at every offset, cost more than all the other regexes here.
    # The same matches as RELATION_NAME_RE.finditer(text, lo, hi): the pattern looks behind no
    # match's start, and endpos cuts the text as the slice does.
    lo = max(0, start - 64)
    window = text[lo:end + 48]
    for m in RELATION_NAME_FINDER.finditer(window, window.lower()):
        if m.start() + lo <= start and end <= m.end() + lo:
            return True
    return False


# "IFN-β treatment", "interferon monotherapy", "interferon and ribavirin": a type I IFN given as a
# therapy. The ligand is named by the ifn lexicon; with no INN, the therapy id is the class.
IFN_GIVEN_LABELS = frozenset({"IFN_LIGAND", "IFN_UNSPECIFIED"})
IFN_GIVEN_AS_THERAPY_RE = re.compile(r"[\s-]?(?:mono|immuno|combination\s+)?(?:therapy|therapies|treatments?)\b", re.IGNORECASE)
# "treatment with IFN-β", "administration of recombinant IFN-α": given, so a therapy.
IFN_GIVEN_BEFORE_RE = re.compile(
    r"\b(?:treat(?:ed|ment|ing)?\s+(?:\w+\s+){0,2}with|administration\s+of|administered|injections?\s+of"
    r"|infusions?\s+of|therapy\s+with|given|receiv(?:ed|ing|e))\s+(?:(?:the|a|low|high|standard|recombinant|exogenous|human|[\w-]+-dose)\s+)*$",
    re.IGNORECASE)
GIVEN_WORDS_RE = re.compile(r"with|of|administered|given|receiv")  # literal openings: a fast pre-check
WITH_DRUG_RE = re.compile(r"\s*(?:[/+]|\s(?:and|plus|with|combined\s+with|in\s+combination\s+with)\s)\s*", re.IGNORECASE)
# Structured-abstract labels, with or without the colon ("RESULTS The ...", "BACKGROUND/AIMS: ...").
_LABEL = (r"(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE|OBJECTIVES?|AIMS?|PURPOSE|GOALS?|METHODS?|METHODOLOGY"
          r"|DESIGN|SETTING|PATIENTS|PARTICIPANTS|MATERIALS|RESULTS?|FINDINGS|CONCLUSIONS?|INTERPRETATION"
          r"|DISCUSSION|SIGNIFICANCE|SUMMARY|EXPERIMENTAL DESIGN|STUDY DESIGN|MEASUREMENTS|(?:MAIN )?OUTCOME MEASURES?"
          r"|(?:KEY|PRINCIPAL|MAIN) (?:FINDINGS|RESULTS)|SUBJECTS|ANIMALS|INTERVENTIONS?|EXPOSURES?|DATA SOURCES"
          r"|STUDY SELECTION|DATA EXTRACTION|IMPORTANCE|HYPOTHESIS|LIMITATIONS|IMPLICATIONS|CASE (?:REPORT|PRESENTATION)"
          r"|CLINICAL RELEVANCE|(?:DATA|EVIDENCE) SYNTHESIS|EVIDENCE ACQUISITION)")
SECTION_RE = re.compile(rf"^\s*({_LABEL}(?:\s*(?:/|,|AND|&|-)\s*{_LABEL})*)(?::\s*|\s+(?=\S))")
SECTION_AT_RE = re.compile(SECTION_RE.pattern[1:])  # the same label, matched where a sentence starts
SECTION_AIM = re.compile(r"\b(?:OBJECTIVES?|AIMS?|PURPOSE|GOALS?)\b")
SECTION_METHOD = re.compile(r"\b(?:METHODS?|DESIGN|MATERIALS?|PATIENTS AND METHODS|SETTING|PARTICIPANTS|SUBJECTS|ANIMALS"
                            r"|INTERVENTIONS?|EXPOSURES?|OUTCOME MEASURES?|DATA SOURCES|STUDY SELECTION|DATA EXTRACTION"
                            r"|EVIDENCE ACQUISITION)\b")
SECTION_BACKGROUND = re.compile(r"\b(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE|IMPORTANCE)\b")
# A joint label ("BACKGROUND AND AIM", "METHODS AND RESULTS") holds statements too: its aim or
# method part alone does not make every sentence under it an aim or a method.
SECTION_STATEMENT = re.compile(r"\b(?:BACKGROUND|INTRODUCTION|CONTEXT|RATIONALE|RESULTS?|FINDINGS|CONCLUSIONS?)\b")

# Context qualifiers (study system, cancer type) go through the same PhraseMatchers as the lexicons.
SYSTEM_NAMES = list(CUES["_systems"])
_GLOBAL_FLAGS_RE = re.compile(r"^\(\?[aiLmsux]+\)")


def compile_context(pattern: str, flags: int = 0) -> re.Pattern:
    "A regex guarded by a lookahead on the characters any match can start with; same matches."
    # The lookahead is a necessary condition at every match start, so search() and finditer()
    # find exactly the same matches, but re rejects most positions without trying every
    # alternative (a case-insensitive alternation has no prefix re can use itself). Used for the
    # lexicons' context regexes and for the sentence rules searched over a clause or a window
    # (CLAUSE_BREAK_RE, EFFICACY_BEFORE_RE, ...: about 4 µs an abstract together).
    rx = re.compile(pattern, flags)
    items = _sre_parser.parse(pattern, flags).data
    lead = [op for op, _ in items if str(op) != "AT"][:1]  # the first item past any \b or ^
    # Only a case-insensitive alternation is slow: a case-sensitive or single-word pattern
    # already gets re's own literal or character-set scan, which a lookahead would disable.
    if not (rx.flags & re.IGNORECASE and lead and str(lead[0]) == "BRANCH") or rx.flags & re.VERBOSE:
        return rx  # (a verbose body could comment out the closing parenthesis of the wrapper)
    first = _first_chars(items)
    if not first:
        return rx
    body = _GLOBAL_FLAGS_RE.sub("", pattern)
    chars = "".join(re.escape(chr(c)) for c in sorted(first))
    return re.compile(f"(?=[{chars}])(?:{body})", rx.flags)  # rx.flags keeps an inline (?i)


def _first_chars(items: list) -> set[int] | None:
    "Code points a match of this parsed sequence can start with; None when not simply known."
    for op, av in items:
        name = str(op)
        if name == "AT":
            continue  # zero-width (\b, ^): the next item decides
        if name == "LITERAL":
            return {av}
        if name == "IN":
            if all(str(o) == "LITERAL" for o, _ in av):
                return {a for _, a in av}
            return None
        if name == "SUBPATTERN":
            _, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else _first_chars(sub.data)
        if name == "BRANCH":
            out: set[int] = set()
            for alt in av[1]:
                got = _first_chars(alt.data)
                if not got:
                    return None
                out |= got
            return out
        if name in ("MAX_REPEAT", "MIN_REPEAT") and av[0] >= 1:
            return _first_chars(av[2].data)
        return None
    return None  # the sequence can match the empty string


# re's IGNORECASE compares simple lower-case forms, plus a few extra equivalences (i/ı, s/ſ,
# β/ϐ, σ/ς, ...); str.lower() agrees with the simple form everywhere except "İ", whose
# lower-case is two characters (it would shift every later offset).
_TWO_CHAR_LOWER = "\u0130"


@dataclass(frozen=True, slots=True)
class GatedPattern:
    "A regex tried only where one of its leading literals occurs: the same matches, far fewer attempts."

    rx: re.Pattern
    literals: tuple[str, ...]  # every match starts with one of these; empty: try rx everywhere
    folded: bool  # rx ignores case: the literals are lower-case, looked for in the lower-cased text
    hazards: tuple[str, ...]  # characters on which str.lower() and re's case folding could disagree
    ascii_safe: bool = False  # no hazard is ASCII: an ASCII text holds none

    def _plain(self, text: str) -> bool:
        "Must rx run everywhere: no literals, or a character str.lower() folds unlike re?"
        if not self.literals:
            return True
        # With only non-ASCII hazards (the usual case), one isascii() pass clears most texts.
        if not self.folded or (self.ascii_safe and text.isascii()):
            return False
        return any(h in text for h in self.hazards)

    def finditer(self, text: str, lower: str) -> Iterator[re.Match]:
        "rx.finditer(text), with lower == text.lower()."
        if self._plain(text):
            yield from self.rx.finditer(text)
            return
        # re tries a case-insensitive alternation at every offset in turn; str.find skips to the
        # next occurrence of each literal in C, and rx is tried only there, earliest first.
        haystack = lower if self.folded else text
        heads = [(i, lit) for lit in self.literals if (i := haystack.find(lit)) >= 0]
        heapq.heapify(heads)
        pos = 0  # where the next match may start: the end of the last one
        while heads:
            start, lit = heads[0]
            if start >= pos:
                found = self.rx.match(text, start)
                if found is not None:
                    yield found
                    pos = found.end()  # never empty: every match opens with a literal
            after = haystack.find(lit, max(start + 1, pos))
            if after >= 0:
                heapq.heapreplace(heads, (after, lit))
            else:
                heapq.heappop(heads)

    def search(self, text: str, lower: str) -> re.Match | None:
        "rx.search(text), with lower == text.lower()."
        return next(self.finditer(text, lower), None)

    def matches(self, text: str, lower: str) -> bool:
        "rx.search(text) is not None, with lower == text.lower()."
        if self._plain(text):
            return self.rx.search(text) is not None
        # Any match will do, not only the leftmost: each literal's occurrences are tried in turn,
        # so the first success ends the search without looking for the other literals at all.
        haystack = lower if self.folded else text
        match = self.rx.match
        for lit in self.literals:
            at = haystack.find(lit)
            while at >= 0:
                if match(text, at) is not None:
                    return True
                at = haystack.find(lit, at + 1)
        return False


def gated(rx: re.Pattern) -> GatedPattern:
    "rx with its leading literals when every alternative opens with literal text (else none)."
    literals = None
    if not rx.flags & (re.VERBOSE | re.LOCALE) and isinstance(rx.pattern, str):
        literals = _leading_literals(_sre_parser.parse(rx.pattern, rx.flags).data)
    if not literals:
        return GatedPattern(rx, (), False, ())
    folded = bool(rx.flags & re.IGNORECASE)
    if folded:
        literals = ["".join(chr(_sre.unicode_tolower(ord(c))) for c in lit) for lit in literals]
    # A literal that extends another ("ifnar" after "ifn") adds no start the shorter one misses.
    kept = tuple(dict.fromkeys(a for a in literals if not any(b != a and a.startswith(b) for b in literals)))
    hazards = _fold_hazards("".join(kept)) if folded else ()
    return GatedPattern(rx, kept, folded, hazards, not any(h.isascii() for h in hazards))


def _leading_literals(items: list) -> list[str] | None:
    "The literal text each alternative of this parsed sequence must start with; None when one has none."
    out = ""
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out += chr(av)
            continue
        if out:
            break  # the run of literals ends here: a prefix is all the gate needs
        if name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue  # zero-width (\b, ^, a lookaround): the match still starts at the next item
        if name == "BRANCH":
            alternatives = [_leading_literals(alt.data) for alt in av[1]]
            if any(a is None for a in alternatives):
                return None
            return [lit for a in alternatives for lit in a]  # type: ignore[union-attr]
        if name == "SUBPATTERN":
            _, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else _leading_literals(sub.data)
        return None
    return [out] if out else None


def _fold_hazards(literals: str) -> tuple[str, ...]:
    "Characters re's case folding matches to these literals' characters while str.lower() does not."
    out = {_TWO_CHAR_LOWER}
    for ch in set(literals):
        for other in _EXTRA_CASES.get(_sre.unicode_tolower(ord(ch)), ()):
            variant = chr(other)
            # The variant and any upper-case form re folds to it (str.lower() gives the plain letter).
            out.update(c for c in (variant, variant.upper(), variant.title())
                       if len(c) == 1 and _sre.unicode_tolower(ord(c)) == other)
    if "σ" in literals or "ς" in literals:
        out.add("Σ")  # str.lower() picks σ or ς by the letter's position in the word
    return tuple(sorted(out))


# The keys a lexicon line may have (plugins/README.md describes each).
LEXICON_KEYS = frozenset({"id", "label", "terms", "exact", "gene", "context", "block_context", "exclude", "lookalike",
                          "downstream", "weak", "generic", "entity", "anchor_last", "note"})


class LexiconMatcher:
    "The one pattern-matching pipe: every plugin's lexicon and the cue words in one PhraseMatcher pass over a parse."

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self.entries: list[Entry] = []
        self.lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        drug_flag(nlp.vocab)
        self.loaded: set[str] = set()
        self._keys: dict[int, int] = {}  # match key -> entry, for the case-insensitive forms
        # Case-sensitive forms go through the same case-insensitive pass under keys of their own,
        # and a match counts when its tokens are spelled as one of the entry's forms: a second
        # (ORTH) PhraseMatcher pass over every token cost more than checking the few candidates.
        self._exact_keys: dict[int, int] = {}  # match key -> entry, for the case-sensitive forms
        self._spellings: dict[int, set[tuple[int, ...]]] = {}  # entry -> ORTH sequences of those forms
        for name in SYSTEM_NAMES:
            self._add(Entry("fact:system", name, "STUDY_SYSTEM", emit=False), CUES["_systems"][name], [])
        cancers = CUES["_cancers"]
        for term in cancers["terms"]:
            self._add(Entry("fact:cancer", term.lower(), "CANCER", emit=False), [term], [])
        for term in cancers["exact"]:
            self._add(Entry("fact:cancer", term, "CANCER", emit=False), [], [term])
        # Cue words share the case-insensitive PhraseMatcher: the one C-level pass finds both,
        # and the match key tells a cue kind from a lexicon entry.
        self._cue_kinds: dict[int, int] = {}
        for rank, kind in enumerate(CUE_KINDS):
            words = sorted({w.lower() for w in CUES[kind]})
            name = f"evidex-cue:{kind}"
            self._cue_kinds[nlp.vocab.strings.add(name)] = rank
            self.lower.add(name, [nlp.make_doc(w) for w in words])

    def add_lexicon(self, category: str, path: Path) -> None:
        "Load one plugin's JSONL lexicon; loading the same file twice is a no-op."
        key = f"{category}:{path}"
        if key in self.loaded:
            return
        self.loaded.add(key)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            # A typo in a key would otherwise be ignored in silence, and the line match wrongly.
            try:
                row = json.loads(line)
            except json.JSONDecodeError as ex:
                raise ValueError(f"{path.name} line {number}: not a JSON object ({ex.msg})") from None
            unknown = sorted(set(row) - LEXICON_KEYS) if isinstance(row, dict) else ["(not an object)"]
            if unknown:
                raise ValueError(f"{path.name} line {number}: unknown key {', '.join(unknown)}")
            entry = Entry(
                category=category,
                id=row.get("id", ""),
                label=row.get("label", "EXCLUDE" if row.get("exclude") else ""),
                emit=row.get("entity", True) and not row.get("exclude", False),
                weak=row.get("weak", False),
                context=compile_context(row["context"]) if row.get("context") else None,
                block_context=compile_context(row["block_context"]) if row.get("block_context") else None,
                exclude=row.get("exclude", False),
                generic=row.get("generic", False),
                downstream=row.get("downstream", False),
                lookalike=row.get("lookalike", False),
                anchor_last=row.get("anchor_last", False),
            )
            self._add(entry, row.get("terms", []), row.get("exact", []), row.get("gene", False))

    def _add(self, entry: Entry, terms: list[str], exact: list[str], gene: bool = False) -> None:
        "Register one entry with its case-insensitive and case-sensitive surface forms."
        index = len(self.entries)
        self.entries.append(entry)
        name = f"evidex:{index}"
        lower = {v.lower() for t in terms for v in term_variants(t, gene)}
        exact_forms = {v for t in exact for v in term_variants(t, gene)}
        self._keys[self.nlp.vocab.strings.add(name)] = index
        if lower:
            self.lower.add(name, [self.nlp.make_doc(t) for t in sorted(lower)])
        if exact_forms:
            patterns = [self.nlp.make_doc(t) for t in sorted(exact_forms)]
            exact_name = f"evidex-exact:{index}"
            self._exact_keys[self.nlp.vocab.strings.add(exact_name)] = index
            self._spellings[index] = {tuple(token.orth for token in pattern) for pattern in patterns}
            self.lower.add(exact_name, patterns)

    def __call__(self, doc: Doc) -> Doc:
        keys, kinds = self._keys, self._cue_kinds
        raw: list[tuple[int, int, int]] = []
        cues: list[tuple[int, int, int]] = []
        for match_id, start, end in self.lower(doc):
            index = keys.get(match_id)
            if index is not None:
                raw.append((start, start - end, index))
                continue
            rank = kinds.get(match_id)
            if rank is not None:
                # (start, -length, rank): the order _resolve_cues needs from a plain tuple sort.
                cues.append((start, start - end, rank))
                continue
            index = self._exact_keys[match_id]
            if tuple(doc[i].orth for i in range(start, end)) in self._spellings[index]:
                raw.append((start, start - end, index))
        # (start, -length, entry): matches of the same span in lexicon order (the earlier line
        # wins a tie later on), never in the matcher's own order, which a new lexicon line reshuffles.
        raw.sort()
        doc.user_data["evidex.raw"] = raw
        doc.user_data["evidex.cues"] = cues
        doc.user_data["evidex.entries"] = self.entries  # a reference, not a copy
        return doc


@Language.factory(PIPE_NAME)
def make_lexicon_matcher(nlp: Language, name: str) -> LexiconMatcher:
    "spaCy factory for the shared matching pipe; plugins add their lexicons to it in setup()."
    return LexiconMatcher(nlp)


def install(nlp: Language, category: str, lexicon: Path) -> None:
    "Add the shared matching pipe once and load one plugin's lexicon into it."
    if not nlp.has_pipe(PIPE_NAME):
        nlp.add_pipe(PIPE_NAME, last=True)
    cast(LexiconMatcher, nlp.get_pipe(PIPE_NAME)).add_lexicon(category, lexicon)


class _ContextCache:
    "Per-document answers to 'does this document match context X', reused across fields and plugins."

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.text = ""
        self._lower: str | None = None
        self.answers: dict[int, bool] = {}
        self.facts: dict[str, object] = {}

    def get(self, document: Document) -> _ContextCache:
        key = (document.id, len(document.title), len(document.abstract))
        if key != self.key:
            self.key = key
            self.text = f"{document.title}\n{document.abstract}"
            self._lower = None
            self.answers = {}
            self.facts = {}
        return self

    @property
    def lower(self) -> str:
        "The document text lower-cased, made once and only when a gate needs it."
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def matches(self, pattern: GatedPattern) -> bool:
        "Does the pattern match the document text?"
        return pattern.matches(self.text, self.lower)

    def allowed(self, index: int, entry: Entry) -> bool:
        ok = self.answers.get(index)
        if ok is None:
            ok = True
            if entry.context_finder is not None and not self.matches(entry.context_finder):
                ok = False
            if ok and entry.block_finder is not None and self.matches(entry.block_finder):
                ok = False
            self.answers[index] = ok
        return ok


_context = _ContextCache()


def is_drug_word(word: str) -> bool:
    "A drug name by its INN stem: a plain word of over five letters with a stem (vin...ine, ...mab), not the stem alone."
    stem = word.endswith(DRUG_STEMS) or (word.lower().startswith(VINCA_PREFIX) and word.endswith(VINCA_SUFFIX))
    # A stem on its own is a word of its own: "formin" is an actin-binding protein.
    return stem and len(word) > 5 and DRUG_WORD_RE.fullmatch(word) is not None and word.lower() not in DRUG_STEMS


_DRUG_FLAGS: dict[int, int] = {}
_FIRST_FREE_FLAG = 19  # spaCy's own lexeme flags (IS_ALPHA ... IS_CURRENCY) end at 18


def drug_flag(vocab: Vocab) -> int:
    "The lexeme flag holding is_drug_word for every word of this vocabulary, added on first use."
    # spaCy computes a flag once per word, when the word first enters the vocabulary; to_array
    # then reads it per token in C, instead of a Python test on every candidate token of a field.
    flag = _DRUG_FLAGS.get(id(vocab))
    # lex_attr_getters is in spaCy's vocab.pxd, not its vocab.pyi.
    if flag is not None and vocab.lex_attr_getters.get(flag) is is_drug_word:  # type: ignore[attr-defined]
        return flag
    getters = vocab.lex_attr_getters  # type: ignore[attr-defined]
    flag = next((f for f, getter in getters.items() if getter is is_drug_word), None)
    if flag is None:
        flag = next(f for f in range(_FIRST_FREE_FLAG, 64) if f not in getters)
        vocab.add_flag(is_drug_word, flag)
    _DRUG_FLAGS[id(vocab)] = flag
    return flag


def _resolve_cues(raw: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    "Non-overlapping (start, end, rank) cue tokens in text order; the longer, then the higher-priority kind, wins."
    # raw holds (start, start - end, rank): a plain sort orders by start, longest first, then kind.
    raw.sort()
    out: list[tuple[int, int, int]] = []
    last = -1
    for start, neg_len, rank in raw:
        if start < last:
            # "has been linked to", "are essential for": the background phrase marks the role and
            # the relation word it shares still states the relation, so both are kept.
            if not (rank in RELATION_RANKS and out[-1][2] == BACKGROUND_RANK and start - neg_len > last):
                continue
        last = start - neg_len
        out.append((start, last, rank))
    return out


def _spans_overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _field_text(document: Document, doc: Doc, field: str | None) -> str:
    "The field's own string when it is the doc's text (doc.text would re-join every token)."
    text = getattr(document, field) if field else doc.text
    if len(text) != (doc[-1].idx + len(doc[-1].text_with_ws) if len(doc) else 0):
        text = doc.text
    return text


def _lexicon_hits(document: Document, doc: Doc, text: str, arr: numpy.ndarray, idx: list[int], ends: list[int],
                  facts: list[tuple[int, str, str]]) -> list[Hit]:
    "Every surviving lexicon, drug-stem, target-class and old-animal hit of one field, sorted by start."
    ctx = _context.get(document)
    entries: list[Entry] = doc.user_data.get("evidex.entries") or []
    hits: list[Hit] = []
    blocks: list[tuple[int, int, str]] = []  # (start, end, the excluding lexicon's category)
    lookalikes: list[tuple[int, str]] = []
    doc.user_data["evidex.lookalikes"] = lookalikes
    answers = ctx.answers
    for start, neg_len, index in doc.user_data.get("evidex.raw", ()):
        entry = entries[index]
        # Most entries have no document context: skip the per-document cache lookup for them.
        if entry.conditional and not (answers.get(index) or ctx.allowed(index, entry)):
            continue
        s = idx[start]
        if entry.fact:
            facts.append((s, entry.category, entry.id))
            continue
        e = ends[start - neg_len - (2 if entry.anchor_last else 1)]
        if entry.exclude:
            blocks.append((s, e, entry.category))
            if entry.lookalike:
                lookalikes.append((s, entry.category))
            continue
        hits.append(Hit(entry.category, entry.id, entry.label, s, e, text[s:e], entry.emit, entry.weak, entry.generic,
                        entry.downstream))
    if "agon" in text or "inhibit" in text or "blockade" in text:
        for m in TARGET_KEYWORD_FINDER.finditer(text, text):  # case-sensitive: no lower-cased text needed
            name = TARGET_NAME_RE.search(text, max(0, m.start() - 28), m.start())
            # A target is a symbol ("PARP", "JAK1/2", "PD-1") or an enzyme class ("kinase",
            # "proteasome"); "whereas blockade", "a potent inhibitor" name none.
            if inside_relation_name(text, m.start(), m.end()):
                continue  # "BAX inhibitor-1", "the CDK inhibitors p21 and p27": a protein, not a drug
            if name and TARGET_WORD_RE.search(name.group(1)) and name.group(1).lower() not in STOP_WORDS:
                # Supports a therapy claim; the target alone is no therapy id.
                hits.append(Hit("therapy", "", "THERAPY_CLASS", name.start(1), m.end(), text[name.start(1):m.end()], False, True))
                continue
            # "an inhibitor of FGF", "antagonists of the CXCR4 receptor": the target after "of".
            after = TARGET_OF_RE.match(text, m.end())
            if after:
                hits.append(Hit("therapy", "", "THERAPY_CLASS", m.start(), after.end(), text[m.start():after.end()], False, True))
    if len(doc):
        hits.extend(_drug_stem_hits(doc, arr[:, 3], idx, ends))
    if any(h.label in IFN_GIVEN_LABELS for h in hits):
        hits.extend(_ifn_given_hits(text, hits))
    if "old" in text:
        for m in OLD_ANIMAL_FINDER.finditer(text):
            hits.append(Hit("age", "aged-host", "AGE_TERM", m.start(), m.end(), m.group(), True, False))
    if "year" in text or "yr" in text:
        # Only around a year word: a pattern opening on optional words would be tried at every position.
        seen = -1
        for y in YEAR_WORD_RE.finditer(text):
            near = OLDER_THRESHOLD_RE.search(text, max(0, y.start() - 32), min(len(text), y.end() + 16))
            if near and near.start() > seen:
                seen = near.start()
                hits.append(Hit("age", "older-patients", "AGE_THRESHOLD", near.start(), near.end(), near.group(), True, False))
    if any(h.category == "age" for h in hits):
        # Only a field with an age term can hold an age descriptor worth excluding.
        blocks.extend((b0, b1, "age") for b0, b1 in age_descriptors(text))
    if blocks:
        # An exclusion removes what it overlaps unless the hit covers the whole exclusion: a hit
        # of its own category must be longer (so "interferon gamma-induced protein 10" as CXCL10
        # survives its own trap), another category's may be the same words (pathway's
        # "PD-L1 blockade" trap is no reason to lose therapy's "PD-L1 blockade", nor ifn's
        # "stimulator of interferon genes" trap pathway's STING1). A word inside the excluded
        # phrase is still removed whatever its category ("IFN" of "IFN-γ treatment").
        # An age threshold keeps the unit written after it ("over 60 years of age").
        hits = [h for h in hits if not any(
            _spans_overlap(h.start, h.end, b0, b1)
            and not (h.start <= b0 and h.end >= b1 and (h.category != cat or (h.end - h.start) > (b1 - b0)))
            and not (h.label == "AGE_THRESHOLD" and h.start <= b0) for b0, b1, cat in blocks)]
    return [h for h in _longest_per_category(hits) if not (h.category == "pathway" and DRUG_TARGET_RE.match(text, h.end))]


def _ifn_given_hits(text: str, hits: list[Hit]) -> list[Hit]:
    "Type I IFN named as a therapy: before 'therapy' or 'treatment', or beside a named drug."
    drugs = {h.start: h for h in hits if h.category == "therapy" and h.label == "DRUG"}
    drug_ends = {h.end for h in drugs.values()}
    out = []
    for h in hits:
        if h.label not in IFN_GIVEN_LABELS:
            continue
        drug = drugs.get(h.start)
        if drug is not None and drug.end >= h.end:
            continue  # "interferon alfa-2b therapy": the IFN is named by its INN, and the INN is the therapy
        end = h.end
        m = IFN_GIVEN_AS_THERAPY_RE.match(text, h.end)
        if m:
            end = m.end()
        elif GIVEN_WORDS_RE.search(text, max(0, h.start - 48), h.start) and \
                IFN_GIVEN_BEFORE_RE.search(text, max(0, h.start - 48), h.start):
            pass
        else:
            m = WITH_DRUG_RE.match(text, h.end)
            given = m is not None and m.end() in drugs
            if not given and drug_ends:
                # "ribavirin plus interferon": the drug comes first.
                given = any(e < h.start and WITH_DRUG_RE.fullmatch(text, e, h.start) for e in drug_ends)
            if not given:
                continue
        out.append(Hit("therapy", "ifn-therapy", "THERAPY_CLASS", h.start, end, text[h.start:end], True, False))
    return out


def _drug_stem_hits(doc: Doc, flags: numpy.ndarray, idx: list[int], ends: list[int]) -> list[Hit]:
    "Drug names recognised by their INN stem: the tokens whose drug_flag column is set."
    out = []
    for i in flags.nonzero()[0].tolist():
        word = doc[i].text
        out.append(Hit("therapy", word.lower(), "DRUG", idx[i], ends[i], word, True, True))
    return out


def analyze(document: Document, doc: Doc, field: str | None = None) -> list[Sentence]:
    "The sentences of one parsed field that hold a hit, with their hits and cues; computed once, shared by all plugins."
    cached = doc.user_data.get("evidex.sents")
    if cached is not None:
        return cached
    text = _field_text(document, doc, field)
    facts: list[tuple[int, str, str]] = []
    sents: list[Sentence] = []
    by_category: dict[str, list[tuple[Sentence, list[Hit]]]] = {}
    doc.user_data["evidex.sents"] = sents
    doc.user_data["evidex.facts"] = facts
    doc.user_data["evidex.by_category"] = by_category
    if not len(doc):
        return sents
    arr = doc.to_array([IDX, LENGTH, SENT_START, drug_flag(doc.vocab)])  # one call: each has a fixed cost
    idx = arr[:, 0].tolist()
    ends = (arr[:, 0] + arr[:, 1]).tolist()
    hits = _lexicon_hits(document, doc, text, arr, idx, ends, facts)
    facts.sort()
    if not hits:
        return sents  # no hit, no claim: sentences and cues are never looked at
    # Sentence starts straight from the SENT_START column: doc.sents walks tokens in Python.
    bounds = [idx[0]] + [idx[i + 1] for i in (arr[1:, 2] == 1).nonzero()[0].tolist()]
    bounds.append(len(text))
    hits = _with_anaphors(text, bounds, hits)
    cues = _resolve_cues(doc.user_data.get("evidex.cues", []))
    cue_starts = [idx[start] for start, _, _ in cues]
    total = len(bounds) - 1
    labels = _section_labels(text, bounds)
    # Hits are sorted by start: group them by sentence with one bisect per hit.
    current: Sentence | None = None
    for h in hits:
        i = bisect_right(bounds, h.start) - 1
        if current is None or current.index != i:
            if not 0 <= i < total:
                continue
            current = _sentence(text, bounds, i, total, cues, cue_starts, idx, ends)
            if labels:
                current.section = labels[i]
            sents.append(current)
        if h.start < current.end:  # a hit in the white space after a sentence belongs to none
            current.hits.append(h)
    sents[:] = [s for s in sents if s.hits]
    for sent in sents:
        # A relation word inside a name is part of the name: "hypoxia-inducible factor",
        # "interferon-stimulated genes" state no relation ("STING blockade" still inverts).
        if sent.cues:
            spans = [(h.start, h.end) for h in sent.hits if not h.generic and h.end - h.start > 6]
            sent.cues = [c for c in sent.cues if c.kind not in DIRECTION_KINDS
                         or not any(s0 <= c.start and c.end <= e0 for s0, e0 in spans)]
            if any(c.text.lower() in NAME_CUE_WORDS for c in sent.cues):
                sent.cues = [c for c in sent.cues if c.text.lower() not in NAME_CUE_WORDS
                             or not inside_relation_name(text, c.start, c.end)]
            if any(c.text.lower() in AMPLIFY_WORDS for c in sent.cues):
                sent.cues = [c for c in sent.cues if c.text.lower() not in AMPLIFY_WORDS
                             or not _laboratory_amplification(text, c)]
    for sent in sents:
        groups: dict[str, list[Hit]] = {}
        for h in sent.hits:
            groups.setdefault(h.category, []).append(h)
            if h.downstream:
                sent.downstream = True
        for category, inside in groups.items():
            by_category.setdefault(category, []).append((sent, inside))
    return sents


# "PCR amplification of exon 2", "amplified by PCR", "amplification of a junction fragment": copying DNA
# in the laboratory is a method, not a gene's amplification (an increase) in the tumour.
AMPLIFY_WORDS = frozenset({"amplification", "amplified", "amplify", "amplifies", "amplifying"})
LAB_BEFORE_RE = re.compile(r"(?:PCR|polymerase chain reaction|\(PCR\))[\s-]*(?:based\s+)?$", re.IGNORECASE)
LAB_AFTER_RE = re.compile(
    r"\s+(?:(?:by|using|with)\s+(?:[\w-]+\s+){0,2}?(?:\w*PCR|polymerase chain|primers?)\b"
    r"|of\s+(?:an?\s+|the\s+)?(?:[\w'/()-]+\s+){0,4}?(?:fragments?|exons?|amplicons?|PCR\s+products?|junctions?|cDNAs?|templates?)\b)",
    re.IGNORECASE)


def _laboratory_amplification(text: str, cue: Cue) -> bool:
    "Is this 'amplification' cue a PCR step of a method, not an amplified gene?"
    return bool(LAB_BEFORE_RE.search(text, max(0, cue.start - 40), cue.start) or LAB_AFTER_RE.match(text, cue.end))


# "healthy controls", "control mice", "compared with control": the comparison group, not the verb "control".
CONTROL_WORDS = frozenset({"control", "controls"})
GROUP_END_RE = re.compile(r"\s*(?:[.,;:)\]]|\(|$|(?:and|or|were|was|had|have|showed|versus|vs)\b)", re.IGNORECASE)
# Only the singular modifies a noun: "control mice"; "controls cell cycle arrest" is the verb.
GROUP_NOUN_RE = re.compile(
    r"\s+(?:groups?|arms?|rats?|mice|animals?|subjects?|patients?|individuals?|cells?|cultures?|tissues?|samples?"
    r"|si-?RNAs?|sh-?RNAs?|vectors?|IgG|conditions?|diets?|populations?|cohorts?|participants?|volunteers?|donors?"
    r"|women|men|children|cases?|plasmids?|lines?)\b", re.IGNORECASE)
GROUP_BEFORE_RE = re.compile(
    r"\b(?:healthy|normal|matched|untreated|vehicle|sham|negative|positive|respective|corresponding|versus|vs\.?"
    r"|than|compared\s+(?:with|to)|relative\s+to|from|as|non-?\w+)\s+(?:the\s+)?$", re.IGNORECASE)
VERB_BEFORE_RE = re.compile(r"\b(?:to|may|can|could|might|would|will|which|that|who|not|also|cannot)\s+(?:\w+ly\s+)?$",
                            re.IGNORECASE)


def _comparison_group(sent: Sentence, cue: Cue) -> bool:
    "Is this 'control' cue the comparison group (a noun) rather than a verb of regulation?"
    word = cue.text.lower()
    if word not in CONTROL_WORDS:
        return False
    text, rel, end = sent.text, cue.start - sent.start, cue.end - sent.start
    before = text[max(0, rel - 24):rel]
    if GROUP_BEFORE_RE.search(before):
        return True
    if VERB_BEFORE_RE.search(before):
        return False
    return GROUP_END_RE.match(text, end) is not None or (word == "control" and GROUP_NOUN_RE.match(text, end) is not None)


BLOCK_WORDS = frozenset({"block", "blocks"})
NOUN_USE_WORDS = CONTROL_WORDS | BLOCK_WORDS | {"failure"}  # trigger words that are often nouns of another sense
# "complete heart block", "2/1 S-A block": a conduction disorder, an adverse event of its own.
CARDIAC_BLOCK_BEFORE_RE = re.compile(r"\b(?:heart|branch|AV|A-V|S-A|atrioventricular|sinoatrial|sinus|conduction)\s+$",
                                     re.IGNORECASE)
# "brachial plexus block", "the block was successful": an anaesthetic procedure.
BLOCK_NOUN_BEFORE_RE = re.compile(
    r"\b(?:plexus|epidural|spinal|nerve|neuromuscular|regional|caudal|paravertebral|intercostal|femoral|sciatic|axillary"
    r"|interscalene|stellate|ganglion|a|the|this|each)\s+$", re.IGNORECASE)


def _noun_block(sent: Sentence, cue: Cue) -> str | None:
    "'cardiac' or 'procedure' when this 'block' cue is a noun (a heart or nerve block), else None (the verb)."
    if cue.text.lower() not in BLOCK_WORDS:
        return None
    rel = cue.start - sent.start
    if CARDIAC_BLOCK_BEFORE_RE.search(sent.text, max(0, rel - 24), rel):
        return "cardiac"
    return "procedure" if BLOCK_NOUN_BEFORE_RE.search(sent.text, max(0, rel - 24), rel) else None


# A structured abstract's label names every sentence up to the next label, not only its first.
LABEL_HINT_RE = re.compile(r"[A-Z]{4}")  # every label starts with four capitals: most fields have none


def _section_labels(text: str, bounds: list[int]) -> list[str | None] | None:
    "The label in force at each sentence of a field (None before the first), or None if the field has no label."
    out: list[str | None] = []
    current = None
    for b in bounds[:-1]:
        m = SECTION_AT_RE.match(text, b)
        if m:
            current = m.group(1).strip()
        out.append(current)
    if current is None and not any(out):
        return None
    # A field without four capitals in a row gets no labels (LABEL_HINT_RE). Asked last: labels
    # are rare, and that search over the whole field cost more than trying the label pattern at
    # each sentence start.
    return out if LABEL_HINT_RE.search(text) else None


def _sentence(text: str, bounds: list[int], i: int, total: int, cues: list[tuple[int, int, int]],
              cue_starts: list[int], idx: list[int], ends: list[int]) -> Sentence:
    "Sentence i of a field (trailing white space stripped) with its cues, hits still to fill."
    s0 = bounds[i]
    e = bounds[i + 1]
    while e > s0 and text[e - 1].isspace():
        e -= 1
    sent_cues = []
    for start, end, rank in cues[bisect_left(cue_starts, s0):bisect_left(cue_starts, e)]:
        cs, ce = idx[start], ends[end - 1]
        sent_cues.append(Cue(CUE_KINDS[rank], cs, ce, text[cs:ce]))
    return Sentence(s0, e, text[s0:e], [], sent_cues, i, total)


# "Cisplatin was given to mice. It reduced tumour growth.": a sentence opening with a pronoun or "this
# agent" and a relation verb goes on about the drug the sentence before opened with.
_ACTION_VERB = (r"(?:inhibit|induc|reduc|increas|suppress|enhanc|block|decreas|improv|prolong|activat|caus|prevent|attenuat"
                r"|abrogat|abolish|restor|trigger|promot|down-?regulat|up-?regulat|diminish|elevat|stimulat|impair|augment"
                r"|arrest|kill|delay|sensiti[sz]|potentiat|antagoni[sz]|counteract|revers|protect)(?:e|es|ed|s|d|ing)?\b")
_ANAPHOR_LEADS = ("In addition", "Moreover", "Furthermore", "Additionally", "However", "Thus", "Also", "Importantly",
                  "Interestingly", "Similarly")
ANAPHOR_OPENINGS = ("It ", "This ", "The ") + _ANAPHOR_LEADS  # a cheap test before the pattern
ANAPHOR_RE = re.compile(
    rf"(?:(?:{'|'.join(_ANAPHOR_LEADS)}),\s+)?"
    # Lower case only after a lead-in ("However, it reduced ..."): the opening test above admits no other.
    rf"([Ii]t|(?:[Tt]his|[Tt]he)\s+(?:agent|compound|drug))\s+(?:also\s+|further\s+|not\s+only\s+|\w+ly\s+)?{_ACTION_VERB}")
# The drug is the sentence's subject only when no such verb comes before it ("It prevented tamoxifen-induced ...").
ACTION_VERB_RE = re.compile(rf"\b{_ACTION_VERB}", re.IGNORECASE)
# Nor when it names a noun of the drug's that "It" then stands for ("Cisplatin resistance is common. It reduces ...").
DRUG_NOUN_AFTER_RE = re.compile(r"\s+(?:resistan(?:ce|t)|toxicit(?:y|ies)|doses?|dosage|dosing|exposure|sensitivity|levels?"
                                r"|concentrations?|metabolism|clearance|uptake|intolerance)\b", re.IGNORECASE)


def _with_anaphors(text: str, bounds: list[int], hits: list[Hit]) -> list[Hit]:
    "The hits plus a therapy hit for each anaphor whose sentence names no drug and follows one opening with a drug."
    # Anaphors are rare: look for them first, and at the hits only around those found.
    found = [(i, m) for i in range(1, len(bounds) - 1) if text.startswith(ANAPHOR_OPENINGS, bounds[i])
             and (m := ANAPHOR_RE.match(text, bounds[i])) is not None]
    if not found:
        return hits
    extra = []
    for i, m in found:
        if any(h.category == "therapy" and not h.generic and bounds[i] <= h.start < bounds[i + 1] for h in hits):
            continue  # the sentence names its own drug
        # The therapy hits the sentence before opens with, before any other entity or an action verb
        # ("It prevented tamoxifen-induced ...") and not modifying a noun ("tamoxifen-induced", "cisplatin resistance").
        named = []
        for h in hits:
            if h.start < bounds[i - 1] or h.start >= bounds[i]:
                continue
            if h.category != "therapy" or ACTION_VERB_RE.search(text, bounds[i - 1], h.start):
                break
            if not h.generic and h.emit and h.entity and text[h.end:h.end + 1] != "-" \
                    and not DRUG_NOUN_AFTER_RE.match(text, h.end):
                named.append(h)
        # "Multikinase inhibitor sorafenib inhibits ...": the named drug over its class.
        before = next((h for h in named if h.label == "DRUG"), named[0] if named else None)
        if before is not None:
            extra.append(Hit("therapy", before.entity, before.label, m.start(1), m.end(1), m.group(1), False,
                             before.weak, False, False, True))
    return sorted(hits + extra, key=lambda h: h.start) if extra else hits


def _longest_per_category(hits: list[Hit]) -> list[Hit]:
    "Within a category keep the longest of overlapping matches; sort by start."
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[Hit] = []
    last: dict[str, int] = {}  # category -> index in kept of its last hit
    for h in hits:
        i = last.get(h.category)
        if i is not None and h.start < kept[i].end:
            # "Treatment with interferon alfa-2b": a class phrase ending inside a drug's name
            # yields to the drug (its INN is the therapy's id).
            prev = kept[i]
            if h.label == "DRUG" and prev.label == "THERAPY_CLASS" and h.end > prev.end:
                kept[i] = h
            continue
        last[h.category] = len(kept)
        kept.append(h)
    return kept


# --- sentence-level decisions -------------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    "Why a sentence is, or is not, an asserted claim."

    claim: bool
    reason: str
    section: str | None = None


# A first clause of its own before a gap: "X is a feature of old age, but ...", "X is effective and
# further study is warranted".
FIRST_CLAUSE_RE = re.compile(r",\s*(?:but|whereas|while)\b|;|\band\s+(?=(?:further|continued|additional|larger)\b)")
# What a gap sentence asks about: "the mechanism by which X elicits Y", "how X acts", "whether ...".
EMBEDDED_RE = re.compile(r"\b(?:how|whether|why|by which|through which|the mechanisms?)\b", re.IGNORECASE)


def _asserts(sent: Sentence, cue: Cue) -> bool:
    "Is this cue a relation the sentence states: a verb, not a noun ('killing', 'targets'), not inside a question ('how X acts')?"
    text = cue.text.lower()
    if cue.kind not in DIRECTION_KINDS or text.endswith(NOMINAL_ENDINGS) or text in WEAK_TRIGGERS:
        return False
    if _after_hyphen(sent, cue):
        return False  # "EZH2-driven lymphoma": a modifier inside a noun phrase
    return EMBEDDED_RE.search(sent.text, 0, cue.start - sent.start) is None


# A title naming its topic: "Effect of X on Y", "Role of X in Y", "Management strategies for X".
_TOPIC_HEADS = (r"Role|Roles|Influence|Impact|Effects?|Management|Factors|Tolerance|Analysis|Analyses|Association"
                r"|Evaluation|Comparison|Assessment|Stud(?:y|ies)|Characteri[sz]ation|Investigation|Efficacy|Safety"
                r"|Review|Overview|Update|Determinants|Predictors|Pharmacokinetics|Rates?|Incidence|Prevalence"
                r"|Frequency|Outcomes?")
# A modifier that says what kind of topic, not what was found ("Long-term effects of", but "Protective effect of").
_TOPIC_MODIFIERS = r"Clinical|Long-term|Short-term|Chronic|Acute|Relative|Comparative|Differential|Behaviou?ral|Morphological"
TOPIC_TITLE_RE = re.compile(
    rf"(?:(?:[A-Z][\w-]*\s+)?(?:{_TOPIC_HEADS})|(?:(?:The|A|An)\s+)?(?:(?:{_TOPIC_MODIFIERS})\s+)?(?i:{_TOPIC_HEADS}))\b"
    r"(?:\s+(?:and|or)\s+[\w-]+(?:\s+[\w-]+)?)?(?:\s+[\w-]+)?\s+(?:of|for|on|in|with|to)\b")
COMPOUND_BEFORE_RE = re.compile(r"[\w)]-$")  # "ribavirin-induced": a modifier, not a verb


def _topic_title(sent: Sentence) -> bool:
    "A title that names a topic and asserts no relation with a verb of its own."
    if not TOPIC_TITLE_RE.match(sent.text):
        return False
    return not any(_asserts(sent, c) and not COMPOUND_BEFORE_RE.search(sent.text, 0, c.start - sent.start)
                   for c in sent.cues)


# A methods verb that says the sentence reports what was studied ("we measured", "was investigated"),
# unlike "received" or "were treated", which also open a finding's clause ("patients who received X had ...").
STUDY_METHOD_RE = re.compile(r"we\s|stud(?:y|ies)\s|(?:was|were)\s+(?:investigated|examined|evaluated|assessed|studied|determined|compared"
                             r"|analy[sz]ed|measured|estimated|quantified|monitored|calculated|carried\s+out)$", re.IGNORECASE)
# "X has antitumor activity": an efficacy named, like "efficacy" (cues.json lists them as up words).
ANTI_ACTIVITIES = frozenset(f"{kind} {noun}" for kind in (
    "antitumor", "antitumour", "anti-tumor", "anti-tumour", "anticancer", "anti-cancer", "antineoplastic", "antiproliferative",
    "anti-proliferative", "antileukemic", "antileukaemic", "antiviral", "antiangiogenic", "anti-angiogenic")
    for noun in ("activity", "activities"))
# Outcome nouns name what a study measured ("The effects of X on apoptosis were determined").
OUTCOME_NOUNS = frozenset({
    "effect", "effects", "efficacy", "toxicity", "toxicities", "safety", "response", "responses", "side effects",
    "side-effect", "apoptosis", "survival", "death", "risk", "resistance", "sensitivity", "benefit", "benefits",
    "production", "secretion", "accumulation", "remission", "regression", "arrest", "clearance", "prognosis",
    "loss", "gain", "failure", "defect", "deficit", "killing", "cytotoxicity",
}) | ANTI_ACTIVITIES


def _stated_in_method(sent: Sentence, cue: Cue) -> bool:
    "A relation word that can report a finding inside a methods sentence: not what a study verb says was measured."
    if cue.kind not in ("up", "down", "assoc"):
        return False
    if not any(c.kind == "method" and STUDY_METHOD_RE.match(c.text) for c in sent.cues):
        return True
    # "We measured diazepam-induced sedation": the compound and the outcome noun name what was measured.
    text = cue.text.lower()
    if text in OUTCOME_NOUNS or text.endswith(NOMINAL_ENDINGS):
        return False
    return not COMPOUND_BEFORE_RE.search(sent.text, 0, cue.start - sent.start)


# "has been developed as an anticancer agent", "we have developed cell lines": made, not a disease that arose.
MADE_BEFORE_RE = re.compile(r"\b(?:(?:is|are|was|were|be|been|being)\s+(?:(?:\w+ly|not|also|further|now)\s+){0,2}"
                            r"|we\s+(?:have\s+|had\s+)?(?:(?:\w+ly|now|also)\s+)?)$", re.IGNORECASE)


def _made(sent: Sentence, cue: Cue) -> bool:
    "Is this 'developed' a passive or 'we have developed' (something made), not a condition that arose?"
    if cue.text.lower() != "developed":
        return False
    rel = cue.start - sent.start
    return MADE_BEFORE_RE.search(sent.text, max(0, rel - 32), rel) is not None


# "patients with relapsed/refractory myeloma", "recurrent or resistant glioma": the disease that defines the group.
GROUP_DESCRIPTOR_BEFORE_RE = re.compile(r"(?:\b(?:relapsed|recurrent|relapsing)\s*(?:/|or|and)\s*"
                                        r"|\bwith\s+(?:\w+ly\s+)?)$", re.IGNORECASE)
GROUP_DESCRIPTOR_AFTER_RE = re.compile(r"\s+(?!(?:to|against|or|and|than)\b)[a-z]", re.IGNORECASE)


def _group_descriptor(sent: Sentence, cue: Cue) -> bool:
    "Is this 'refractory' or 'resistant' the adjective of a patient group's disease, not a therapy failing?"
    if cue.text.lower() not in ("refractory", "resistant"):
        return False
    rel = cue.start - sent.start
    return GROUP_DESCRIPTOR_BEFORE_RE.search(sent.text, max(0, rel - 24), rel) is not None and \
        GROUP_DESCRIPTOR_AFTER_RE.match(sent.text, cue.end - sent.start) is not None


# The words _made and _group_descriptor judge, as substrings in either case (a case-blind regex costs more
# than the per-cue tests it would spare): a sentence without one skips those tests.
MADE_OR_GROUP_WORDS = ("eveloped", "efractory", "esistant", "EVELOPED", "EFRACTORY", "ESISTANT")


def assertion(sent: Sentence, title: bool = False) -> Verdict:
    "Is the sentence an asserted finding or statement, rather than an aim, a method or a bare fact?"
    kinds = cue_kinds(sent)
    m = SECTION_RE.match(sent.text)
    own = m.group(1).strip() if m else None
    section = own or sent.section
    finding = "finding" in kinds
    triggers = kinds & {"up", "down", "assoc", "dep"}
    if triggers and any(w in sent.text for w in MADE_OR_GROUP_WORDS) \
            and any(_made(sent, c) or _group_descriptor(sent, c) for c in sent.cues):
        # "have been developed to", "with relapsed/refractory myeloma": no relation stated by these.
        triggers = frozenset(c.kind for c in sent.cues
                             if c.kind in triggers and not _made(sent, c) and not _group_descriptor(sent, c))
    joint = section is not None and SECTION_STATEMENT.search(section) is not None
    if sent.text.endswith("?"):
        # "Does aspirin increase gastrointestinal bleeding?": a question asserts nothing.
        return Verdict(False, "question", section)
    if title and _topic_title(sent):
        return Verdict(False, "topic title", section)
    if own and SECTION_AIM.search(own) and not finding and not joint:
        return Verdict(False, "aim section", section)
    if "aim" in kinds and not finding:
        return Verdict(False, "aim", section)
    # "how it acts is not well documented": what is not known yet is asserted of nothing, unless
    # the sentence states a relation besides ("driven by IFN-ε, a poorly understood member",
    # "... is not well described, although p53 suppresses tumours").
    if "gap" in kinds and not finding and "hedge" not in kinds and not any(_asserts(sent, c) for c in sent.cues):
        # "X is a feature of old age, but the pathways involved remain unclear": the first clause stands.
        gap = next(c.start for c in sent.cues if c.kind == "gap")
        if not FIRST_CLAUSE_RE.search(sent.text, 0, gap - sent.start):
            return Verdict(False, "knowledge gap", section)
    if section and SECTION_METHOD.search(section) and not finding and not (kinds & {"neg", "hedge"}) and not joint:
        return Verdict(False, "method section", section)
    if "method" in kinds and not finding and len([c for c in sent.cues if _stated_in_method(sent, c)]) < 2:
        return Verdict(False, "method", section)
    # "Cisplatin blocked tumour growth": an inverter verb states a relation too.
    if not triggers and not finding and not (kinds & {"neg", "hedge"}) and not (
            "inv" in kinds and any(c.kind == "inv" and (_inverter_verb(sent, c) or _copula_inhibitor(sent, c))
                                   for c in sent.cues)):
        return Verdict(False, "no relation", section)
    return Verdict(True, "asserted", section)


# Outcome nouns and adjectives: evidence that something was measured, weaker than a verb.
WEAK_TRIGGERS = {
    "response", "responses", "responded", "respond", "response rate", "complete response", "partial response",
    "effect", "effects", "efficacy", "effective", "efficacious", "toxicity", "toxicities", "toxic", "adverse",
    "side effects", "side-effect", "tolerated", "well tolerated", "safe", "safety", "tolerable", "more", "less",
    "role in", "roles in", "role for", "roles for", "implicated in",
    "fewer", "strong", "robust", "potent", "higher", "greater", "lower", "poor", "poorer", "worse", "shorter",
    "longer", "resistance", "resistant", "refractory", "benefit", "benefits", "beneficial", "survival",
    "developed", "develop", "develops", "occurred", "occurs", "experienced", "exhibited", "exhibit", "exhibits",
    "displayed", "showed", "sensitivity", "sensitive", "express", "expresses", "expressed", "production",
    "secretion", "accumulation", "sustained", "persistent", "remission", "limited", "limit", "limits", "failed",
    "failure", "defect", "defective", "deficit", "protective", "loss", "lost", "superior", "gain", "gained",
    "death", "apoptosis", "killing", "cytotoxic", "cytotoxicity", "regression", "arrest", "clearance", "cleared",
    "prognosis", "prognostic", "risk", "support", "supports", "favor", "favour", "favors", "favours",
    "achieve", "achieved", "achieves", "inducible", "control", "controls", "target", "targets", "targeting",
    "through", "via", "modulates", "modulate", "modulated", "modulating", "regulates", "regulate", "regulated",
} | ANTI_ACTIVITIES
# Outcome words that report how a therapy went without a direction ("well tolerated", "response rate").
NEUTRAL_OUTCOMES = {"response rate", "tolerated", "well tolerated", "safe", "safety", "tolerable"}
INVERT_FLIP = True
TIME_ADJECTIVES = {"delayed"}
# Participles that often describe a noun instead of stating the relation: "activated T cells",
# "at increasing concentrations", "Elevated IFN-β levels correlated with ...".
ATTRIBUTIVE_WORDS = frozenset({
    "activated", "increasing", "decreasing", "increased", "decreased", "reduced", "elevated", "enhanced",
    "impaired", "suppressed", "diminished", "stimulated", "escalating", "rising", "declining"})
# Before the participle: the sentence's start, or a preposition or determiner opening a noun phrase
# ("and activated STAT1" is a second verb, so "and" is not here).
ATTRIBUTIVE_BEFORE_RE = re.compile(r"\b(?:in|at|on|of|with|by|from|for|the|a|an|its|their|these|those|this|that)\s+$",
                                   re.IGNORECASE)
# After it: a word that a noun phrase continues with, not "by", "to" or another verb's particle.
ATTRIBUTIVE_AFTER_RE = re.compile(r"\s+(?!(?:by|to|in|with|and|or|the|a|an|as|at|from|than|through|via|upon|after|of)\b)[\w\u0370-\u03ff]")
# After "inactivated": the agent it describes, within two words, with no determiner ("inactivated the virus" is the verb).
INACTIVATED_AGENT_RE = re.compile(r"(?:\s+(?!(?:the|a|an|its|their|this|these)\b)[\w-]+){0,2}?"
                                  r"\s+(?:virus(?:es)?|virions?|vaccines?|bacteria|serum|sera|FBS)\b", re.IGNORECASE)
COMPARATIVES = {"more", "less", "fewer", "greater", "higher", "lower"}
OR_BEFORE_RE = re.compile(r"\bor\s+$", re.IGNORECASE)
ORGAN_BEFORE_RE = re.compile(r"\b(?:renal|kidney|liver|hepatic|heart|cardiac|respiratory|pulmonary|multi-?organ|organ|ovarian"
                             r"|marrow|graft|circulatory|hepatorenal|cardiorespiratory|ventricular)\s+$", re.IGNORECASE)
# "not more than 1 mg/ml", "no less than 6 cycles": a bound as well ("not more effective than" still compares).
NOT_BEFORE_RE = re.compile(r"\b(?:not|no)\s+$", re.IGNORECASE)
THAN_AFTER_RE = re.compile(r"\s+than\b", re.IGNORECASE)
DETERMINER_BEFORE_RE = re.compile(r"\b(?:a|an|the|to|of|with|its|their|this)\s+$", re.IGNORECASE)
# "induced by", "strongly inhibited by the": what may stand between a passive verb and its agent.
PASSIVE_AGENT_RE = re.compile(r"(?:\s+\w+ly)?\s+by(?:\s+(?:the|a|an|its|their|both|exogenous|endogenous|recombinant))?\s+",
                              re.IGNORECASE)
AUXILIARY_BEFORE_RE = re.compile(r"\b(?:is|are|was|were|be|been|being)\s+(?:(?:\w+ly|not|only|also|further)\s+){0,3}$",
                                 re.IGNORECASE)
PASSIVE_BY_RE = re.compile(r"(?:\s+\w+ly)?\s+by\b", re.IGNORECASE)
FAILED_RE = compile_context(r"\b(?:failed|fails|fail|unable)\s+to\s+$", re.IGNORECASE)
# A subject after it stands in a clause of its own and takes that clause's verb: "whereas IFNε treatment
# reduced it", "but tamoxifen reduced it", "while X lowered it", with or without a comma. Not "but not":
# "in fetal, but not adult, animals" names a subject of the sentence's verb.
SUBJECT_BREAK_RE = compile_context(r"\bwhereas\b|\bwhile\b(?<!\ba while)|\bbut\b(?!\s+not\b)|;|\bin contrast\b|\bconversely\b",
                                   re.IGNORECASE)
# Between a knockout subject and the verb it inverts (or a verb and the loss named after it): "but" and a
# bare "while" often go on with the same subject ("X ablation had no influence on Y, but attenuated Z"),
# so only these end its reach (with "but" too, the unseen abstracts gained as many wrong flips as right).
VERB_BREAK_RE = compile_context(r"\bwhereas\b|,\s*while\b|;|\bin contrast\b|\bconversely\b", re.IGNORECASE)
# "produced less IFN-α", "showed a higher expression": a comparative right after the verb (or one word on)
# carries the sign. Not after a preposition ("enhanced at lower concentrations", "decreases of more than
# 50%"), nor as a bound on a count ("inhibit more than one kinase").
COMPARATIVE_RE = re.compile(r"\s+(?:(?!(?:at|in|for|to|with|if|of|by|on|from|when|as)\b)(\w+)\s+)?"
                            r"(less|fewer|lower|more|greater|higher)\b(?!\s+than\s+(?:\d|one\b|two\b|three\b|four\b|five\b))",
                            re.IGNORECASE)
COPULAS = frozenset({"was", "were", "is", "are", "be", "been", "being"})
# "the decrease was greater for X": after a copula, the comparative grades a change the noun already signs.
# ("the activation was lower in X" still reads as less activation).
CHANGE_NOUNS = frozenset({"increase", "increases", "decrease", "decreases", "reduction", "reductions", "inhibition", "suppression",
                          "elevation", "rise", "fall", "decline", "drop", "loss", "gain"})
NOMINAL_OF_RE = re.compile(r"\s+of\s+(?:the\s+)?", re.IGNORECASE)  # "reduction of (the) X"
NOMINAL_ENDINGS = ("ion", "ment", "ade", "ency", "ance", "down", "out", "loss", "ing")


VERB_INVERTERS = frozenset({"blocked", "blocking", "inhibiting", "depleting", "disrupting", "neutralizing", "neutralising"})
# ", and blocking IFN-β abolished it": a gerund opening a clause of its own.
GERUND_CLAUSE_BEFORE_RE = re.compile(r"(?:[,;]|\band|\bor|\bwhile|\bwhereas)\s+$", re.IGNORECASE)
# "PD-1 blocking antibodies", "a neutralizing antibody": the inverter names a kind of agent.
INVERTER_MODIFIES_RE = re.compile(r"\s+(?:antibod\w*|mAbs?|agents?|drugs?|peptides?|compounds?|molecules?|antisera|serum)\b",
                                  re.IGNORECASE)


# "down-regulation of survivin in gefitinib-treated cells": a preposition after the inverter's own object
# puts the subject outside it, so the loss is another noun's. Not "for" ("null for p53" governs it) nor a
# comma ("blocking MKK3/6, p38, or furin": a list the inverter governs whole), nor "together with".
INVERTER_OBJECT_ENDS_RE = re.compile(r"\b(?:in|into|(?<!together )(?<!along )with|from|after|on|at|during|following|upon|among|within|via"
                                     r"|through|under|before|without|than|versus|vs)\b|;", re.IGNORECASE)

# "depletion of IFN-γ-producing cells", "loss of IKKα-associated Hsp90": the subject only describes the noun
# the inverter acts on. Not "-induced", "-mediated": blocking X-induced ROS blocks what X does.
SUBJECT_MODIFIES_RE = re.compile(r"[-‐–](?:associated|expressing|producing|treated|bearing|exposed|primed|pulsed|loaded"
                                 r"|transfected|transduced|secreting|positive|negative)\b", re.IGNORECASE)


def _after_hyphen(sent: Sentence, cue: Cue) -> bool:
    "Is the cue joined by a hyphen to the word before it ('cisplatin-induced', 'beta-blocking')?"
    return cue.start > sent.start and sent.text[cue.start - sent.start - 1] in "-‐–"


def _inverter_verb(sent: Sentence, cue: Cue) -> bool:
    "Is this inverter cue a verb of its own ('blocked', 'inhibiting'), not part of a name or an agent's kind?"
    return cue.text.lower() in VERB_INVERTERS and not _after_hyphen(sent, cue) \
        and not INVERTER_MODIFIES_RE.match(sent.text, cue.end - sent.start) \
        and not any(h.start <= cue.start and cue.end <= h.end for h in sent.hits)


# "is a potent inhibitor of", "are selective antagonists of", "acts as a potent and selective inhibitor of": the
# subject is the inhibitor (up to four modifiers between, none a preposition or article that would start another phrase).
COPULA_INHIBITOR_BEFORE_RE = re.compile(
    r"\b(?:is|are|was|were|be|been|being|(?:acts?|acted|serves?|served|functions?|functioned|emerges?|emerged|identified)\s+as)"
    r"\s+(?:(?:a|an|the)\s+)?(?:(?!(?:of|to|in|by|with|for|from|or|but|that|which|than|a|an|the)\b)[\w-]+,?\s+){0,4}$",
    re.IGNORECASE)
# Only with "of": "X is a proton pump inhibitor" names a class, not what X inhibits.
OF_AFTER_RE = re.compile(r"\s+of\b", re.IGNORECASE)


def _copula_inhibitor(sent: Sentence, cue: Cue) -> bool:
    "Is this inverter the noun a copula says the subject is ('X is a potent inhibitor of Y')?"
    word = cue.text.lower()
    if not (word in ("inhibitor of", "inhibitors of") or (
            word in ("antagonist", "antagonists") and OF_AFTER_RE.match(sent.text, cue.end - sent.start))):
        return False
    rel = cue.start - sent.start
    return COPULA_INHIBITOR_BEFORE_RE.search(sent.text, max(0, rel - 72), rel) is not None


def _inverter_acts(sent: Sentence, cue: Cue, subject: Hit | None, inverted: bool) -> bool:
    "Does this inverter cue state the relation itself (a decrease) rather than invert the subject?"
    text, rel = sent.text, cue.start - sent.start
    # "migration was blocked by AMD3100": a passive inverter verb names its agent.
    if _inverter_verb(sent, cue) and PASSIVE_BY_RE.match(text, cue.end - sent.start):
        return True
    if subject is None or cue.start < subject.end or inverted:
        return False
    # "Sorafenib is a potent inhibitor of angiogenesis": what the subject is, named after a copula, is its relation.
    if _copula_inhibitor(sent, cue):
        return True
    # "Cisplatin blocked tumour growth", "... by inhibiting viral replication": the subject's own
    # action (before the subject, "blocking IFN-β abolished it", the cue inverts the subject;
    # ", and blocking X" opens a clause of its own).
    if _inverter_verb(sent, cue):
        return not GERUND_CLAUSE_BEFORE_RE.search(text, max(0, rel - 8), rel)
    # "resulted in depletion of Tregs": what the subject brought about.
    return cue.text.endswith(" of") and RESULTED_IN_BEFORE_RE.search(text, max(0, rel - 48), rel) is not None


MANAGEMENT_WORDS = frozenset({"discontinued", "stopped"})
STOPPED_WHAT_RE = re.compile(r"\s+(?:(?:the|all|their|his|her|its)\s+)?(?:[\w-]+\s+)?(?:treatments?|therap\w*|drugs?|medications?"
                             r"|regimens?|doses?|dosing|taking|administration|infusions?)\b", re.IGNORECASE)
REASON_AFTER_RE = re.compile(r"\b(?:because|due\s+to|owing\s+to|for\s+lack\s+of)\b", re.IGNORECASE)


CAUSAL_WORDS = frozenset({"lead to", "leads to", "led to", "result in", "caused", "causes", "cause", "induce", "induces",
                          "induced", "produce", "produces", "produced", "give rise to", "gives rise to", "triggered",
                          "triggers", "trigger", "elicited", "elicits", "mediated", "mediates", "mediate"})
# "X mediated growth inhibition" is a cause; "by serotonergically mediated inhibition of" describes a noun.
CAUSAL_PARTICIPLES = frozenset({"mediated"})
PARTICIPLE_BEFORE_RE = re.compile(r"\b(?:by|of|in|with|from|for|through|via|the|a|an|its|their)\s+(?:\w+ly\s+)?$", re.IGNORECASE)
# Up to three words between a cause and its effect: "led to a marked reduction in".
_EFFECT_MODIFIERS = (r"(?:(?:a|an|the|significant|marked|dramatic|strong|substantial|complete|partial|further|rapid"
                     r"|dose-dependent|time-dependent|\w+ly)\s+){0,3}")
RESULTED_IN_BEFORE_RE = re.compile(rf"\bresult(?:s|ed|ing)?\s+in\s+{_EFFECT_MODIFIERS}$", re.IGNORECASE)
# What a cause can bring about that is a decrease ("apoptosis", "arrest" or "death" induced are events, up).
DECREASE_WORDS = frozenset({"reduction", "reductions", "decrease", "decreases", "decreased", "reduced", "inhibition",
                            "suppression", "depletion", "impairment", "impaired", "decline", "downregulation",
                            "down-regulation", "attenuation", "attenuated", "drop in", "fall in", "diminished", "lowered",
                            "loss", "repression", "abrogation", "dampened", "blunted"})
# ... and up to two more words naming what falls: "led to a growth reduction", "induced a critical fall in",
# after a pair of modifiers joined by "but" ("induced a variable but significant decrease").
CAUSAL_GAP_RE = re.compile(rf"\s+{_EFFECT_MODIFIERS}(?:[\w-]+\s+but\s+)?(?:(?!(?:and|or|but|in|of|with|to|by|than|as)\b)[\w-]+\s+){{0,2}}",
                           re.IGNORECASE)


def _opens_sentence(text: str, at: int) -> bool:
    "Does offset at open the sentence (after white space or a section label only)?"
    head = text[:at]
    return not head.strip() or SECTION_RE.fullmatch(head) is not None


def _triggers(sent: Sentence, subject: Hit | None, start: int) -> tuple[bool, Cue | None, Cue | None]:
    "(inverted, strong, weak trigger) among the sentence's cues from offset start on."
    text = sent.text
    base = sent.start
    inverted = False
    strong: Cue | None = None
    weak: Cue | None = None
    for c in sent.cues:
        if c.start < start:
            continue
        if c.kind == "inv" and _inside_other_name(sent, c, subject):
            continue
        if c.kind == "inv" and _inverter_acts(sent, c, subject, inverted):
            c = Cue("down", c.start, c.end, c.text)
        if c.kind not in DIRECTION_KINDS:
            if c.kind == "inv" and subject is not None and (
                    (c.end <= subject.start and subject.start - c.end <= 20 and not _named_between(sent, c.end, subject)
                     and not _names_class_of(sent, c, subject)
                     and not BY_RE.search(text, c.end - base, subject.start - base)
                     and not INVERTER_OBJECT_ENDS_RE.search(text, c.end - base, subject.start - base)
                     and not SUBJECT_MODIFIES_RE.match(text, subject.end - base))
                    or (c.start >= subject.end and c.start - subject.end <= 3)):
                inverted = True
            continue
        # "cisplatin-induced", "IFN-dependent": a modifier inside a noun phrase, not the relation.
        if _after_hyphen(sent, c) or _made(sent, c) or _group_descriptor(sent, c):
            continue
        word = c.text.lower()
        if word in NOUN_USE_WORDS:
            # "acute renal failure": an organ failing is an adverse event (like a toxicity), not a decrease.
            if word == "failure" and ORGAN_BEFORE_RE.search(text, max(0, c.start - base - 24), c.start - base):
                c = Cue("up", c.start, c.end, c.text)
            # "compared with control mice": the comparison group; "complete heart block": a condition.
            # The sentence may still report a result.
            if _comparison_group(sent, c):
                continue
            block = _noun_block(sent, c)
            if block:
                if block == "cardiac":
                    weak = weak or Cue("up", c.start, c.end, c.text)  # an adverse event, like a toxicity
                continue
        # "Indinavir was discontinued because of nephrotoxicity", "patients stopped treatment": stopping a
        # treatment is its management, not a decrease it brings about; the outcome, if any, is named elsewhere.
        if word in MANAGEMENT_WORDS and (PASSIVE_BEFORE_RE.search(text, max(0, c.start - base - 24), c.start - base)
                                         or STOPPED_WHAT_RE.match(text, c.end - base)):
            if REASON_AFTER_RE.search(text, c.end - base, c.end - base + 40):
                break  # "... because of disease progression": the reason for stopping, no relation of the therapy
            continue
        # "a delayed IFN response", "to delayed apoptosis": when, not less.
        if word in TIME_ADJECTIVES and DETERMINER_BEFORE_RE.search(text, max(0, c.start - base - 6), c.start - base):
            continue
        # "an inactivated oncolytic virus", "Inactivated influenza vaccine": a killed agent given, not a
        # decrease ("cells with inactivated PTEN" still is one).
        if word == "inactivated" and INACTIVATED_AGENT_RE.match(text, c.end - base):
            continue
        # "In activated macrophages, X correlated with ...": a participle describing a noun is the
        # relation only when no verb follows.
        if word in ATTRIBUTIVE_WORDS and _attributive(sent, c, weak is not None and weak.text.lower() in ATTRIBUTIVE_WORDS):
            weak = weak or c
            continue
        # "12 mg/kg or more", "grade 3 or higher": a bound on a quantity, not a comparison.
        if word in COMPARATIVES and (OR_BEFORE_RE.search(text, max(0, c.start - base - 4), c.start - base) or (
                NOT_BEFORE_RE.search(text, max(0, c.start - base - 5), c.start - base) and THAN_AFTER_RE.match(text, c.end - base))):
            continue
        nominal = word.endswith(NOMINAL_ENDINGS)
        # "STING inhibition", "LSD1 depletion": the subject's own nominalisation is an inverter;
        # another entity's loss ("KRAS G12C inhibition restores ...") is the intervention, not the relation.
        if nominal:
            if subject is not None and (0 <= c.start - subject.end <= 2 or _listed_after_subject(sent, subject, c)):
                if c.kind == "down":
                    inverted = True
                continue
            if c.kind == "down" and any(0 <= c.start - h.end <= 2 for h in sent.hits):
                continue
            # "Reduction of TP53 prevented the upregulation of p21": the subject's loss, an inverter,
            # when a relation of the subject follows ("a reduction of antiviral proteins" alone is the relation).
            if c.kind == "down" and subject is not None and c.end <= subject.start and \
                    NOMINAL_OF_RE.fullmatch(text, c.end - base, subject.start - base) and \
                    any(t.start >= subject.end and t.kind in DIRECTION_KINDS and not _after_hyphen(sent, t)
                            for t in sent.cues):
                inverted = True
                continue
        # "produced by epithelium", "mediated by NK cells": a passive modifier, weaker than a main verb;
        # "Restoring Irf7 ... reduced metastases": a gerund opening the sentence names the intervention.
        if word in WEAK_TRIGGERS or PASSIVE_BY_RE.match(text, c.end - base) or (
                word.endswith("ing") and _opens_sentence(text, c.start - base)):
            # "Cystitis was induced by cyclophosphamide, ... eliminated in the urine": a finite passive verb
            # whose agent is the subject is the subject's relation, over a verb after it ("inflammation induced
            # by X decreases Y" names a noun whose verb comes later).
            if subject is not None and word not in WEAK_TRIGGERS and subject.start >= c.end and \
                    PASSIVE_AGENT_RE.fullmatch(text, c.end - base, subject.start - base) and \
                    AUXILIARY_BEFORE_RE.search(text, max(0, c.start - base - 40), c.start - base):
                strong = c
                break
            weak = weak or c
            continue
        # "PCR amplification ... was inversely proportional": a trigger noun before a stated
        # association names a measured quantity; the association is the relation.
        if c.kind in ("up", "down") and nominal and not word.endswith("ing"):
            later = next((t for t in sent.cues if t.start > c.end and t.kind == "assoc"), None)
            if later is not None:
                strong = later
                break
        if word in CAUSAL_WORDS and not (word in CAUSAL_PARTICIPLES and PARTICIPLE_BEFORE_RE.search(
                text, max(0, c.start - base - 32), c.start - base)):
            # "led to a reduction in", "caused inhibition of": the effect named after the verb carries the sign.
            # "led to a significant reduction": a statistical word in the gap is a modifier, not the effect.
            effect = next((t for t in sent.cues if t.start > c.end and t.kind != "stat"), None)
            said = effect.text.lower() if effect is not None else ""
            if effect is not None and (said in DECREASE_WORDS or (effect.kind == "inv" and said.endswith(" of"))) \
                    and CAUSAL_GAP_RE.fullmatch(text, c.end - base, effect.start - base):
                c = Cue("down", effect.start, effect.end, effect.text)
        strong = c
        break
    return inverted, strong, weak


LIST_TAIL_RE = re.compile(r"\s*(?:,\s*(?:(?:and|or)\s+)?|(?:and|or)\s+|/)\s*[a-z0-9-]*[A-Z0-9][A-Za-z0-9-]*\s*")
LIST_GAP_RE = re.compile(r"\s*(?:,\s*(?:(?:and|or)\s+)?|(?:and|or)\s+|/)\s*", re.IGNORECASE)


def _listed_after_subject(sent: Sentence, subject: Hit, cue: Cue) -> bool:
    "Does this nominal follow a list opened by the subject ('STAT1, IRF3 and TBK1 activation')?"
    # The nominal then belongs to the whole list, the subject included: it is no relation of its own.
    text, base, prev = sent.text, sent.start, subject
    for h in sent.hits:
        if h.start < subject.end or h.end > cue.start:
            continue
        if h.start < prev.end or not LIST_GAP_RE.fullmatch(text, prev.end - base, h.start - base):
            return False
        prev = h
    if prev is not subject and 0 <= cue.start - prev.end <= 2 and not text[prev.end - base:cue.start - base].strip():
        return True
    # "NF-kappa B, p38MAPK, and JNK activation": the list may end on a symbol no lexicon holds.
    return LIST_TAIL_RE.fullmatch(text, prev.end - base, cue.start - base) is not None


# "Inhibition of WEE1 by MK-1775": the subject after "by" is the inhibition's agent, not what is lost.
BY_RE = re.compile(r"\bby\b", re.IGNORECASE)


def _inside_other_name(sent: Sentence, cue: Cue, subject: Hit | None) -> bool:
    "Is this inverter cue part of another entity's name ('anti' of 'anti-PD-L1', 'inhibitor' of 'JAK inhibitor')?"
    # It names that agent and inverts nothing else: in "RT + anti-PD-L1 reduced growth" the
    # radiotherapy is not lost. A name holding the subject too ("STING blockade") still inverts it.
    if subject is None:
        return False
    return any(h.start <= cue.start and cue.end <= h.end and not (h.start <= subject.start and subject.end <= h.end)
               for h in sent.hits)


# "the beta-adrenergic antagonist propranolol", "the CDK inhibitor p21": a class noun right before a name.
CLASS_INVERTERS = frozenset({"inhibitor", "inhibitors", "antagonist", "antagonists"})


def _names_class_of(sent: Sentence, cue: Cue, subject: Hit) -> bool:
    "Does this inverter noun stand right before the subject as its class ('the antagonist propranolol')?"
    # The subject is then the inhibitor itself, not what is inhibited.
    return cue.text.lower() in CLASS_INVERTERS and not sent.text[cue.end - sent.start:subject.start - sent.start].strip()


def _named_between(sent: Sentence, start: int, subject: Hit) -> bool:
    "Does another entity stand between offset start and the subject ('Blocking STING with cisplatin')?"
    # The inverter then acts on that entity, not on the subject.
    return any(start <= h.start and h.end <= subject.start and (h.entity or h.text) != (subject.entity or subject.text)
               for h in sent.hits)


def _attributive(sent: Sentence, cue: Cue, chained: bool) -> bool:
    "Does this participle describe a noun of the sentence's subject ('Activated STING induced ...')?"
    text, rel = sent.text, cue.start - sent.start
    if not ATTRIBUTIVE_AFTER_RE.match(text, cue.end - sent.start):
        return False
    if not _opens_sentence(text, rel):
        before = ATTRIBUTIVE_BEFORE_RE.search(text, max(0, rel - 8), rel)
        if before is None:
            # "Decreased erythropoietin and increased SOCS3 downregulated ...": one subject.
            return chained and COORDINATION_BEFORE_RE.search(text, max(0, rel - 6), rel) is not None
        # "by increasing GLS expression", "a role in decreasing tumorigenesis": a gerund, a verb.
        if cue.text.endswith("ing") and before.group().split()[0].lower() in GERUND_PREPOSITIONS:
            return False
        # "patients at increased risk of", "have an increased risk": the risk is the finding.
        if RISK_AFTER_RE.match(text, cue.end - sent.start):
            return False
    # After a verb the participle names the outcome: "resulted in impaired growth", "exhibited
    # a decreased capacity". A "that" opens a new subject: "We show that activated STING ...".
    for t in sent.cues:
        if t.start >= cue.start:
            break
        if (t.kind in DIRECTION_KINDS or t.kind in ("inv", "finding")) and \
                not (t.kind == "finding" and THAT_RE.search(text, t.end - sent.start, rel)):
            return False
    return True


THAT_RE = re.compile(r"\bthat\b", re.IGNORECASE)
COORDINATION_BEFORE_RE = re.compile(r"(?:\b(?:and|or)|,)\s+$", re.IGNORECASE)
GERUND_PREPOSITIONS = frozenset({"by", "in", "for", "from", "on", "that"})
RISK_AFTER_RE = re.compile(r"\s+(?:risks?|incidence|likelihood|odds|chances?|probability|susceptibility)\b", re.IGNORECASE)


# "a small but significant increase", "slightly but significantly reduced": a "but" joining two modifiers
# of one word opens no clause. Before it, an adjective after "a"/"an" (by its ending or a short list: "in a
# subset but reduced Z" is a clause), or an adverb with an adverb after it.
_GRADED = r"small|slight|modest|mild|weak|rare|low|high|slow|brief|short|minor|strong|uncommon|common|late|early|prompt|long"
MODIFIER_BUT_BEFORE_RE = re.compile(rf"\b(?:an?\s+(?:\w+ly\s+)?(?:{_GRADED}|[\w-]*(?:al|ive|ous|ble|ic|ant|ent|ful|ary))|(\w+ly))\s+$",
                                    re.IGNORECASE)
ADVERB_AFTER_RE = re.compile(r"\s+\w+ly\b", re.IGNORECASE)


def _joins_modifiers(text: str, m: re.Match) -> bool:
    "Is this clause-break match a 'but' between two modifiers ('a rare but serious', 'slowly but steadily')?"
    if m.group().lower() != "but":
        return False
    before = MODIFIER_BUT_BEFORE_RE.search(text, max(0, m.start() - 40), m.start())
    return before is not None and (before.group(1) is None or ADVERB_AFTER_RE.match(text, m.end()) is not None)


def _may_break(text: str, end: int) -> bool:
    "Could SUBJECT_BREAK_RE match before offset end? (Plain substring tests, far cheaper than the regex.)"
    # Most subjects open their sentence's only clause: the regex would scan for nothing.
    head = text[:end].lower()
    return ";" in head or "while" in head or "whereas" in head or "but" in head or "in contrast" in head or "conversely" in head


def polarity(sent: Sentence, subject: Hit | None) -> tuple[str, Cue | None, bool]:
    "Direction of the main relation: the first verb-like trigger, flipped by a loss-of cue on the subject."
    text = sent.text
    base = sent.start
    # A subject in a later clause of its own ("..., whereas IFN-β reduced it") takes its clause's
    # verb; a clause without one ("..., whereas age was not") shares the sentence's.
    clause = 0
    if subject is not None and _may_break(text, subject.start - base):
        for m in SUBJECT_BREAK_RE.finditer(text, 0, subject.start - base):
            if not _joins_modifiers(text, m):
                clause = m.end()
    inverted, strong, weak = _triggers(sent, subject, base + clause)
    if clause and strong is None and weak is None:
        inverted, strong, weak = _triggers(sent, subject, base)
    if subject is not None and subject.text.endswith(("-/-", "−/−", "–/–", "(-/-)", "KO")):
        inverted = True
    trig = strong or weak
    if trig is None and subject is not None:
        # "All-trans retinoic acid-induced myositis": with no verb, the subject's own "-induced"
        # states what it causes.
        trig = next((c for c in sent.cues if c.kind == "up" and 0 < c.start - subject.end <= 1
                     and text[c.start - base - 1] in "-‐–" and c.text.lower() in INDUCED_WORDS), None)
        if trig is not None:
            return "up", trig, False
    if trig is None and subject is not None and not inverted and not (cue_kinds(sent) & {"hedge", "neg"}):
        # "we observed inhibition of T cell proliferation by irradiation": with no verb, a decrease
        # of something other than the subject is the relation the sentence states. Hedged or denied
        # ("inhibition of X may be a strategy", "depletion of X did not affect Y"), it is the means
        # of what the sentence weighs, not a reported decrease.
        trig = next((c for c in sent.cues if c.kind == "inv" and c.text.lower() in DECREASE_NOMINALS
                     and not _inside_other_name(sent, c, subject) and not _after_hyphen(sent, c)
                     and not _names_subject_after(sent, c, subject)), None)
        if trig is not None:
            return "down", trig, False
    if trig is None:
        return "none", None, False
    if strong is None and trig.text.lower() in NEUTRAL_OUTCOMES:
        return "none", trig, False
    if strong is None and trig.text.lower() in OUTCOME_EVENTS and INCIDENCE_RE.search(text) \
            and not COMPARISON_RE.search(text):
        # "Neurologic toxicity was reported in 52% of patients": how often it happened, not which way.
        return "none", trig, False
    direction = DIRECTION_KINDS[trig.kind]
    rel = trig.start - base
    if strong is None and trig.text.lower() in PRODUCED_OUTCOMES:
        if STATISTIC_AFTER_RE.match(text, trig.end - base):
            return "none", None, False  # "multivariate regression analysis": a method, no relation
        # "Paclitaxel-induced cell death", "additive cytotoxicity", "cell killing after PDT": with no
        # verb, the outcome noun names what the agent brings about (an event, like an induction).
        direction = "up"
    if EFFICACY_BEFORE_RE.search(text, max(0, rel - 24), rel):
        # "effective in reducing tumour burden": the claim is the therapy's benefit, the verb its means.
        return "up", trig, False
    if direction in ("up", "down"):
        # "failed to upregulate": a failed increase reads as a decrease.
        if FAILED_RE.search(text, max(0, rel - 14), rel):
            direction = "down" if direction == "up" else "up"
        # "produced less IFN-α", "showed higher expression": the comparative carries the sign.
        comparative = COMPARATIVE_RE.match(text, trig.end - base)
        if comparative and not ((comparative.group(1) or "").lower() in COPULAS and trig.text.lower() in CHANGE_NOUNS):
            direction = "down" if comparative.group(2).lower() in ("less", "fewer", "lower") else "up"
    if INVERT_FLIP and direction in ("up", "down") and subject is not None \
            and subject.start >= trig.end and _lost_after_verb(sent, subject, trig):
        # "Metastasis was diminished in Ifnar1-/- mice": the loss named after the verb inverts it too.
        return ("down" if direction == "up" else "up"), trig, True
    flipped = False
    # A knockout subject inverts only its own clause's verb: in "Ifne-/- mice developed more
    # metastasis, whereas IFNε treatment reduced it" the reduction is the treatment's.
    if INVERT_FLIP and inverted and direction in ("up", "down") and subject is not None and subject.start < trig.start \
            and not VERB_BREAK_RE.search(text, subject.end - base, trig.start - base):
        direction = "down" if direction == "up" else "up"
        flipped = True
    return direction, trig, flipped


def _names_subject_after(sent: Sentence, cue: Cue, subject: Hit) -> bool:
    "Does the subject's own entity follow this cue ('Ifnar1-deficient mice ... disruption of the Ifnar1 gene')?"
    # Its own loss states no relation: a knockout confirmed, not a decrease brought about.
    key = subject.entity or subject.text
    return any((h.entity or h.text) == key and 0 <= h.start - cue.end <= 5 for h in sent.hits)


# Inverter nominals that name an action bringing something down (not a genetic state such as "loss of", "deletion of").
DECREASE_NOMINALS = frozenset({"inhibition of", "down-regulation of", "downregulation of", "depletion of", "blockade of",
                               "disruption of", "ablation of"})
# "diminished in IFNAR1-deficient mice", "enhanced by TP53 silencing": the host or means, right before the subject.
LOSS_HOST_BEFORE_RE = compile_context(r"\b(?:in|by|after|from|following|upon)\s+(?:the\s+|an?\s+)?$", re.IGNORECASE)
# Loss cues that can follow the subject's name ("mutant" is not one: KRAS-mutant is a gain).
LOSS_AFTER_WORDS = frozenset({"-deficient", "deficient", "deficient mice", "deficiency", "knockout", "knock-out",
                              "knockouts", "knockdown", "knock-down", "null", "silencing", "silenced", "depleting",
                              "-/-", "−/−", "–/–", "ko", "sirna", "shrna"})
PASSIVE_BEFORE_RE = re.compile(r"\b(?:is|are|was|were|be|been|being)\s+(?:\w+ly\s+|also\s+|further\s+)?$", re.IGNORECASE)
KNOCKOUT_ENDINGS = ("-/-", "−/−", "–/–", "(-/-)", "KO")


def _lost_after_verb(sent: Sentence, subject: Hit, trig: Cue) -> bool:
    "Is the subject, named after the verb, the loss in whose host or by whose means it happened ('in Ifnar1-/- mice')?"
    text, base = sent.text, sent.start
    rel, trig_end = subject.start - base, trig.end - base
    if rel - trig_end > 60 or not LOSS_HOST_BEFORE_RE.search(text, max(trig_end, rel - 24), rel):
        return False
    # The verb's own subject is then the outcome ("Metastasis was diminished"): an entity named before
    # the verb is the agent, and the knockout only the setting ("IFN-β induced apoptosis in STAT1-/- cells").
    # A passive verb's subject is its patient ("IFN-β production was reduced in Sting-/- mice").
    if VERB_BREAK_RE.search(text, trig_end, rel) or (
            any(h.end <= trig.start for h in sent.hits) and not PASSIVE_BEFORE_RE.search(text, max(0, trig.start - base - 24), trig.start - base)):
        return False
    if subject.text.endswith(KNOCKOUT_ENDINGS):
        return True
    return any(c.kind == "inv" and 0 <= c.start - subject.end <= 3 and c.text.lower() in LOSS_AFTER_WORDS
               for c in sent.cues)


# Events a trial counts (toxicities, responses); with a tally and no comparison, a sentence reports their incidence.
OUTCOME_EVENTS = frozenset({"toxicity", "toxicities", "toxic", "adverse", "side effects", "side-effect", "response",
                            "responses", "complete response", "partial response"})
INCIDENCE_RE = re.compile(r"\d\s*%|\b(?:was|were)\s+(?:observed|reported|noted|seen|recorded|documented)\b", re.IGNORECASE)
# A comparison, or a verb that makes the events the therapy's effect ("resulted in a partial response").
COMPARISON_RE = compile_context(r"\b(?:more|less|fewer|greater|higher|lower|vs|versus|compared|than|increase[ds]?|decrease[ds]?"
                           r"|result(?:ed|s)?\s+in|led\s+to|leads?\s+to|produced?s?)\b", re.IGNORECASE)
# "effective in reducing", "an effective strategy for preventing": the benefit is the claim, the verb its means.
EFFICACY_BEFORE_RE = compile_context(r"\b(?:effective|efficacious|successful|useful)\s+(?:(?:strateg(?:y|ies)|approach(?:es)?|agents?"
                                     r"|drugs?|treatments?|therap(?:y|ies)|means|ways?|tools?|options?)\s+)?(?:in|at|for)\s+$",
                                     re.IGNORECASE)
INDUCED_WORDS = frozenset({"induced", "triggered", "elicited", "provoked"})
AS_BEFORE_RE = re.compile(r"\bas\s+$", re.IGNORECASE)  # "as previously observed": one's own result compared


# Weak down cues that name an event an agent brings about (cell death, tumour regression): alone they read as up.
PRODUCED_OUTCOMES = frozenset({"death", "apoptosis", "killing", "cytotoxic", "cytotoxicity", "regression", "arrest"})
STATISTIC_AFTER_RE = re.compile(r"\s+(?:analys[ie]s|models?|coefficients?|equations?|lines?)\b", re.IGNORECASE)


# "further study is warranted": what should come next, a conclusion's word, not prior knowledge.
FUTURE_WORK_RE = re.compile(r"warranted|further", re.IGNORECASE)


def _recalled(sent: Sentence) -> list[Cue]:
    "Background cues that recall prior knowledge ('previously shown'), not ones comparing with it ('as previously observed')."
    return [c for c in sent.cues if c.kind == "background" and not AS_BEFORE_RE.search(sent.text, 0, c.start - sent.start)]


def role_of(sent: Sentence, section: str | None) -> str:
    "background for prior knowledge, result for the paper's own findings."
    kinds = cue_kinds(sent)
    if section and SECTION_BACKGROUND.search(section):
        return "background"
    if "finding" in kinds:
        # "Previously, we showed", "Previous studies have indicated": an earlier finding recalled.
        first = next(c.start for c in sent.cues if c.kind == "finding")
        return "background" if any(c.start < first for c in _recalled(sent)) else "result"
    if any(c.kind == "gap" and not FUTURE_WORK_RE.search(c.text) for c in sent.cues) or ("background" in kinds and _recalled(sent)):
        return "background"
    if sent.index == 0 and sent.total > 3:
        return "background"
    return "result"


def _document_fact(document: Document, kind: str, doc: Doc | None) -> str | None:
    "The first study system or cancer named in this field, else in the title."
    if doc is None:
        return _title_fact(document, kind)
    # Asked for every claim of the field by every plugin: answer once per field.
    cache = doc.user_data.get("evidex.field_facts")
    if cache is None:
        # One walk over the field's facts finds the first of every kind.
        cache = doc.user_data["evidex.field_facts"] = {}
        for _, k, value in doc.user_data.get("evidex.facts", ()):
            cache.setdefault(k, value)
    if kind not in cache:
        cache[kind] = _title_fact(document, kind)
    return cache[kind]


def _title_fact(document: Document, kind: str) -> str | None:
    "The first study system or cancer named in the document's title."
    ctx = _context.get(document)
    key = "title:" + kind
    if key not in ctx.facts:
        # Only the (short) title is scanned by regex; the abstract's facts come from the matcher.
        title = document.title
        m = _fact_pattern(kind).search(title, title.lower())
        found = None
        if m is not None:
            found = SYSTEM_NAMES[int(cast(str, m.lastgroup)[1:])] if kind == "fact:system" else m.group(0)
            if kind == "fact:cancer" and not found.isupper():
                found = found.lower()
        ctx.facts[key] = found
    return ctx.facts[key]  # type: ignore[return-value]


_FACT_RES: dict[str, re.Pattern] = {}
_FACT_PATTERNS: dict[str, GatedPattern | WordStartPattern] = {}
_WORD_START_RE = re.compile(r"\b\w")


@dataclass(frozen=True, slots=True)
class WordStartPattern:
    "A regex of whole words tried only at word starts whose first letters open one of its words: the same matches."

    rx: re.Pattern
    prefixes: frozenset[str]  # the first `size` characters of every word, lower-cased
    size: int

    def search(self, text: str, lower: str) -> re.Match | None:
        "rx.search(text); lower is unused (the GatedPattern interface)."
        # Each of the cancer list's hundred-odd alternatives opens with \b, so re tried them all at
        # every offset of a title (about 20 µs). In an ASCII text a match of an ASCII word starts
        # a word and agrees with the word's first letters in any case; elsewhere re's case
        # folding could match other characters, and rx runs on its own.
        if not text.isascii():
            return self.rx.search(text)
        size, prefixes, match = self.size, self.prefixes, self.rx.match
        for m in _WORD_START_RE.finditer(text):
            at = m.start()
            if text[at:at + size].lower() in prefixes:
                found = match(text, at)
                if found is not None:
                    return found
        return None


def _fact_pattern(kind: str) -> GatedPattern | WordStartPattern:
    "_fact_regex with its literal finder (the study-system words), or tried at word starts (the cancers, of mixed case rules)."
    pattern = _FACT_PATTERNS.get(kind)
    if pattern is None:
        rx = _fact_regex(kind)
        words = [*CUES["_cancers"]["terms"], *CUES["_cancers"]["exact"]] if kind == "fact:cancer" else []
        if words and all(w.isascii() and w[:1].isalnum() for w in words):
            size = min(len(w) for w in words)
            pattern = WordStartPattern(rx, frozenset(w[:size].lower() for w in words), size)
        else:
            pattern = gated(rx)
        _FACT_PATTERNS[kind] = pattern
    return pattern


def _fact_regex(kind: str) -> re.Pattern:
    "A regex over the same fact lists, for the (rare) document-level fallback."
    rx = _FACT_RES.get(kind)
    if rx is None:
        if kind == "fact:system":
            parts = [f"(?P<s{i}>" + "|".join(rf"\b{re.escape(w)}\b" for w in CUES["_systems"][n]) + ")"
                     for i, n in enumerate(SYSTEM_NAMES)]
            rx = re.compile("|".join(parts), re.IGNORECASE)
        else:
            c = CUES["_cancers"]
            words = sorted(c["terms"], key=len, reverse=True)
            rx = re.compile("|".join([rf"\b(?i:{re.escape(w)})\b" for w in words] + [rf"\b{re.escape(w)}\b" for w in c["exact"]]))
        _FACT_RES[kind] = rx
    return rx


def study_system(sent: Sentence, document: Document, doc: Doc | None = None) -> str | None:
    "human, mouse, in vitro or clinical: from the sentence, else from the whole document."
    return _sentence_context(sent, document, doc)[0]


def cancer_type(sent: Sentence, document: Document, doc: Doc | None = None) -> str | None:
    "The cancer named in the sentence, else the first one named in the document."
    return _sentence_context(sent, document, doc)[1]


def _sentence_context(sent: Sentence, document: Document, doc: Doc | None) -> tuple[str | None, str | None]:
    "(study system, cancer type) of a sentence from one walk over its facts (sorted by position)."
    systems: list[str] = []
    cancers: list[str] = []
    facts = doc.user_data.get("evidex.facts", []) if doc is not None else []
    for i in range(bisect_left(facts, (sent.start,)), len(facts)):
        pos, kind, value = facts[i]
        if pos >= sent.end:
            break
        if kind == "fact:system":
            systems.append(value)
        elif kind == "fact:cancer":
            cancers.append(value)
    system = min(systems, key=SYSTEM_NAMES.index) if systems else _document_fact(document, "fact:system", doc)
    return system, cancers[0] if cancers else _document_fact(document, "fact:cancer", doc)


def build_claims(
    extractor: Extractor, document: Document, field: str, doc: Doc, category: str, require_trigger: bool = False,
) -> Iterator[Claim | Mention]:
    "Claims and mentions of one category in one parsed field."
    analyze(document, doc, field)
    for sent, hits in doc.user_data["evidex.by_category"].get(category, ()):
        specific = [h for h in hits if not h.generic]
        # Generic words ("the regimen was well tolerated") make a claim only in a paper on the topic.
        if not specific and not _topic(document, category):
            continue
        if sent.verdict is None:
            sent.verdict = assertion(sent, field == "title")
        verdict = sent.verdict
        is_claim = verdict.claim
        if is_claim and specific and all(h.downstream for h in specific):
            is_claim = _downstream_counts(document, doc, sent, category)
        if is_claim and specific and _owned_elsewhere(doc, sent, specific):
            is_claim = False
        if is_claim and require_trigger and (cue_kinds(sent).isdisjoint(TRIGGER_KINDS) or _tally_only(sent)):
            is_claim = False
        for h in specific:
            if h.emit and (is_claim or not h.weak):
                yield Mention(category, h.entity, field, h.start, h.end, h.text)
        if is_claim:
            yield make_claim(sent, document, field, category, specific, verdict, doc)


# "EGFR was amplified in 12 of 40 tumours", "HIF-1α was expressed in 27/29 (93%) specimens": how
# often a gene is altered or expressed is a tally, not a relation (GUIDELINES: a statistic without
# a relation is no claim). The occurrence word is then followed by its count.
TALLY_WORDS = frozenset({"expressed", "overexpressed", "overexpression", "occurred", "occurs", "amplification",
                         "amplified", "mutated", "detected", "found", "observed", "present"})
TALLY_RE = re.compile(
    r"(?:\s+(?:occurs?|occurred|was|were|is|are|found|detected|observed|seen|present))*\s+(?:in|among)\s+"
    r"(?:only\s+|about\s+|approximately\s+|over\s+|nearly\s+|almost\s+|at\s+least\s+|up\s+to\s+)?"
    r"\d+(?:\.\d+)?\s*(?:%|/\s*\d|\(\s*\d|of\b|out\s+of\b|patients|cases|tumou?rs|specimens|samples)", re.IGNORECASE)
DIGIT_RE = re.compile(r"\d")


def _tally_only(sent: Sentence) -> bool:
    "Is the sentence's only relation an occurrence word followed by a count (a frequency, no relation)?"
    text = sent.text
    if not DIGIT_RE.search(text):
        return False  # no count: the cheap common case
    tally = False
    for c in sent.cues:
        if c.kind in ("neg", "hedge"):
            return False
        if c.kind not in DIRECTION_KINDS:
            continue
        word = c.text.lower()
        if word in TALLY_WORDS and TALLY_RE.match(text, c.end - sent.start):
            tally = True
        elif word not in WEAK_TRIGGERS:
            return False  # another relation ("correlated with", "induced") stands beside the tally
    # "more frequent in tumours with metastasis (45/84) than without": a comparison is a relation.
    return tally and not COMPARISON_RE.search(text)


def _names_lookalike(doc: Doc, sent: Sentence, category: str) -> bool:
    "Does the sentence name a look-alike of the category (IFN-γ or IFN-λ for ifn)?"
    return any(sent.start <= at < sent.end and c == category for at, c in doc.user_data.get("evidex.lookalikes", ()))


def _owned_elsewhere(doc: Doc, sent: Sentence, specific: list[Hit]) -> bool:
    "Are all the claim's hits another category's downstream genes, in a sentence that is that category's?"
    # "IRDS genes STAT1, ISG15 and IFIT1 mediated resistance": STAT1 is named as an ISG here,
    # not as a node of JAK-STAT signalling. Beside IFN-γ alone it is JAK-STAT's again.
    if not sent.downstream:
        return False
    owners = {(h.start, h.entity): h.category for h in sent.hits if h.downstream}
    cats = {owners.get((h.start, h.entity)) for h in specific}
    if None in cats or len(cats) != 1:
        return False
    owner = cast(str, cats.pop())  # None is not among them
    if _names_lookalike(doc, sent, owner):
        return False
    mine = {(x.start, x.entity) for x in specific}
    return any(h.category == owner and (h.start, h.entity) not in mine for h in sent.hits)


def _downstream_counts(document: Document, doc: Doc, sent: Sentence, category: str) -> bool:
    "Do downstream hits alone (ISGs, STAT1) make a claim here: the document names the topic, the sentence no look-alike?"
    # "IFN-γ turns on STAT1 and IRF-1" is type II signalling; CXCL10 in a paper that never names
    # interferon is a chemokine.
    if _names_lookalike(doc, sent, category):
        return False
    ctx = _context.get(document)
    key = -11 - CATEGORIES.index(category)
    answer = ctx.answers.get(key)
    if answer is None:
        answer = ctx.answers[key] = TOPIC_FINDERS[category].search(ctx.text, ctx.lower) is not None
    return answer


def _topic(document: Document, category: str) -> bool:
    "Is the document about this category (named in its title or repeatedly in its text)?"
    ctx = _context.get(document)
    key = -1 - CATEGORIES.index(category)
    answer = ctx.answers.get(key)
    if answer is None:
        pattern = TOPIC_FINDERS[category]
        title = document.title
        # Stop at the third match: the count is only compared with 3.
        answer = pattern.matches(title, title.lower()) or len(
            list(itertools.islice(pattern.finditer(ctx.text, ctx.lower), 3))) >= 3
        ctx.answers[key] = answer
    return answer


TOPIC_RES = {
    "therapy": compile_context(r"\b(?:therap\w*|treat\w*|drugs?|chemo\w*|radiother\w*|regimens?|trial|agents?|inhibitors?|dose|doses|patients)\b", re.IGNORECASE),
    "ifn": compile_context(r"\b(?:IFN|interferon)", re.IGNORECASE),
    "pathway": compile_context(r"\b(?:pathway|signal\w*)", re.IGNORECASE),
    "age": compile_context(r"\b(?:ag(?:e)?ing|aged|elderly|older)\b", re.IGNORECASE),
}
TOPIC_FINDERS = {category: gated(rx) for category, rx in TOPIC_RES.items()}
TARGET_KEYWORD_FINDER = gated(TARGET_KEYWORD_RE)
RELATION_NAME_FINDER = gated(RELATION_NAME_RE)
_DESCRIPTOR_ANCHOR_FINDER = gated(_DESCRIPTOR_ANCHOR_RE)  # 'age' and 'old' found by str.find, not a regex scan
OLD_ANIMAL_FINDER = compile_context(OLD_ANIMAL_RE.pattern, re.IGNORECASE)  # defined before compile_context


# "not well described", "has not been elucidated": a knowledge gap, not a denied relation.
TALLY_AFTER_RE = re.compile(r"\s*(?:\(\s*(?:NC\b|n\s*=)|\d|:\s*\d|in\s+\d+\s*(?:%|patients|cases))", re.IGNORECASE)
NEG_GAP_RE = re.compile(r"\s+(?:well|completely|fully|yet|only|clear|known|understood|been|always|entirely|solely|necessarily)\b", re.IGNORECASE)
# A later clause after "but", "whereas", "while", ";" qualifies the main assertion rather than denying it,
# with or without a comma ("X reduced Y but did not affect Z", "X increased Y while no change in Z was seen").
CLAUSE_BREAK_RE = compile_context(r"\bbut\b|;|\bwhereas\b|\bwhile\b(?<!\ba while)|\bfurthermore\b|\bin (?:whom|which)\b|,\s*which\b", re.IGNORECASE)


RELATIVE_BEFORE_RE = re.compile(r"\b(?:which|that|who)\s+$", re.IGNORECASE)
# "... and did not": the cue opens a second verb phrase of the same subject.
COORDINATED_BEFORE_RE = re.compile(r"\band\s+$", re.IGNORECASE)


# "had no direct effect", "showed little or no response": "no" before an outcome noun with a word or two
# between denies it like the listed "no effect"; "patients with no response to X" describes a group.
# "No enhancement by X", "no activation of autophagy was observed" too; not "NO" (nitric oxide: "NO synthase activation").
NO_OUTCOME_RE = re.compile(r"\b(?:little\s+or\s+)?(?-i:no|No)\s+(?:(?!(?:more|longer|less|than|other|and|or|but|with)\b)[\w-]+\s+){0,2}?"
                           r"(?:effects?|responses?|benefits?|activity|improvements?|toxicity|toxicities|side[- ]effects?"
                           r"|changes?|differences?|impact|influence|increase|decrease|reduction|alteration"
                           r"|enhancement|inhibition|induction|activation|suppression|stimulation|potentiation|elevation)\b",
                           re.IGNORECASE)
NO_GROUP_BEFORE_RE = re.compile(r"\b(?:with|of|for|to|than)\s+$", re.IGNORECASE)


def _with_no_outcome_cues(sent: Sentence) -> list[Cue]:
    "The sentence's cues, plus a negation for each 'no (adjective) outcome' the cue list does not hold."
    text, base = sent.text, sent.start
    if "no " not in text.lower():
        return sent.cues
    extra = []
    for m in NO_OUTCOME_RE.finditer(text):
        at = base + m.start()
        if NO_GROUP_BEFORE_RE.search(text, max(0, m.start() - 8), m.start()) or any(
                c.kind in ("neg", "negfalse") and c.start <= at + (m.end() - m.start()) and at <= c.start for c in sent.cues):
            continue
        extra.append(Cue("neg", at, base + m.end(), m.group(0)))
    return sorted(sent.cues + extra, key=lambda c: c.start) if extra else sent.cues


def negations(sent: Sentence) -> list[tuple[str, int]]:
    "Negation cues of the sentence, each with where the clause it alone denies begins (-1: the whole sentence)."
    out = []
    text, base = sent.text, sent.start
    for c in _with_no_outcome_cues(sent):
        if c.kind != "neg":
            continue
        if NEG_GAP_RE.match(text, c.end - base):
            continue
        if c.text.lower() == "no change" and TALLY_AFTER_RE.match(text, c.end - base):
            continue  # "partial remission 45%, no change 27%": a response category counted, not a denial
        if c.text.lower().startswith(("failed", "fails", "fail ", "unable")) and any(
                t.kind in ("up", "down") and 0 <= t.start - c.end <= 2 for t in sent.cues):
            continue  # "failed to upregulate" is a decrease, handled as direction
        head = text[: c.start - base]
        brk = None
        for m in CLAUSE_BREAK_RE.finditer(head):
            if not _joins_modifiers(head, m):
                brk = m
        if brk is None and not any(h.start >= c.end for h in sent.hits):
            # "cells which do not rely on this pathway": a relative clause right before the cue,
            # naming nothing of the lexicon, describes a noun; the relation stated before it stands.
            brk = RELATIVE_BEFORE_RE.search(head, max(0, len(head) - 12))
        if brk is None:
            # "prevented IFN-β release and did not produce regression": a second verb phrase.
            brk = COORDINATED_BEFORE_RE.search(head, max(0, len(head) - 6))
        if brk is None and c not in sent.cues and any(t.kind in DIRECTION_KINDS and t.end <= c.start for t in sent.cues):
            # "X enhanced the lesions, no influence being exerted after Y", "at doses causing no apparent
            # toxicity, X retarded growth": a found "no (adjective) outcome" after a stated relation denies
            # only what its own clause names.
            out.append((c.text, c.start))
            continue
        if brk is not None and any(t.kind in DIRECTION_KINDS and t.start - base < brk.start() for t in sent.cues):
            # A relation is stated before the break: the cue denies only the clause after it, so
            # only the claims whose subject it names ("..., whereas age was not").
            out.append((c.text, base + brk.start()))
        else:
            out.append((c.text, -1))
    return out


# "could be detected", "more likely to": ability or comparison, not speculation.
HEDGE_FALSE_AFTER_RE = re.compile(r"\s+be\s+(?:detected|observed|found|seen|used|measured|identified)\b", re.IGNORECASE)
HEDGE_FALSE_BEFORE_RE = re.compile(r"\b(?:more|less|most|least)\s+$", re.IGNORECASE)
# "membrane potential", "metastatic potential": a measured property, not a possibility.
PROPERTY_BEFORE_RE = re.compile(r"\b(?:membrane|action|redox|electrical|electric|zeta|resting|evoked|field|oxidation|reduction"
                                r"|\w*toxic|cytolytic|lytic|metastatic|invasive|malignant|proliferative|tumou?rigenic|oncogenic|carcinogenic"
                                r"|mutagenic|teratogenic|arrhythmogenic|proarrhythmic|emetogenic|epileptogenic|immunogenic|TdP|abuse"
                                r"|migratory|replicative|clonogenic|differentiation|growth|killing|stem-?cell)\s+$", re.IGNORECASE)
# "a potentially fatal complication", "a rare but potentially life-threatening side effect": how grave an event
# named as fact can be, not a doubt about it ("is potentially toxic to neurons" still hedges).
SEVERITY_AFTER_RE = re.compile(r"\s+(?:serious|fatal|lethal|life-threatening|harmful|toxic|dangerous|devastating|blinding"
                               r"|disabling|deleterious|hazardous|severe|reversible)\s+(?!(?:to|in|for|if|when|with|by|as"
                               r"|because|unless|than)\b)[\w-]", re.IGNORECASE)
# "should be considered", "should be monitored", "should be aware of": advice on what to do, not a doubt
# ("should reduce relapse", "should be useful" still state an expectation).
RECOMMENDATION_AFTER_RE = re.compile(r"\s+(?:(?:not|also|always|still|therefore|thus|now|then|first)\s+)?(?:be\s+(?:\w+ly\s+)?"
                                     r"(?:\w+ed|taken|given|done|undertaken|borne|sought|kept|made|aware|wary|alert|cautious)"
                                     r"|(?:\w+ly\s+)?(?:consider|remain\s+aware|bear\s+in\s+mind))\b", re.IGNORECASE)
# "we found that X could induce apoptosis": what X was seen to do (the past of "can"), not a doubt;
# "results show that X could be effective" still weighs a possibility.
PAST_ABILITY_BEFORE_RE = re.compile(r"\b(?:showed|shown|show|demonstrated|demonstrate|found|observed|revealed|confirmed)"
                                    r"(?:\s+(?:here|now|also|further|previously|recently|first))?\s+that\b"
                                    r"(?:(?!\b(?:but|whereas|while|if|whether|may|might|suggest\w*)\b)[^;])*$", re.IGNORECASE)
NOT_ABILITY_AFTER_RE = re.compile(r"\s+(?:\w+ly\s+)?(?:be|have|not|potentially|possibly)\b", re.IGNORECASE)
RELATIVE_RE = re.compile(r"\b(?:that|which|who|whose)\b", re.IGNORECASE)
TRAILING_CLAUSE_RE = compile_context(r",\s*(?:which|that|a\s+\w+\s+that|an?\s+\w+\s+(?:in\s+)?which|and)\b|,\s*$|\band\s+$|;", re.IGNORECASE)


def hedges(sent: Sentence) -> tuple[list[str], list[tuple[str, int, int]]]:
    "Hedge cues that qualify the sentence's main assertion, and those of a trailing aside with the aside's span."
    out: list[str] = []
    asides: list[tuple[str, int, int]] = []
    text, base = sent.text, sent.start
    for c in sent.cues:
        if c.kind != "hedge":
            continue
        rel = c.start - base
        if HEDGE_FALSE_AFTER_RE.match(text, c.end - base) or HEDGE_FALSE_BEFORE_RE.search(text[max(0, rel - 6):rel]):
            continue
        if c.text.lower() == "potential" and PROPERTY_BEFORE_RE.search(text, max(0, rel - 24), rel):
            continue
        if c.text.lower() == "potentially" and SEVERITY_AFTER_RE.match(text, c.end - base):
            continue
        if c.text.lower() == "should" and RECOMMENDATION_AFTER_RE.match(text, c.end - base):
            continue
        if c.text.lower() == "could" and PAST_ABILITY_BEFORE_RE.search(text, max(0, rel - 120), rel) \
                and not NOT_ABILITY_AFTER_RE.match(text, c.end - base):
            continue
        if not out:
            # A hedge after a clause break that follows a main verb qualifies an aside, not the claim.
            first_verb = next((t.start - base for t in sent.cues
                               if t.kind in ("up", "down", "dep") and t.text.lower() not in WEAK_TRIGGERS), None)
            if first_verb is not None and first_verb < rel:
                brk = None
                for m in TRAILING_CLAUSE_RE.finditer(text, 0, rel):
                    brk = m
                if brk is not None and first_verb < brk.start():
                    # "X reduced Y, possibly through inhibition of TLR4": the aside weighs only what it names,
                    # up to a clause of its own ("..., possibly by X, whereas Z reduced W").
                    end = SUBJECT_BREAK_RE.search(text, c.end - base)
                    # In a relative clause after the aside's own verb the hedge weighs only what follows it:
                    # "..., and STING knockdown reduced this in cells that may lack cGAS" hedges no STING claim.
                    verb = next((t for t in reversed(sent.cues) if brk.end() <= t.start - base < rel
                                 and t.kind in ("up", "down", "dep") and t.text.lower() not in WEAK_TRIGGERS), None)
                    start = rel if verb is not None and RELATIVE_RE.search(text, verb.end - base, rel) else brk.start()
                    asides.append((c.text, base + start, base + (end.start() if end else len(text))))
                    continue
        out.append(c.text)
    return out, asides


def make_claim(sent: Sentence, document: Document, field: str, category: str, hits: list[Hit], verdict: Verdict,
               doc: Doc | None = None) -> Claim:
    "One Claim from a sentence judged an assertion, with its relation, cues and context."
    subject = hits[0] if hits else None
    subject_id = (subject.entity or subject.text) if subject else None
    direction, trig, flipped = polarity(sent, subject)
    obj = None
    if trig is not None:
        # A second mention of the subject ("p53 ... an increase in p53") is no object: a relation
        # of an entity to itself says nothing.
        own = {h.start for h in sent.hits if h.start > trig.end and (h.entity or h.text) == subject_id}
        after = [h for h in sent.hits if h.start > trig.end and h.start not in own]
        first = None
        if after:
            # Of hits opening on the same word ("PEG-IFNα monotherapy": a therapy over an IFN), the claim's own category.
            first = after[0]
            first = next((h for h in after if h.category == category and h.start == first.start), first)
            obj = first.entity or first.text
        # "p53 is induced by IFN-α": the agent after "by" is the subject of the relation.
        m = PASSIVE_AGENT_RE.match(sent.text, trig.end - sent.start) if subject is not None else None
        if m and subject is not None and first is not None and subject.start < trig.start and first.start - sent.start <= m.end():
            subject_id, obj = obj, subject_id
        elif m and subject is not None and subject.start > trig.start and subject.start - sent.start <= m.end():
            # The claim's own entity is the agent: the patient comes before the verb.
            before = [h for h in sent.hits if h.end <= trig.start and (h.entity or h.text) != subject_id]
            obj = (before[-1].entity or before[-1].text) if before else None
    if sent.negation_cues is None:
        sent.negation_cues = negations(sent)
        sent.hedge_cues, sent.aside_hedges = hedges(sent)
    # A claim with no subject stands where its relation does: a denial scoped to the clause after a
    # break ("..., but no association was seen") denies it when its trigger is in that clause.
    anchor = subject.start if subject is not None else (trig.start if trig is not None else None)
    neg = [text for text, scope in sent.negation_cues if scope < 0 or (anchor is not None and anchor >= scope)]
    hedge = (sent.hedge_cues or []) or [text for text, lo, hi in sent.aside_hedges if anchor is not None and lo <= anchor < hi]
    if sent.context is None:
        # The same for every category's claim on this sentence: decided once.
        sent.role = role_of(sent, verdict.section)
        sent.context = _sentence_context(sent, document, doc)
    entities = list(dict.fromkeys(h.entity for h in hits if h.emit or h.anaphor))
    confidence = 0.5 + (0.2 if hits else 0.0) + (0.15 if trig is not None else 0.0) + (0.1 if "finding" in cue_kinds(sent) else 0.0)
    if hedge:
        confidence -= 0.1
    return Claim(
        category=category,
        sentence=sent.text,
        field=field,
        start=sent.start,
        end=sent.end,
        subject=subject_id,
        predicate=trig.text.lower() if trig else None,
        object=obj,
        direction=direction,
        negated=bool(neg),
        negation_cues=neg,
        hedged=bool(hedge),
        hedge_cues=hedge,
        role=cast(str, sent.role),  # decided with the sentence's context above
        entities=entities,
        section=verdict.section.lower() if verdict.section else None,
        study_system=sent.context[0],
        cancer_type=sent.context[1],
        confidence=round(min(confidence, 0.95), 2),
        extra={"reason": verdict.reason, "trigger": trig.text if trig else None, "inverted": flipped,
               "matches": [f"{h.text}->{h.entity or h.label}" for h in hits]},
    )
