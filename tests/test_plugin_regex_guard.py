"""The first-character guard on context and topic regexes never changes what they match."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evidex import get_extractors

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "Type I IFN signalling in melanoma; IFN-gamma was not induced.",
    "RENIN-angiotensin blockade and RAS inhibitors",
    "tYPE 1\tINTERFERON and hepatitis B (HBV) in CML patients",
    "Kelvin K, long ſ, dotted İ and dotless ı",
    "radiotherapy (2 Gy) after irradiation; UV light",
    "",
]


def _patterns() -> list[str]:
    out = []
    for path in sorted((ROOT / "plugins").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("//"):
                row = json.loads(line)
                out += [row[k] for k in ("context", "block_context") if row.get(k)]
    return out


@pytest.mark.parametrize("pattern", _patterns())
def test_guarded_context_regex_finds_the_same_matches(pattern: str) -> None:
    get_extractors()  # imports the built-in plugins
    from evidex_plugins.common import compile_context

    plain, guarded = re.compile(pattern), compile_context(pattern)
    for text in TEXTS + [t.swapcase() for t in TEXTS]:
        assert [m.span() for m in plain.finditer(text)] == [m.span() for m in guarded.finditer(text)]


def _gated() -> list[re.Pattern]:
    get_extractors()
    from evidex_plugins.common import _DESCRIPTOR_ANCHOR_RE, RELATION_NAME_RE, TARGET_KEYWORD_RE, TOPIC_RES, compile_context

    return [compile_context(p) for p in _patterns()] + list(TOPIC_RES.values()) + [
        TARGET_KEYWORD_RE, RELATION_NAME_RE, _DESCRIPTOR_ANCHOR_RE]


GATE_TEXTS = TEXTS + [
    "INTERFERON-β and ϐ-cells; ıfn; İnterferon; ſignalling; Σ σ ς",
    "treatment with PATIENTS and doses, ageing and aged mice, older; the pathway signals",
    "azacitidine after transplant; decitabine with DNMT; oncolytic virus; Tmem173, cGAMP, RIG-I",
    "peginterferon-interferon IFNAR ifnifn type 1 interferon; therapytreatment drugsdrugs agedaging dosesdose",
    "Phase I trial in MICE and human patients; in vitro cell lines, murine xenografts; ALL, all, NSCLC melanoma",
    "PD-1 inhibitors, STING agonists/agonism, antagonistic IL-1 antagonist; blockades and PD-L1 blockade",
]


def _fact_regexes() -> list[re.Pattern]:
    get_extractors()
    from evidex_plugins.common import _fact_regex

    return [_fact_regex("fact:system"), _fact_regex("fact:cancer")]


@pytest.mark.parametrize("rx", _gated() + _fact_regexes(), ids=lambda rx: rx.pattern[:40])
def test_literal_finder_finds_the_same_matches(rx: re.Pattern) -> None:
    from evidex_plugins.common import gated

    pattern = gated(rx)
    for text in GATE_TEXTS + [t.swapcase() for t in GATE_TEXTS] + [t.upper() for t in GATE_TEXTS]:
        expected = [m.span() for m in rx.finditer(text)]
        assert [m.span() for m in pattern.finditer(text, text.lower())] == expected
        found = pattern.search(text, text.lower())
        assert (found and found.span()) == (expected[0] if expected else None)
        assert pattern.matches(text, text.lower()) == bool(expected)


def test_literal_finder_hazards_cover_every_case_variant() -> None:
    "Any character re's IGNORECASE matches to a literal lower-cases to it, or makes the finder stand aside."
    import sys

    from evidex_plugins.common import gated

    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for rx in _gated() + _fact_regexes():
        pattern = gated(rx)
        if not pattern.folded:
            continue
        for ch in set("".join(pattern.literals)):
            for variant in re.findall(re.escape(ch), everything, re.IGNORECASE):
                assert variant.lower() == ch or variant in pattern.hazards, (rx.pattern, ch, variant)


def test_built_in_patterns_get_a_literal_finder() -> None:
    "Every built-in context and topic regex opens with literals, so every one is searched the fast way."
    from evidex_plugins.common import gated

    assert all(gated(rx).literals for rx in _gated())


def test_literal_finder_with_ascii_case_variants() -> None:
    "A literal whose case variants are ASCII (dotless ı matches I and i) is still found in ASCII text."
    from evidex_plugins.common import gated

    rx = re.compile("(?i)ınterferon|alpha")
    pattern = gated(rx)
    assert not pattern.ascii_safe
    for text in ["INTERFERON", "interferon", "ınterferon", "ALPHA beta", "none"]:
        assert pattern.matches(text, text.lower()) == bool(rx.search(text))
        assert [m.span() for m in pattern.finditer(text, text.lower())] == [m.span() for m in rx.finditer(text)]


AGE_TEXTS = [
    "Patients aged 45-70 years (median age 61) and 8-week-old mice; twenty-one-year-old twins.",
    "Aged[mh] Aged, 80 and over; age: 65; at 18 months of age; 5 yrs old",
    "after adjusting for the confounding variables sex, smoking status, body mass index and age",
    "aged",  # an anchor at the very end
    "Threshold of damage at stage II; a percentage of old mice",
    "x" * 400 + " aged 50 years " + "y" * 400 + " Six-week-old rats",
    # Case variants re folds (long s) and digits beyond ASCII: the window regex's lookahead must let them in.
    "ſixty-year-old men, ſtratified by age; aged ٦٥ years; \u0130 Elevens aged over 3; Controlled FOR AGE",
]


def test_age_descriptors_in_windows_match_the_regex_over_the_whole_text(eval_docs) -> None:
    "Running the descriptor regex only around 'age' and 'old' finds exactly what it finds over the text."
    get_extractors()
    from evidex_plugins.common import AGE_DESCRIPTOR_RE, age_descriptors

    texts = AGE_TEXTS + [t.upper() for t in AGE_TEXTS]
    for line in eval_docs.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts += [doc.get("title") or "", doc.get("abstract") or ""]
    assert sum(bool(AGE_DESCRIPTOR_RE.search(t)) for t in texts) > 15  # the real texts hold descriptors
    for text in texts:
        assert age_descriptors(text) == [m.span() for m in AGE_DESCRIPTOR_RE.finditer(text)]


RELATION_NAME_TEXTS = [
    "the CDK inhibitors p21 and p27 were induced; CDK inhibitor (p16) and cyclin-dependent kinase inhibitors 2A",
    "Signal transducer and activator of transcription 1 and granulocyte colony-stimulating factor rose",
    "INHIBITOR OF KAPPA B kinase, inhibitors of nuclear factor-κB, tissue inhibitor of metalloproteinases-1",
    "activator protein-1 and leukaemia inhibitory factor; BAX inhibitor-1; inducible nitric oxide synthase",
    "x" * 70 + " inhibitor of apoptosis " + "y" * 70 + " suppressor of cytokine signalling 3 activating",
    "ſignal transducer, İnducible nitric oxide synthase, ınhibitor of DNA binding",
]


def test_relation_names_in_windows_match_the_regex_with_pos_and_endpos(eval_docs) -> None:
    "inside_relation_name's literal finder over a window finds what RELATION_NAME_RE finds between pos and endpos."
    get_extractors()
    from evidex_plugins.common import NAME_CUE_WORDS, RELATION_NAME_RE, inside_relation_name

    def expected(text: str, start: int, end: int) -> bool:
        return any(m.start() <= start and end <= m.end()
                   for m in RELATION_NAME_RE.finditer(text, max(0, start - 64), min(len(text), end + 48)))

    texts = RELATION_NAME_TEXTS + [t.upper() for t in RELATION_NAME_TEXTS]
    for line in eval_docs.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts += [doc.get("title") or "", doc.get("abstract") or ""]
    words = re.compile("|".join(sorted(NAME_CUE_WORDS, key=len, reverse=True)), re.IGNORECASE)
    inside = tried = 0
    for text in texts:
        for m in words.finditer(text):
            got = inside_relation_name(text, m.start(), m.end())
            assert got == expected(text, m.start(), m.end()), (text, m.group())
            inside += got
            tried += 1
    assert inside > 10 and tried > inside  # both answers occur


def test_section_labels_are_those_of_a_field_with_four_capitals_in_a_row(eval_docs) -> None:
    "Asking LABEL_HINT_RE last gives the labels of asking it first: none for a field without four capitals in a row."
    get_extractors()
    from evidex_plugins.common import LABEL_HINT_RE, SECTION_AT_RE, _section_labels

    def expected(text: str, bounds: list[int]) -> list[str | None] | None:
        if not LABEL_HINT_RE.search(text):
            return None
        out: list[str | None] = []
        for b in bounds[:-1]:
            m = SECTION_AT_RE.match(text, b)
            out.append(m.group(1).strip() if m else (out[-1] if out else None))
        return out if any(out) else None

    texts = ["AIM: To test it. We found less.", "AIM: To test it. RESULTS: less.", "BACKGROUND The cells. AIMS to see."]
    for line in eval_docs.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts += [doc.get("title") or "", doc.get("abstract") or ""]
    labelled = 0
    for text in texts:
        # Every ". " as a sentence start is enough here: the two must agree at any offsets.
        bounds = [0] + [m.end() for m in re.finditer(r"[.?!]\s+", text)] + [len(text)]
        got = _section_labels(text, bounds)
        assert got == expected(text, bounds), text
        labelled += got is not None
    assert _section_labels(texts[0], [0, 17, len(texts[0])]) is None  # "AIM" alone: three capitals
    assert _section_labels(texts[1], [0, 17, len(texts[1])]) == ["AIM", "RESULTS"]
    assert labelled > 5


SENTENCE_RULES = ["FAILED_RE", "SUBJECT_BREAK_RE", "VERB_BREAK_RE", "LOSS_HOST_BEFORE_RE", "COMPARISON_RE", "EFFICACY_BEFORE_RE",
                  "CLAUSE_BREAK_RE", "TRAILING_CLAUSE_RE", "OLD_ANIMAL_FINDER"]


@pytest.mark.parametrize("name", SENTENCE_RULES)
def test_guarded_sentence_rules_find_what_the_plain_regex_finds(name: str, eval_docs) -> None:
    "The sentence rules behind compile_context's lookahead match as their plain regex, over whole texts and windows."
    get_extractors()
    from evidex_plugins import common

    rx = getattr(common, name)
    body = re.fullmatch(r"\(\?=\[[^\]]+\]\)\(\?:(.*)\)", rx.pattern, re.DOTALL)
    assert body is not None, "not guarded"
    plain = re.compile(body.group(1), rx.flags)
    texts = TEXTS + GATE_TEXTS + [
        "Apoptosis failed to increase, whereas IFN-β was more effective in reducing growth; in contrast, 18-month-old mice",
        "It was useful at  lowering it, which ... and FAILS TO ; CONVERSELY, ſuccessful in", "ſtudies in the 24 mo-old rats"]
    for line in eval_docs.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts += [doc.get("title") or "", doc.get("abstract") or ""]
    found = 0
    for text in texts + [t.upper() for t in texts[:40]]:
        assert [m.span() for m in rx.finditer(text)] == [m.span() for m in plain.finditer(text)]
        for end in [m.end() for m in re.finditer(r"\s", text)][:200]:
            got = rx.search(text, max(0, end - 48), end)
            assert (got and got.span()) == ((m := plain.search(text, max(0, end - 48), end)) and m.span())
            found += got is not None
    assert found > 0


def test_cancer_words_tried_at_word_starts_match_the_regex(eval_docs) -> None:
    "The cancer list tried only at word starts with a word's first letters finds what its regex's search finds."
    get_extractors()
    from evidex_plugins.common import WordStartPattern, _fact_pattern, _fact_regex

    rx, pattern = _fact_regex("fact:cancer"), _fact_pattern("fact:cancer")
    assert isinstance(pattern, WordStartPattern)
    texts = GATE_TEXTS + [
        "Interferon in ALL and all, HCC-derived cells; non-small-cell lung cancer", "Xmelanoma, melanomas and MELANOMA",
        "ﬁbrosarcoma and ſarcoma; Kaposi and \u212aaposi sarcoma (Kelvin sign)", "hepatocellular carcinoma_x, _melanoma"]
    for line in eval_docs.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        texts += [doc.get("title") or "", doc.get("abstract") or ""]
    found = 0
    for text in texts + [t.upper() for t in texts] + [t.swapcase() for t in texts]:
        expected, got = rx.search(text), pattern.search(text, text.lower())
        assert (got and (got.span(), got.group())) == (expected and (expected.span(), expected.group())), text
        found += got is not None
    assert found > 50
