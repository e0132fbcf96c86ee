"""The core sentence splitter: where it marks starts, the same through nlp.pipe as one doc at a time."""

from __future__ import annotations

import pytest

from evidex.nlp import make_nlp, split_sentences

LETTER_STOPS = "IFN-g. T cells rose in Fig. 2b. Urine protein fell to 2.8 g. Within days. J. Smith agreed."
CAPITAL_STOPS = "It activated NF-kB. Cells expressed E1A. Mice carried KRAS G12C. See Fig. 2B. The U.S. data agreed."
LONE_CAPITALS = "Treated for hepatitis C. Then cyclin E. Smith, J. Then A. J. Smith spoke. E. coli grew. Done."
TEXTS = [
    "",
    ".",
    "Done. ",
    "IFN-β rose. It fell! Did it? yes. p53 was lost. e.g. this. Smith et al. Found it. Fig. 2 shows.",
    "A single sentence without an end",
    ". Leading stop. (Brackets) open. “Quotes” too. 3 mice. α-cells. c-Myc rose.",
    "Ends with a stop.",
    "Two  spaces.  Then\nnew line. Done.",
    LETTER_STOPS,
    CAPITAL_STOPS,
    LONE_CAPITALS,
]


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def _starts(doc) -> list[bool | None]:
    return [t.is_sent_start for t in doc]


def test_pipe_batches_mark_the_same_starts_as_single_docs(nlp):
    "Every token's is_sent_start (True, False, None) agrees, across batch and doc edges."
    texts = TEXTS * 20  # more than one batch, empty docs among them
    piped = [_starts(doc) for doc in nlp.pipe(texts, batch_size=7)]
    single = [_starts(split_sentences(nlp.make_doc(text))) for text in texts]
    assert piped == single


def test_starts_after_end_marks_only(nlp):
    "A start needs . ! or ? then white space, a word that can open a sentence, and no abbreviation."
    doc = split_sentences(nlp.make_doc(TEXTS[3]))
    assert [s.text for s in doc.sents] == [
        "IFN-β rose.", "It fell!", "Did it? yes.", "p53 was lost. e.g. this.", "Smith et al. Found it.",
        "Fig. 2 shows."]
    assert all(t.is_sent_start is False for t in doc[1:] if t.i not in {s.start for s in doc.sents})


def test_a_lower_case_letter_before_a_stop_ends_the_sentence(nlp):
    "spaCy's English exceptions keep 'g.' whole; in abstracts the letter is a unit, a panel or a variant."
    doc = split_sentences(nlp.make_doc(LETTER_STOPS))
    assert [s.text for s in doc.sents] == [
        "IFN-g.", "T cells rose in Fig. 2b.", "Urine protein fell to 2.8 g.", "Within days.", "J. Smith agreed."]
    assert [t.text for t in nlp.make_doc("IFN-g.")] == ["IFN", "-", "g", "."]
    assert [t.text for t in nlp.make_doc("e.g. i.e.")] == ["e.g.", "i.e."]


def test_genotype_alleles_joined_by_a_semicolon_are_words(nlp):
    assert [t.text for t in nlp.make_doc("Mx1-Cre;Kras mice")] == ["Mx1", "-", "Cre", ";", "Kras", "mice"]


def test_a_capital_after_a_digit_or_small_letter_before_a_stop_ends_the_sentence(nlp):
    "'NF-kB.', 'E1A.', 'G12C.': spaCy splits a stop after two capitals only; the name and the end were lost."
    doc = split_sentences(nlp.make_doc(CAPITAL_STOPS))
    assert [s.text for s in doc.sents] == [
        "It activated NF-kB.", "Cells expressed E1A.", "Mice carried KRAS G12C.", "See Fig. 2B.", "The U.S. data agreed."]
    assert [t.text for t in nlp.make_doc("NF-kB.")] == ["NF", "-", "kB", "."]
    assert [t.text for t in nlp.make_doc("U.S. Ph.D.")] == ["U.S.", "Ph.D."]


def test_a_lone_capital_before_a_stop_ends_the_sentence_unless_it_is_an_initial(nlp):
    "'hepatitis C.' and 'cyclin E.' end sentences; 'Smith, J.', 'A. J. Smith' and 'E. coli' do not."
    doc = split_sentences(nlp.make_doc(LONE_CAPITALS))
    assert [s.text for s in doc.sents] == [
        "Treated for hepatitis C.", "Then cyclin E.", "Smith, J. Then A. J. Smith spoke.", "E. coli grew.", "Done."]
    assert [t.text for t in nlp.make_doc("The U.S. agency")] == ["The", "U.S.", "agency"]
